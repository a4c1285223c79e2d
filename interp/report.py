"""The HTML report: one self-contained file (plotly.js inlined once, no network) built from a store.

The report is assembled from a registry of sections (:data:`SECTIONS`), in the paper's order. A
section is a function ``(ReportContext) -> content | Absent``: content is an HTML string, a
``go.Figure``, a :class:`Table`, or a list of those; :class:`Absent` carries the reason the artefact
is missing, which the report shows in place of the section. Adding or replacing a section (the
same id replaces it; ``order`` places it: Table 1 = 10, Table 2 = 20, Tables 4/5 = 25, Table 6 = 30, Fig. 2 = 40,
Fig. 3 = 50, Fig. 4 = 60, Fig. 5 = 70, Fig. 8 = 80, Table 7 = 90, base vs IFT = 100)::

    from interp.figures import fmt_interval
    from interp.report import SECTIONS, Absent, Table

    @SECTIONS.register("table5", "Table 5: extra models", order=25)
    def _table5(ctx):                                  # ctx: ReportContext
        units = ctx.units(analysis="gap", dataset="mrpc", prompt="all")  # marks them as used
        if not units:
            return Absent("no pooled `gap` results on mrpc in the store")
        return Table(["model", "MRPC"], [[u.key.model, fmt_interval(u.payload["gap"])] for u in units])

Sections that raise are shown as failed (with the error) unless ``build_report(strict=True)``.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from interp.results import ResultStore
    >>> out = build_report(ResultStore(tempfile.mkdtemp()), Path(tempfile.mkdtemp()) / "r.html")
    >>> "Table 1" in out.read_text()
    True
"""

from __future__ import annotations

import datetime as _dt
import html
import logging
import math
import os
import tempfile
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np
import plotly
import plotly.graph_objects as go
import plotly.offline

from interp import figures
from interp.figures import fmt_interval, fmt_num, model_colors
from interp.provenance import stale_note
from interp.pipeline import skipped_reason
from interp.results import ResultStore, StoredUnit, package_versions

log = logging.getLogger(__name__)

BASE, IFT, UNKNOWN = "base", "IFT", "?"
#: Config / payload keys whose values are listed in the header ("which representation / lens").
OPTION_KEYS = ("representation", "normed", "lens", "restrict", "restrict_to_candidates", "multi_token", "scoring",
               "chat_template", "system_prompt", "top", "split", "embeddings", "last_token", "casing")
#: Sweep-wide settings listed in the header, as paths into a unit's config slice.
CONFIG_OPTIONS: tuple[tuple[str, ...], ...] = (("representation",), ("lens",), ("limits", "pararel_restrict_candidates"),
                                                ("limits", "pararel_casing"), ("limits", "pararel_fact_selection"),
                                                ("model", "is_chat"), ("dtype",))


# ------------------------------------------------------------------------------------- content


@dataclass(frozen=True)
class Absent:
    """Why a section's artefact is not in the report (e.g. "Table 7 needs >= 3 IFT models; 1 present")."""

    reason: str


@dataclass(frozen=True)
class Table:
    """An HTML table; cells are strings (already formatted, escaped on output) or numbers."""

    header: Sequence[str]
    rows: Sequence[Sequence[Any]]
    caption: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Html:
    """Trusted HTML (a plain ``str`` returned by a section is treated the same way)."""

    text: str


Content = Union[str, Html, Table, go.Figure, Absent, Sequence["Content"]]


def html_table(table: Table) -> str:
    """Render a :class:`Table` (cells escaped; numbers formatted with :func:`fmt_num`)."""
    esc = html.escape
    cap = f"<caption>{esc(table.caption)}</caption>" if table.caption else ""
    head = "".join(f"<th>{esc(str(h))}</th>" for h in table.header)
    body = []
    for row in table.rows:
        if len(row) != len(table.header):
            raise ValueError(f"table {table.caption or ''!r}: a row has {len(row)} cells, header {len(table.header)}")
        cells = "".join(f"<td>{esc(c if isinstance(c, str) else fmt_num(c))}</td>" for c in row)
        body.append(f"<tr>{cells}</tr>")
    note = f'<p class="note">{esc(table.note)}</p>' if table.note else ""
    return (f'<div class="table-wrap"><table>{cap}<thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>{note}</div>')


# -------------------------------------------------------------------------------------- context


@dataclass(frozen=True)
class ModelInfo:
    """A model present in the store: its label, spec, role (base / IFT / ?) and where it appears."""

    label: str
    spec: str
    role: str
    n_units: int
    analyses: tuple[str, ...]


def _role_value(v: Any) -> str | None:
    if isinstance(v, bool):
        return IFT if v else BASE
    if isinstance(v, str):
        s = v.strip().lower()
        if s in ("base", "pretrained", "pt"):
            return BASE
        if s in ("ift", "instruct", "instruction-tuned", "chat", "it", "sft"):
            return IFT
    return None


def model_role(meta: Mapping[str, Any]) -> str:
    """``"base"`` / ``"IFT"`` / ``"?"`` from a unit's meta: ``config["role"|"model_role"|"kind"|"ift"|
    "is_chat"]`` (also under ``config["model"]``), else the offline alias's ``is_chat``.

    Example:
        >>> model_role({"config": {"model": {"role": "ift"}}}), model_role({"model_spec": "gemma3-270m"})
        ('IFT', 'base')
    """
    cfg = meta.get("config") or {}
    for scope in (cfg, cfg.get("model") if isinstance(cfg.get("model"), Mapping) else {}):
        for k in ("role", "model_role", "kind", "ift", "is_ift", "is_chat"):
            r = _role_value(scope.get(k))
            if r:
                return r
    try:
        from interp.models import ALIASES

        alias = ALIASES.get(str(meta.get("model_spec")))
        if alias is not None:
            return IFT if alias.is_chat else BASE
    except ImportError:  # pragma: no cover
        pass
    return UNKNOWN


def skipped_notes(ctx: "ReportContext") -> list[str]:
    """One note per (model, analysis) skipped as not defined for the model, with the reason and
    how many units it covers."""
    groups: dict[tuple[str, str, str], int] = {}
    for u in ctx.skipped:
        k = (u.key.model, f"{u.key.dataset} {u.key.analysis}", skipped_reason(u.payload) or "")
        groups[k] = groups.get(k, 0) + 1
    return [f"Skipped for {m}: {what} ({n} unit{'s' if n != 1 else ''}): {why}"
            for (m, what, why), n in groups.items()]


class ReportContext:
    """What a section builder sees: the store, its units (loaded once), the models and their roles,
    a color per model, and the options of the build. Units a section reads are listed in the footer.

    ``roles`` overrides the role (base / IFT) of a model label.
    """

    def __init__(self, store: ResultStore, *, roles: Mapping[str, str] | None = None,
                 options: Mapping[str, Any] | None = None) -> None:
        self.store = store
        self.options = dict(options or {})
        units = list(store.iter_units())
        #: units stored as skipped (their analysis is not defined for the model, e.g. Fig. 2 for
        #: an encoder-decoder): listed in the header's notes, never given to a section
        self.skipped = [u for u in units if skipped_reason(u.payload)]
        self._units = [u for u in units if not skipped_reason(u.payload)]
        self.used: dict[str, StoredUnit] = {}
        self.section_used: dict[str, StoredUnit] = {}  # the units the section being built read
        #: the base-vs-IFT comparisons, computed once by :func:`paired_rows`
        self.paired: tuple[list[dict], list[str]] | None = None
        #: relpath -> why, of the units a sweep found stale and kept (``meta["stale"]``)
        self.stale: dict[str, str] = {u.key.relpath: u.meta["stale"] for u in self._units
                                      if isinstance(u.meta.get("stale"), str)}
        by_model: dict[str, list[StoredUnit]] = {}
        for u in self._units:
            by_model.setdefault(u.key.model, []).append(u)
        self.models: list[ModelInfo] = []
        for label, us in by_model.items():
            roles_seen = {model_role(u.meta) for u in us} - {UNKNOWN}
            role = (roles or {}).get(label) or (roles_seen.pop() if len(roles_seen) == 1 else UNKNOWN)
            self.models.append(ModelInfo(label, str(us[0].meta.get("model_spec", label)), role, len(us),
                                         tuple(sorted({u.key.analysis for u in us}))))
        # base models first, then IFT, as the paper's tables
        order = {BASE: 0, IFT: 1, UNKNOWN: 2}
        self.models.sort(key=lambda m: (order.get(m.role, 2), m.label))
        self.colors = model_colors([m.label for m in self.models])

    def role(self, model: str) -> str:
        return next((m.role for m in self.models if m.label == model), UNKNOWN)

    def models_with(self, role: str) -> list[str]:
        return [m.label for m in self.models if m.role == role]

    def all_units(self) -> list[StoredUnit]:
        return list(self._units)

    def units(self, *, model: str | Iterable[str] | None = None, dataset: str | Iterable[str] | None = None,
              analysis: str | Iterable[str] | None = None, prompt: int | str | Iterable[int | str] | None = None,
              extra: str | Iterable[str] | None = None, mark_used: bool = True) -> list[StoredUnit]:
        """Units matching every given filter (a value or several), in model order (base first)."""
        filters = {"model": model, "dataset": dataset, "analysis": analysis, "prompt": prompt, "extra": extra}
        wanted = {n: ({v} if isinstance(v, (str, int)) else set(v)) for n, v in filters.items() if v is not None}
        rank = {m.label: i for i, m in enumerate(self.models)}
        out = [u for u in self._units if all(getattr(u.key, n) in vals for n, vals in wanted.items())]
        out.sort(key=lambda u: (rank.get(u.key.model, len(rank)),) + u.key.sort_key())
        if mark_used:
            self.used.update((u.key.relpath, u) for u in out)
            self.section_used.update((u.key.relpath, u) for u in out)
        return out


# ------------------------------------------------------------------------------------- registry


SectionBuilder = Callable[[ReportContext], Content]


@dataclass(frozen=True)
class Section:
    """One report section: anchor ``id``, ``title``, ``build(ctx) -> content | Absent``, and its
    ``order`` (the paper's order: Table 1 = 10, Table 2 = 20, ...)."""

    id: str
    title: str
    build: SectionBuilder
    order: float = 1000.0


class SectionRegistry:
    """Sections by id, iterated in ``order``. ``register`` is a decorator; registering an existing
    id replaces it (so the paper's sections can replace the placeholders)."""

    def __init__(self, sections: Iterable[Section] = ()) -> None:
        self._sections: dict[str, Section] = {s.id: s for s in sections}

    def add(self, section: Section) -> Section:
        if not section.id or not section.id.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"section id must be alphanumeric (with - or _), got {section.id!r}")
        self._sections[section.id] = section
        return section

    def register(self, id: str, title: str, *, order: float = 1000.0) -> Callable[[SectionBuilder], SectionBuilder]:
        def deco(fn: SectionBuilder) -> SectionBuilder:
            self.add(Section(id, title, fn, order))
            return fn

        return deco

    def remove(self, id: str) -> None:
        self._sections.pop(id, None)

    def get(self, id: str) -> Section:
        return self._sections[id]

    def copy(self) -> "SectionRegistry":
        return SectionRegistry(self._sections.values())

    def __iter__(self) -> Iterator[Section]:
        return iter(sorted(self._sections.values(), key=lambda s: (s.order, s.id)))

    def __len__(self) -> int:
        return len(self._sections)

    def __contains__(self, id: object) -> bool:
        return id in self._sections


SECTIONS = SectionRegistry()


# ------------------------------------------------------------------------------------ rendering


_CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1200px;margin:0 auto;padding:1rem 2rem 3rem}
header.top{background:#1f3b57;color:#fff;padding:1.2rem 2rem}
header.top h1{margin:0 0 .3rem;font-size:1.6rem} header.top p{margin:.2rem 0;opacity:.9}
nav{font-size:.9rem;margin:.8rem 0} nav a{margin-right:.8rem}
section{background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:.8rem 1.2rem;margin:1.2rem 0}
section h2{font-size:1.25rem;margin:.3rem 0 .8rem}
.absent{color:#7a5b00;background:#fff8e1;border-left:4px solid #f0b400;padding:.5rem .8rem}
.failed{color:#8a1c1c;background:#fdecea;border-left:4px solid #d93025;padding:.5rem .8rem;white-space:pre-wrap}
.stale{color:#7a3e00;background:#fff0e0;border-left:4px solid #e8710a;padding:.5rem .8rem;margin:.5rem 0}
.notes{background:#eef5ff;border-left:4px solid #3b7dd8;padding:.5rem 1rem;margin:1rem 0}
.note{font-size:.85rem;color:#555}
.table-wrap{overflow-x:auto} table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.3rem .6rem;text-align:left;font-variant-numeric:tabular-nums}
th{background:#f0f3f7} caption{text-align:left;font-weight:600;padding:.3rem 0}
.role-base{color:#1f77b4;font-weight:600} .role-IFT{color:#d62728;font-weight:600}
footer{font-size:.8rem;color:#555;max-width:1200px;margin:0 auto;padding:0 2rem 2rem}
#report-errors{color:#8a1c1c;background:#fdecea;padding:.5rem 1rem;white-space:pre-wrap}
details summary{cursor:pointer}
"""

# Installed before plotly.js: records uncaught errors, console.error calls, failed resource loads
# and (at load) any network request in the DOM, so a headless browser's --dump-dom shows them,
# and so does a reader's screen.
_ERROR_SINK = """
(function () {
  var errors = [];
  window.__reportErrors = errors;
  window.__reportRecord = record;
  function record(msg) {
    errors.push(String(msg));
    var el = document.getElementById("report-errors");
    if (el) { el.hidden = false; el.textContent = "Page errors:\\n" + errors.join("\\n"); }
  }
  window.addEventListener("error", function (e) {  // capture phase: also failed image, script and stylesheet loads
    var t = e.target;
    if (t && t !== window && (t.src || t.href)) { record("Failed to load resource " + (t.src || t.href)); }
    else { record("Uncaught " + (e.message || e)); }
  }, true);
  window.addEventListener("unhandledrejection", function (e) { record("Unhandled rejection " + (e.reason || "")); });
  var orig = console.error;
  console.error = function () {
    record("console.error " + Array.prototype.map.call(arguments, String).join(" "));
    return orig.apply(console, arguments);
  };
})();
"""

# After all figures: writes how many figure divs exist and how many plotly rendered.
_STATUS = """
window.addEventListener("load", function () {
  setTimeout(function () {
    (performance.getEntriesByType ? performance.getEntriesByType("resource") : []).forEach(function (r) {
      if (/^(https?|wss?):/.test(r.name)) { window.__reportRecord("Network request " + r.name); }
    });
    var divs = document.querySelectorAll("div.plotly-graph-div");
    var ok = 0;
    divs.forEach(function (d) { if (d.querySelector(".plot-container svg.main-svg")) { ok += 1; } });
    var s = document.getElementById("report-status");
    s.setAttribute("data-figures", String(divs.length));
    s.setAttribute("data-rendered", String(ok));
    s.setAttribute("data-errors", String((window.__reportErrors || []).length));
    s.textContent = ok + " of " + divs.length + " figures rendered";
  }, 0);
});
"""


def _figure_html(fig: go.Figure, div_id: str) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                       config={"displaylogo": False, "responsive": True})


def _render(content: Content, sid: str, counter: list[int]) -> str:
    if content is None:
        return ""
    if isinstance(content, Absent):
        return f'<p class="absent">Absent: {html.escape(content.reason)}</p>'
    if isinstance(content, Html):
        return content.text
    if isinstance(content, str):
        return content
    if isinstance(content, Table):
        return html_table(content)
    if isinstance(content, go.Figure):
        counter[0] += 1
        return f'<div class="figure">{_figure_html(content, f"fig-{sid}-{counter[0]}")}</div>'
    if isinstance(content, Sequence):
        return "\n".join(_render(c, sid, counter) for c in content)
    raise TypeError(f"section {sid!r} returned {type(content).__name__}; expected HTML str, Table, "
                    "go.Figure, Absent or a list of them")


def _render_section(section: Section, ctx: ReportContext, strict: bool) -> tuple[str, str]:
    """(html, status) with status in {"ok", "absent", "failed"}."""
    ctx.section_used = {}
    try:
        content = section.build(ctx)
        body = _stale_badge(ctx, ctx.section_used) + _render(content, section.id, [0])
        status = "absent" if isinstance(content, Absent) else "ok"
    except Exception as exc:  # a broken section must not lose the rest of the report
        if strict:
            raise
        log.warning("report: section %s failed: %s", section.id, exc)
        tb = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        body, status = f'<pre class="failed">This section failed to build: {html.escape(tb)}</pre>', "failed"
    return (f'<section id="{html.escape(section.id)}" data-status="{status}">'
            f"<h2>{html.escape(section.title)}</h2>\n{body}\n</section>"), status


def _stale_badge(ctx: ReportContext, relpaths: Iterable[str]) -> str:
    """A visible note on the stale units among ``relpaths``: each distinct reason, with its units
    in a collapsible list ("" if none)."""
    by_reason: dict[str, list[str]] = {}
    for p in sorted(set(relpaths)):
        if p in ctx.stale:
            by_reason.setdefault(ctx.stale[p], []).append(p)
    if not by_reason:
        return ""
    n = sum(map(len, by_reason.values()))
    items = "".join(
        f"<li>{html.escape(stale_note(why))}: {len(ps)} unit(s) <details><summary>which</summary>"
        + "".join(f"<code>{html.escape(p)}</code><br>" for p in ps) + "</details></li>"
        for why, ps in by_reason.items())
    return (f'<div class="stale"><strong>stale</strong>: {n} result unit(s) used here were kept '
            "although the sweep's configuration changed since they were computed (--keep-stale)"
            f"<ul>{items}</ul></div>")


def _header(ctx: ReportContext, title: str, notes: Sequence[str]) -> str:
    esc = html.escape
    rows = [[m.label, m.spec, m.role, str(m.n_units), ", ".join(m.analyses)] for m in ctx.models]
    models = html_table(Table(["model", "spec", "role", "units", "analyses"], rows)) if rows \
        else "<p>No valid results in the store.</p>"
    auto_notes = list(notes)
    if ctx.models:
        auto_notes.append(figures.LAYER_NUMBERING_NOTE)
    for u in ctx.all_units():  # the sweep config's own notes (e.g. "not a matched base/IFT pair")
        cfg_notes = (u.meta.get("config") or {}).get("notes")
        for n in ([cfg_notes] if isinstance(cfg_notes, str) else cfg_notes or []):
            if isinstance(n, str) and n not in auto_notes:
                auto_notes.append(n)
    auto_notes += skipped_notes(ctx)
    if ctx.models and not ctx.models_with(BASE):
        auto_notes.append("No base model present: base-vs-IFT comparisons are absent.")
    if ctx.models and not ctx.models_with(IFT):
        auto_notes.append("No IFT model present: base-vs-IFT comparisons are absent.")
    unknown = [m.label for m in ctx.models if m.role == UNKNOWN]
    if unknown:
        auto_notes.append(f"Role (base / IFT) unknown for: {', '.join(unknown)} "
                          "(set the model's kind in the sweep config, or pass roles= to build_report).")
    notes_html = ("<div class=\"notes\"><strong>Notes</strong><ul>"
                  + "".join(f"<li>{esc(n)}</li>" for n in auto_notes) + "</ul></div>") if auto_notes else ""
    opts = _options(ctx)
    opts_html = ("<details open><summary>Representation / lens / scoring options used</summary>"
                 + html_table(Table(["option", "value", "recorded by"], opts)) + "</details>") if opts else ""
    return (f'<header class="top"><h1>{esc(title)}</h1>'
            f"<p>Fierro, Li &amp; Søgaard (2024), “Does Instruction Tuning Make LLMs More Consistent?” — "
            f"reproduced with interp. Built {esc(_dt.datetime.now().strftime('%Y-%m-%d %H:%M'))} "
            f"from {esc(str(ctx.store.root))}.</p></header><main>"
            '<pre id="report-errors" hidden></pre>'
            f"<h2>Models</h2>{models}{notes_html}{_stale_badge(ctx, ctx.stale)}{opts_html}")


def _options(ctx: ReportContext) -> list[list[str]]:
    """(option, value, where): the representation / lens / scoring options each analysis records in
    its payload (top level, or its first per-prompt result), and the sweep-wide settings of the
    units' config slices (:data:`CONFIG_OPTIONS`)."""
    seen: dict[tuple[str, str], list[str]] = {}

    def add(k: str, v: Any, where: str) -> None:
        if v is None or isinstance(v, (str, int, float, bool)):
            users = seen.setdefault((k, str(v)), [])
            if where not in users:
                users.append(where)

    for u in ctx.all_units():
        nested = [u.payload.get(f)[0] for f in ("prompts", "per_prompt")
                  if isinstance(u.payload.get(f), list) and u.payload.get(f) and isinstance(u.payload[f][0], Mapping)]
        for k in OPTION_KEYS:
            src = next((d for d in [u.payload, *nested] if k in d), None)
            if src is not None:
                add(k, src[k], u.key.analysis)
        cfg = u.meta.get("config") or {}
        for path in CONFIG_OPTIONS:
            node: Any = cfg
            for part in path:
                node = node.get(part) if isinstance(node, Mapping) else None
            if node is not None:
                add(".".join(path), node, "sweep config")
    return [[k, v, ", ".join(sorted(a))] for (k, v), a in sorted(seen.items())]


def _footer(ctx: ReportContext) -> str:
    esc = html.escape
    mine = dict(package_versions())
    mine["plotly"] = plotly.__version__
    version_sets = []
    for u in ctx.all_units():
        v = u.meta.get("versions")
        if v and v not in version_sets:
            version_sets.append(v)
    pkgs = sorted({k for v in version_sets for k in v} | set(mine))
    vrows = [[p] + [str(v.get(p)) for v in version_sets] + [str(mine.get(p))] for p in pkgs]
    vhead = ["package"] + [f"results ({i + 1})" for i in range(len(version_sets))] + ["report"]
    used = sorted(ctx.used.values(), key=lambda u: u.key.relpath)
    urows = [[u.key.relpath, str(u.meta.get("model_spec")), str(u.meta.get("seed")),
              str(u.meta.get("created_at")), str(u.meta.get("hostname"))] for u in used]
    unused = [u.key.relpath for u in ctx.all_units() if u.key.relpath not in ctx.used]
    invalid = ctx.store.invalid()
    parts = ["<footer><h2>Provenance</h2>",
             html_table(Table(vhead, vrows, caption="Package versions")),
             html_table(Table(["result file", "model spec", "seed", "created", "host"], urows,
                              caption=f"Result files used ({len(used)}), relative to {ctx.store.root}"))]
    if unused:
        parts.append("<details><summary>Valid result files not shown by any section "
                     f"({len(unused)})</summary><ul>" + "".join(f"<li>{esc(p)}</li>" for p in unused)
                     + "</ul></details>")
    if invalid:
        parts.append(html_table(Table(["file", "reason"], [list(x) for x in invalid],
                                      caption=f"Invalid result files ignored ({len(invalid)}): rerun the sweep")))
    parts.append("</footer>")
    return "\n".join(parts)


def check_results_dir(root: Path, *, must_exist: bool = True) -> None:
    """Raise ``ValueError`` naming ``root`` unless it is a readable directory (or, without
    ``must_exist``, absent: an empty store)."""
    if not root.is_dir():
        if root.exists() or must_exist:
            why = "not a directory" if root.exists() else "no such directory"
            raise ValueError(f"{str(root)!r} is not a directory of results ({why})")
        return
    if not os.access(root, os.R_OK | os.X_OK):
        raise ValueError(f"cannot read the results directory {str(root)!r} (permission denied)")


def check_writable(out: Path) -> None:
    """Raise ``OSError`` naming ``out`` unless a file can be written there: its directory is
    created if missing and a probe file is created and removed in it (what ``os.replace`` needs)."""
    if out.is_dir():
        raise OSError(f"cannot write the report to {str(out)!r}: it is a directory")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OSError(f"cannot write the report to {str(out)!r}: {exc.strerror or exc}") from exc


def build_report(
    results: str | os.PathLike | ResultStore,
    out_path: str | os.PathLike,
    *,
    title: str = "Does instruction tuning make LLMs more consistent?",
    notes: Sequence[str] = (),
    sections: SectionRegistry | Iterable[Section] | None = None,
    roles: Mapping[str, str] | None = None,
    strict: bool = False,
    require_units: bool = False,
) -> Path:
    """Write the report for the units in ``results`` to ``out_path`` (one self-contained HTML file).

    Args:
        results: a results directory or a :class:`ResultStore`.
        notes: lines for the notes box (e.g. "the two demo models are not a matched base/IFT pair").
        sections: the sections to render (default :data:`SECTIONS`, in the paper's order).
        roles: override the base / IFT role of model labels.
        strict: re-raise a section's exception instead of showing it as failed.
        require_units: refuse (``ValueError``) a results directory that is missing, unreadable or
            holds no valid unit, instead of writing a page of absent sections (``interp report``).

    Returns: the path written.

    Raises:
        OSError: ``out_path`` cannot be written (checked before anything is rendered).
        ValueError: ``results`` is not a directory (missing is an empty store unless
            ``require_units``) or cannot be read; with ``require_units``, no valid unit.
    """
    store = results if isinstance(results, ResultStore) else ResultStore(results)
    check_results_dir(store.root, must_exist=require_units)
    out = Path(out_path)
    check_writable(out)
    ctx = ReportContext(store, roles=roles)
    if require_units and not ctx.all_units():
        invalid = store.invalid()
        why = (f"{len(invalid)} unit file(s) are invalid, e.g. {invalid[0][0]}: {invalid[0][1]}" if invalid
               else "it holds no unit files")
        raise ValueError(f"no results to report in {str(store.root)!r}: {why} (run a sweep into it first)")
    secs = list(sections if sections is not None else SECTIONS)
    rendered, toc = [], []
    for s in secs:
        body, status = _render_section(s, ctx, strict)
        rendered.append(body)
        mark = {"ok": "", "absent": " (absent)", "failed": " (failed)"}[status]
        toc.append(f'<a href="#{html.escape(s.id)}">{html.escape(s.title.split(":")[0])}{mark}</a>')
    doc = "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style>",
        f"<script>{_ERROR_SINK}</script>",
        f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>',
        "</head><body>",
        _header(ctx, title, notes),
        f"<nav>{' '.join(toc)}</nav>",
        *rendered,
        '<p class="note" id="report-status"></p>',
        "</main>",
        _footer(ctx),
        f"<script>{_STATUS}</script>",
        "</body></html>",
    ])
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_text(doc, encoding="utf-8")
        os.replace(tmp, out)
    except OSError as exc:
        raise OSError(f"cannot write the report to {str(out)!r}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return out


# ------------------------------------------------------------------------ the paper's sections
#
# Store conventions (interp.config.ANALYSES): Table 1 = analysis "gap" on mrpc / tapaco / pararel;
# Fig. 2 "attributes", Fig. 3 "relations", Fig. 4/6/7 "layer_gap", Fig. 5/8 + Table 7 "extraction"
# on pararel; Table 2 "consistency" (pararel, becel: extra = task) and "spread" (mmlu). Payloads are
# the analyses' ``to_dict()``; prompt "all" is the pooled result (pooled here when absent).


def lens_name(normed: Any) -> str:
    """How a lens figure projected its vectors (from the payload's ``normed`` flag)."""
    return ("final norm, then unembedding (E·norm(h))" if normed
            else "unembedding only (E h, the paper's; no final norm)")


def unit_label(u: StoredUnit) -> str:
    """The legend label of a unit: its model, plus its variant (``extra``) if any."""
    return u.key.model + (f" [{u.key.extra}]" if u.key.extra else "")


Pool = Callable[[list[dict]], dict]


def with_pooled(units: Sequence[StoredUnit], pool: Pool | None = None) -> list[tuple[str, str, dict]]:
    """(label, prompt label, payload) per unit, plus, for each label with several prompts and no
    stored ``prompt="all"`` unit, ``pool(payloads)`` as its ``"mean"`` entry when ``pool`` is given."""
    out: list[tuple[str, str, dict]] = []
    groups: dict[str, list[StoredUnit]] = {}
    for u in units:
        groups.setdefault(unit_label(u), []).append(u)
    for label, us in groups.items():
        out.extend((label, figures.prompt_label(u.key.prompt), u.payload) for u in us)
        per_prompt = [u.payload for u in us if u.key.prompt != "all"]
        if pool is not None and len(per_prompt) > 1 and all(u.key.prompt != "all" for u in us):
            out.append((label, figures.MEAN, pool(per_prompt)))
    return out


def mean_entries(entries: Sequence[tuple[str, str, dict]]) -> dict[str, dict]:
    """label -> the pooled ("mean") payload, or the only prompt's payload when a label has one."""
    out: dict[str, dict] = {}
    for label, p, d in entries:
        if p == figures.MEAN or label not in out:
            out[label] = d
    return out


def _pool_attributes(payloads: list[dict]) -> dict:
    from interp.analyses.attributes import AttributeRates

    return AttributeRates.pool([AttributeRates.from_dict(p) for p in payloads]).to_dict()


def _pool_extraction(payloads: list[dict]) -> dict:
    from interp.analyses.extraction import ExtractionRates

    return ExtractionRates.pool([ExtractionRates.from_dict(p) for p in payloads]).to_dict()


def _pool_gap(payloads: list[dict]) -> dict:
    from interp.analyses.paraphrase_gap import GapResult, combine_prompts

    return combine_prompts([GapResult.from_dict(p) for p in payloads]).to_dict()


def _pool_layer_gap(payloads: list[dict]) -> dict:
    from interp.analyses.paraphrase_gap import SplitLayerGaps, combine_prompts

    return combine_prompts([SplitLayerGaps.from_dict(p) for p in payloads]).to_dict()


def _needs(ctx: ReportContext, analysis: str, what: str, dataset: str | Sequence[str] | None = None) -> Absent | None:
    if not ctx.units(analysis=analysis, dataset=dataset, mark_used=False):
        ds = f" on {dataset if isinstance(dataset, str) else ' / '.join(dataset)}" if dataset else ""
        return Absent(f"{what} needs `{analysis}` results{ds}; none in the store (run the sweep with it)")
    return None




def _role_of(ctx: ReportContext, label: str) -> str:
    return ctx.role(label.split(" [")[0])


def model_families(ctx: ReportContext) -> list[list[str]]:
    """The store's models grouped as the paper's tables group them: each base model with its IFT
    models (:func:`base_of`). The first group is the main family (the most models, then the first
    base by label; models of unknown role or base join it): Tables 1 and 2 show it. Each other
    family (T5-XL / FlanT5-XL, Falcon-7b / Falcon-7b-instruct) is a block of Tables 4 and 5.

    Example:
        >>> model_families(ctx)  # doctest: +SKIP
        [['llama-7b', 'baize-7b', ...], ['t5-xl', 'flan-t5-xl'], ['falcon-7b', 'falcon-7b-instruct']]
    """
    bases = ctx.models_with(BASE)
    fam: dict[str, list[str]] = {b: [b] for b in bases}
    loose: list[str] = []
    for m in ctx.models:
        if m.role == BASE:
            continue
        b = base_of(ctx, m.label) if m.role == IFT else None
        (fam[b] if b in fam else loose).append(m.label)
    if not fam:
        return [loose] if loose else []
    main = max(bases, key=lambda b: (len(fam[b]), -bases.index(b)))
    return [fam[main] + loose] + [fam[b] for b in bases if b != main]


def _main_family(ctx: ReportContext) -> list[str] | None:
    """The models of Tables 1 and 2: every model (``None``) unless the store has several
    families, then the main one (:func:`model_families`)."""
    fams = model_families(ctx)
    return fams[0] if len(fams) > 1 else None


def _other_families_note(ctx: ReportContext) -> str:
    others = model_families(ctx)[1:]
    if not others:
        return ""
    return (" Other model families (" + "; ".join(" / ".join(f) for f in others)
            + ") are in Tables 4 and 5.")


@SECTIONS.register("table1", "Table 1: cos(paraphrases) − cos(non-paraphrases), outermost representation", order=10)
def _table1(ctx: ReportContext) -> Content:
    return _table1_for(ctx, _main_family(ctx), "Table 1", _other_families_note(ctx))


def _table1_for(ctx: ReportContext, models: Sequence[str] | None, what: str = "Table 1",
                 extra_note: str = "") -> Content:
    """Table 1 (or a Table 4 block) for ``models`` (``None``: every model)."""
    datasets = ("mrpc", "tapaco", "pararel")
    missing = _needs(ctx, "gap", what, datasets)
    if missing:
        return missing
    if models is not None and not ctx.units(analysis="gap", dataset=datasets, model=models, mark_used=False):
        return Absent(f"{what} needs `gap` results of {', '.join(models)}; none in the store")
    per_model: dict[str, dict[str, dict]] = {}
    per_prompt: dict[str, dict[str, dict]] = {}
    reps: set[str] = set()
    for ds in datasets:
        entries = with_pooled(ctx.units(analysis="gap", dataset=ds, model=models), _pool_gap)
        for label, d in mean_entries(entries).items():
            per_model.setdefault(label, {})[ds] = d
            reps.add(str(d.get("representation")))
        for label, p, d in entries:
            per_prompt.setdefault(label, {}).setdefault(ds, {})[p] = d
    header, rows = figures.table1_rows(per_model)
    header.insert(1, "role")
    for row in rows:
        row.insert(1, _role_of(ctx, row[0]))
    names = {"post_norm": "after the final norm (HF's last hidden state)", "pre_norm": "before the final norm",
             "encoder_mean": "the encoder's final-normed output, mean-pooled (encoder-decoder option)"}
    rep = "; ".join(names.get(r, r) for r in sorted(reps))
    table = Table(header, rows, note=f"Mean over prompts, 95% bootstrap interval. Representation: the last token's "
                                     f"outermost representation {rep} (an encoder-decoder's last token: the decoder's "
                                     f"first position).{extra_note}")
    return [table, figures.table1(per_prompt, colors=ctx.colors)]


@SECTIONS.register("fig2", "Figure 2: subject-attribute rate per layer", order=40)
def _fig2(ctx: ReportContext) -> Content:
    missing = _needs(ctx, "attributes", "Figure 2", "pararel")
    if missing:
        return missing
    entries = with_pooled(ctx.units(analysis="attributes", dataset="pararel"), _pool_attributes)
    fig = figures.fig2_attribute_rate([d for _, _, d in entries], models=[lb for lb, _, _ in entries],
                                      prompts=[p for _, p, _ in entries], colors=ctx.colors)
    rows = []
    embeddings = any(figures.EMBEDDINGS_INDEX in d["layers"] for _, _, d in entries)
    for label, p, d in entries:
        est = [figures.interval_parts(iv)[0] for iv in d["rate"]]
        finite = [(e, j) for j, e in enumerate(est) if math.isfinite(e)]
        j = max(finite)[1] if finite else 0
        rows.append([label, _role_of(ctx, label), p, str(d["layers"][j]) if finite else "n/a",
                     fmt_interval(d["rate"][j]) if finite else "n/a", str(len(d.get("items", []))),
                     str(len(d.get("excluded_subjects", []))),
                     lens_name(d.get("normed"))])
    table = Table(["model", "role", "prompt", f"peak layer: {figures.layer_label(embeddings=embeddings)}",
                   "rate at peak [95% CI]", "items (relation, subject)",
                   "subjects without snippets (excluded)", "lens"], rows)
    return [fig, table]


@SECTIONS.register("fig3", "Figure 3: cosine of same-relation vs different-relation queries per layer", order=50)
def _fig3(ctx: ReportContext) -> Content:
    missing = _needs(ctx, "relations", "Figure 3", "pararel")
    if missing:
        return missing
    entries = with_pooled(ctx.units(analysis="relations", dataset="pararel"))
    fig = figures.fig3_relations([d for _, _, d in entries], models=[lb for lb, _, _ in entries],
                                 prompts=[p for _, p, _ in entries], colors=ctx.colors)
    rows = [[label, _role_of(ctx, label), p,
             "–".join(str(figures.block_index(i, embeddings=bool(d.get("embeddings")))) for i in d["relation_layers"])
             if d.get("relation_layers") else "none",
             str(len(d.get("relations", []))), ", ".join(d.get("excluded", [])) or "–"]
            for label, p, d in entries]
    embeddings = any(d.get("embeddings") for _, _, d in entries)
    table = Table(["model", "role", "prompt", "relation layers (same − different grows fastest): "
                   + figures.layer_label(embeddings=embeddings), "relations used", "relations excluded"], rows)
    return [fig, table]


@SECTIONS.register("fig4", "Figures 4, 6, 7: paraphrase gap per layer (consistent / inconsistent predictions, "
                           "per prompt)", order=60)
def _fig4(ctx: ReportContext) -> Content:
    missing = _needs(ctx, "layer_gap", "Figures 4, 6, 7", "pararel")
    if missing:
        return missing
    entries = with_pooled(ctx.units(analysis="layer_gap", dataset="pararel"), _pool_layer_gap)
    kw = dict(models=[lb for lb, _, _ in entries], prompts=[p for _, p, _ in entries], colors=ctx.colors)
    data = [d for _, _, d in entries]
    return [Html('<p class="note">Figure 4: consistent predictions, mean over prompts; Figure 6: the same per '
                 "prompt (dropdown); Figure 7: inconsistent predictions.</p>"),
            figures.fig4_paraphrase_gap_by_layer(data, split="consistent", **kw),
            figures.fig4_paraphrase_gap_by_layer(data, split="inconsistent", **kw)]


def _extraction_section(ctx: ReportContext, block: str, what: str) -> Content:
    missing = _needs(ctx, "extraction", what, "pararel")
    if missing:
        return missing
    entries = with_pooled(ctx.units(analysis="extraction", dataset="pararel"), _pool_extraction)
    labels = list(dict.fromkeys(lb for lb, _, _ in entries))
    classes, coloring = extraction_classes(ctx, labels)
    kw = dict(models=[lb for lb, _, _ in entries], prompts=[p for _, p, _ in entries], colors=ctx.colors,
              classes=classes)
    fig = (figures.fig5_mhsa_extraction if block == "mhsa" else figures.fig8_mlp_extraction)(
        [d for _, _, d in entries], **kw)
    rows = []
    for label, p, d in entries:
        ev = d["splits"]["all"][block]
        counts = ev["counts"]
        j = max(range(len(counts)), key=lambda i: counts[i]) if counts else 0
        rows.append([label, _role_of(ctx, label), p, str(ev["n"]), str(sum(c > 0 for c in counts)) + f" of {len(counts)}",
                     str(j), f"{fmt_num(ev['rates'][j])} ({counts[j]} events)" if counts else "n/a",
                     lens_name(d.get("normed"))])
    from interp.analyses.extraction import WILSON

    methods = sorted({str(d.get("interval", WILSON)) for _, _, d in entries})
    table = Table(["model", "role", "prompt", "queries", "layers with any event",
                   f"peak layer: {figures.layer_label()}", "peak rate", "lens"], rows,
                  note=f"Rates with 95% intervals (hover): {'; '.join(methods)}. Small models give sparse curves.")
    return [Html(f'<p class="note">{html.escape(coloring)}</p>'), fig, table]


def extraction_classes(ctx: ReportContext, labels: Sequence[str]) -> tuple[dict[str, str] | None, str]:
    """Fig. 5 / 8's coloring as the paper (:func:`figures.consistency_classes`) for the figure's
    model ``labels``: each IFT model's PARAREL consistency against its base's (:func:`base_of`), and
    the note saying what the colors mean; ``(None, why not)`` unless >= 2 IFT models and their base
    have PARAREL consistency results."""
    cons = {label: pararel_consistency(d) for label, d in mean_entries(
        with_pooled(ctx.units(analysis="consistency", dataset="pararel"), _pool_pararel)).items()}
    classes: dict[str, str] = {}
    for label in labels:
        base = base_of(ctx, label.split(" [")[0]) if _role_of(ctx, label) == IFT else None
        if base is not None and all(math.isfinite(cons.get(m, math.nan)) for m in (base, label)):
            classes.update(figures.consistency_classes({base: cons[base], label: cons[label]}, base))
    n_ift = sum(c != "base" for c in classes.values())
    if n_ift < 2:
        return None, ("Colored by model: the paper's coloring (IFT models by PARAREL consistency vs their base) "
                      f"needs ≥ 2 IFT models and a base with PARAREL consistency results; {n_ift} IFT model(s) "
                      "have both.")
    return classes, figures.consistency_classes_note()


@SECTIONS.register("fig5", "Figure 5: MHSA extraction rate per layer", order=70)
def _fig5(ctx: ReportContext) -> Content:
    return _extraction_section(ctx, "mhsa", "Figure 5")


@SECTIONS.register("fig8", "Figure 8: MLP extraction rate per layer", order=80)
def _fig8(ctx: ReportContext) -> Content:
    return _extraction_section(ctx, "mlp", "Figure 8")


def _pool_pararel(payloads: list[dict]) -> dict:
    from interp.analyses.consistency import ParaRelConsistency, combine_prompts

    return combine_prompts([ParaRelConsistency.from_dict(p) for p in payloads]).to_dict()


def _becel_tasks(ctx: ReportContext) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for u in ctx.units(analysis="consistency", dataset="becel"):
        out.setdefault(u.key.model, []).append(u.payload)
    return out


@SECTIONS.register("table2", "Table 2: consistency and spread (MMLU, PARAREL, BECEL), with 95% intervals", order=20)
def _table2(ctx: ReportContext) -> Content:
    return _table2_for(ctx, _main_family(ctx), "Table 2", _other_families_note(ctx))


def _table2_for(ctx: ReportContext, models: Sequence[str] | None, what: str = "Table 2",
                extra_note: str = "") -> Content:
    """Table 2 (or a Table 5 block) for ``models`` (``None``: every model)."""
    have = [ctx.units(analysis="spread", dataset="mmlu", model=models, mark_used=False),
            ctx.units(analysis="consistency", dataset=("pararel", "becel"), model=models, mark_used=False)]
    if not any(have):
        return Absent(f"{what} needs `spread` results on mmlu or `consistency` results on pararel / becel; "
                      "none in the store (run the sweep with them)")
    mmlu_units = ctx.units(analysis="spread", dataset="mmlu", model=models)
    mmlu: dict[str, dict] = {}
    notes = []
    for label in dict.fromkeys(unit_label(u) for u in mmlu_units):
        us = [u for u in mmlu_units if unit_label(u) == label]
        pooled = [u for u in us if u.key.prompt == "all"]
        if pooled or len(us) == 1:
            mmlu[label] = (pooled or us)[0].payload
        else:
            notes.append(f"{label}: MMLU has only per-prompt units (no pooled unit with the 3 instructions)")
    pararel = mean_entries(with_pooled(ctx.units(analysis="consistency", dataset="pararel", model=models),
                                       _pool_pararel))
    becel = {k: v for k, v in _becel_tasks(ctx).items() if models is None or k in models}
    results = {m.label: {"mmlu": mmlu.get(m.label), "pararel": pararel.get(m.label), "becel": becel.get(m.label)}
               for m in ctx.models if m.label in mmlu or m.label in pararel or m.label in becel}
    header, rows = figures.table2_rows(results)
    header.insert(1, "role")
    for row in rows:
        row.insert(1, ctx.role(row[0]))
    note = ("Percent, 95% bootstrap intervals. MMLU: mean over 3 instructions × 3 answer orderings; spread (the "
            "paper's, App. C.1) = max − min over instructions of the accuracy averaged over orderings. A max − min of "
            "noisy accuracies exceeds zero even when the instruction does not matter: “no-effect” is the spread "
            "expected with the instructions shuffled within each question, p the one-sided permutation p-value of "
            "the observed spread against it. Other readings: the mean over orderings of each ordering's spread over "
            "instructions, and max − min over all 9 setups. PARAREL: mean over prompts ± sd over prompts "
            "(footnote 4). BECEL: mean over tasks (Table 6 has the intervals). “(chance)”: 25% lies inside the "
            "accuracy interval — then the spread over orderings measures letter bias, see the letter distribution.")
    methods = {label: sorted({figures.BECEL_METHODS[t.get("method", "probe")] for t in ts})
               for label, ts in becel.items()}
    if methods:
        note += (" BECEL classifier: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in methods.items())
                 + " (probe = logistic regression on frozen last-token features; the paper fine-tunes).")
    if notes:
        note += " " + "; ".join(notes) + "."
    note += extra_note
    out: list[Content] = [Table(header, rows, note=note), figures.table2(results, colors=ctx.colors)]
    if mmlu:
        lh, lr = figures.mmlu_letters_rows(mmlu)
        out.append(Html("<details><summary>MMLU: accuracy and predicted-letter distribution per setup</summary>"
                        + html_table(Table(lh, lr)) + "</details>"))
    return out


@SECTIONS.register("table45", "Tables 4 and 5: the other model families (e.g. T5-XL / FlanT5-XL, Falcon-7b / "
                             "Falcon-7b-instruct)", order=25)
def _table45(ctx: ReportContext) -> Content:
    """Tables 1 and 2's content for each model family but the main one (:func:`model_families`),
    one block per family, as the paper's Tables 4 and 5 (App. B.3, C.3)."""
    others = model_families(ctx)[1:]
    if not others:
        return Absent("one model family in the store (a base model and its IFT models): Tables 1 and 2 show it; "
                      "Tables 4 and 5 show further families (another base model with its IFT models)")
    out: list[Content] = []
    for fam in others:
        out.append(Html(f"<h3>{html.escape(fam[0])} and its IFT models ({html.escape(', '.join(fam[1:]) or 'none')})"
                        "</h3>"))
        out.append(Html("<h4>Table 4: cos(paraphrases) − cos(non-paraphrases)</h4>"))
        out.append(_table1_for(ctx, fam, "Table 4"))
        out.append(Html("<h4>Table 5: consistency and spread</h4>"))
        out.append(_table2_for(ctx, fam, "Table 5"))
    return out


@SECTIONS.register("table6", "Table 6: BECEL symmetric / semantic / negation consistency per task", order=30)
def _table6(ctx: ReportContext) -> Content:
    missing = _needs(ctx, "consistency", "Table 6", "becel")
    if missing:
        return missing
    tasks = _becel_tasks(ctx)
    ordered = {m.label: tasks[m.label] for m in ctx.models if m.label in tasks}
    header, rows = figures.table6_rows(ordered)
    return [Table(header, rows, note="95% bootstrap intervals over pairs / test examples. Neg (flip rate, paper) = "
                                     "the fraction of negated pairs whose prediction changed: the paper's Table 6 "
                                     "column, whose task mean is Table 2's. Neg (label-aware) = the prediction "
                                     "changed exactly when the gold label changed (equal to the flip rate on "
                                     "SNLI/RTE/MRPC, where every negated pair changes label; 1 - flip rate on WiC, "
                                     "where none does). Train (excluded): the classifier's training examples and the "
                                     "training rows removed because they are evaluation rows (a test example or "
                                     "either side of an evaluated pair, in either order): no evaluation row is "
                                     "trained on. RTE/MRPC/WiC's symmetric pairs are swapped training rows, so at "
                                     "most [limits] becel_symmetric_max_share of the training split is held out "
                                     "for them."),
            figures.table6(ordered, colors=ctx.colors)]


def pararel_consistency(payload: Mapping[str, Any]) -> float:
    """The PARAREL consistency estimate of a ``consistency`` payload (NaN if not found)."""
    for key in ("consistency", "pararel_consistency"):
        if key in payload:
            return figures.interval_parts(payload[key])[0]
    return math.nan


@SECTIONS.register("table7", "Table 7: Pearson r of extraction rate vs PARAREL consistency across IFT models",
                   order=90)
def _table7(ctx: ReportContext) -> Content:
    ift = ctx.models_with(IFT)
    if len(ift) < 3:
        return Absent(f"Table 7 needs >= 3 IFT models (a correlation across models); {len(ift)} present")
    rates = mean_entries(with_pooled(ctx.units(analysis="extraction", dataset="pararel", model=ift), _pool_extraction))
    cons = {label: pararel_consistency(d) for label, d in mean_entries(
        with_pooled(ctx.units(analysis="consistency", dataset="pararel", model=ift))).items()}
    have = [m for m in ift if m in rates and m in cons]
    if len(have) < 3:
        return Absent(f"Table 7 needs extraction and PARAREL consistency results for >= 3 IFT models; "
                      f"{len(have)} have both ({', '.join(have) or 'none'})")
    from interp.analyses.extraction import ExtractionRates, extraction_consistency_correlation

    table = extraction_consistency_correlation({m: ExtractionRates.from_dict(rates[m]) for m in have},
                                               {m: cons[m] for m in have}).to_dict()
    if table.get("reason"):
        return Absent(f"Table 7: {table['reason']}")
    header, rows = figures.table7_rows(table)
    n_tests = sum(r["p_value"] is not None for r in table["rows"])
    note = (f"Layers with uncorrected p ≤ {table['alpha']}, as the paper lists them; q = p adjusted over all "
            f"{n_tests} tests of the table (2 blocks × layers; Benjamini–Hochberg false discovery rate), "
            f"* q ≤ {table['alpha']}: only those survive the correction (at {n_tests} tests about "
            f"{n_tests * table['alpha']:.1f} uncorrected false positives are expected by chance). "
            f"Models: {', '.join(table['models'])}.")
    return [Table(header, rows, note=note if rows else f"No layer has p ≤ {table['alpha']}."),
            figures.table7_correlation(table)]


# ----------------------------------------------------------------------------- base vs IFT


@dataclass(frozen=True)
class PairedMetric:
    """A metric compared between a base and an IFT model on shared items.

    ``items(payload)`` returns item id -> value (a number, or a vector such as a question's
    outcome in each MMLU setup); the comparison uses the items both models have. ``statistic``
    maps the ``[n_items, ...]`` values of one model to the metric (default: the mean, so the
    difference is the mean of per-item differences). Interval: paired bootstrap over items;
    p-value: the two models' values swapped within items at random
    (:func:`interp.stats.paired_test`).
    """

    name: str
    analysis: str
    dataset: str
    items: Callable[[Mapping[str, Any]], Mapping[str, Any]]
    pool: Pool | None = None
    unit: str = "items"
    statistic: Callable[[Any], float] | None = None
    #: "higher" or "lower": which direction means *more consistent* (None: not a consistency
    #: measure, e.g. accuracy); the findings summary words its verdict with it
    consistent_when: str | None = None

    def payload(self, ctx: "ReportContext", model: str) -> dict | None:
        """The model's payload for this metric: the pooled (or only) unit's; for BECEL, whose
        tasks are separate units, ``{"tasks": [...]}``."""
        if self.dataset == "becel":
            tasks = _becel_tasks(ctx).get(model)
            return {"tasks": tasks} if tasks else None
        units = ctx.units(analysis=self.analysis, dataset=self.dataset, model=model)
        return mean_entries(with_pooled(units, self.pool)).get(model)


def _gap_items(d: Mapping[str, Any]) -> dict[str, float]:
    """Table 1 gap as a mean over independent units (its exact value, so the paired test resamples
    what is independent).

    With ``nonpair_sets`` (random non-pairs made of the sets' texts: TAPACO, PARAREL) the units are
    the S paraphrase sets: ``set_cos[s] - (S / K) * (half the cosine of each non-pair touching s)``.
    Without (MRPC: labelled non-pairs are texts of their own) the units are the S sets and the K
    non-pairs, scaled so that the mean over the S + K units is ``mean(set_cos) - mean(nonpair_cos)``.
    """
    ok = lambda v: v is not None and math.isfinite(v)  # noqa: E731
    sets = {i: v for i, v in enumerate(d.get("set_cos") or []) if ok(v)}
    non = list(d.get("nonpair_cos") or [])
    if not sets or not non or not all(ok(c) for c in non):
        return {}
    S, K = len(sets), len(non)
    if d.get("nonpair_sets") is None:
        n = S + K
        return {**{f"set {i}": v * n / S for i, v in sets.items()},
                **{f"non-pair {k}": -c * n / K for k, c in enumerate(non)}}
    share: dict[int, float] = {}
    for (a, b), c in zip(d["nonpair_sets"], non):
        for si in (a, b):
            share[si] = share.get(si, 0.0) + c / 2
    if set(share) - set(sets):  # a non-pair's set without a cosine (should not happen): no units
        return {}
    return {f"set {i}": v - S / K * share.get(i, 0.0) for i, v in sets.items()}


def _attribute_items(d: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for (rel, subj), row in zip(d.get("items", []), d.get("item_rates", [])):
        vals = [v for v in row if v is not None and math.isfinite(v)]
        if vals:
            out[f"{rel}|{subj}"] = sum(vals) / len(vals)
    return out


def _pararel_items(which: int) -> Callable[[Mapping[str, Any]], dict[str, float]]:
    """Per PARAREL item (relation, fact): accuracy (``which=0``) or consistency (1), averaged over
    the prompts of a pooled result."""

    def items(d: Mapping[str, Any]) -> dict[str, float]:
        from interp.analyses.consistency import item_scores

        acc: dict[str, list[float]] = {}
        for p in d.get("prompts", [d]):
            per = item_scores([tuple(k) for k in p["keys"]], p["predictions"], p["correct"])
            for rel, facts in per.items():
                for fact, vals in facts.items():
                    if math.isfinite(vals[which]):
                        acc.setdefault(f"{rel}|{fact}", []).append(vals[which])
        return {k: sum(v) / len(v) for k, v in acc.items()}

    return items


def _mmlu_items(d: Mapping[str, Any]) -> dict[str, list[float]]:
    """Per MMLU question: its accuracy under each instruction, averaged over the answer
    orderings (pooled ``spread`` payloads that keep per-question outcomes)."""
    from interp.analyses.consistency import MMLUSpread, per_instruction

    if not d.get("correct"):
        return {}
    r = MMLUSpread.from_dict(dict(d))
    per = per_instruction(r.correct_matrix(), np.array([s.instruction for s in r.setups]))
    return dict(zip(r.question_ids, per.tolist()))


def _becel_items(column: str) -> Callable[[Mapping[str, Any]], dict[str, float]]:
    """Per BECEL pair (or test example): its 0/1 value of ``column``, weighted so that the mean
    over all items is Table 2's mean over tasks of the per-task rates (tasks of different size
    count equally)."""

    def items(d: Mapping[str, Any]) -> dict[str, float]:
        from interp.analyses.consistency import BecelTask

        per = {t["task"]: BecelTask.from_dict(t).unit_values(column) for t in d.get("tasks", [])}
        per = {t: v for t, v in per.items() if v}
        total = sum(len(v) for v in per.values())
        return {f"{t}|{k}": x * total / (len(per) * len(v)) for t, v in per.items() for k, x in v.items()}
    return items


def _mean(m: Any) -> float:
    return float(np.mean(m))


def _spread(m: Any) -> float:
    """The paper's MMLU spread from ``[n_questions, n_instructions]`` accuracies."""
    return float(np.ptp(np.mean(m, axis=0)))


#: The metrics of the base-vs-IFT table; append a :class:`PairedMetric` to add one.
PAIRED_METRICS: list[PairedMetric] = [
    PairedMetric(f"Table 1 gap, {ds.upper()}", "gap", ds, _gap_items, _pool_gap, "paraphrase sets",
                 consistent_when="higher")
    for ds in ("mrpc", "tapaco", "pararel")
] + [
    PairedMetric("PARAREL consistency (item mean)", "consistency", "pararel", _pararel_items(1), _pool_pararel,
                 "(relation, fact) items", consistent_when="higher"),
    PairedMetric("PARAREL accuracy (item mean)", "consistency", "pararel", _pararel_items(0), _pool_pararel,
                 "(relation, fact) items"),
    PairedMetric("Fig. 2 attribute rate (mean over layers)", "attributes", "pararel", _attribute_items,
                 _pool_attributes, "(relation, subject) items"),
    PairedMetric("MMLU accuracy", "spread", "mmlu", _mmlu_items, None, "questions", _mean),
    PairedMetric("MMLU spread (paper's)", "spread", "mmlu", _mmlu_items, None, "questions", _spread,
                 consistent_when="lower"),
] + [
    PairedMetric(f"BECEL {name} (mean over tasks)", "consistency", "becel", _becel_items(column), None, unit,
                 consistent_when=better)
    for column, name, unit, better in (("accuracy", "accuracy", "test examples", None),
                                       ("semantic", "consistency under paraphrase", "pairs", "higher"),
                                       ("negation_flip", "negation flip rate (paper)", "pairs", "higher"),
                                       ("negation", "negation, label-aware", "pairs", "higher"),
                                       ("symmetric", "symmetric consistency", "pairs", "higher"))
]
_BY_NAME = {m.name: m for m in PAIRED_METRICS}


def base_of(ctx: ReportContext, model: str) -> str | None:
    """The base model an IFT model is compared with: ``config["base"]`` (or ``config["model"]["base"]``)
    of its units, else the only base model in the store."""
    for u in ctx.units(model=model, mark_used=False):
        cfg = u.meta.get("config") or {}
        for scope in (cfg, cfg.get("model") if isinstance(cfg.get("model"), Mapping) else {}):
            if isinstance(scope.get("base"), str):
                return scope["base"]
    bases = ctx.models_with(BASE)
    return bases[0] if len(bases) == 1 else None


def compare_base_ift(metric: PairedMetric, base: str, ift: str, base_payload: Mapping[str, Any],
                     ift_payload: Mapping[str, Any], *, seed: int = 0) -> dict | None:
    """One row of the comparison: paired bootstrap interval and permutation p-value over the shared
    items (None if fewer than 2)."""
    from interp.stats import paired_test

    a, b = metric.items(base_payload), metric.items(ift_payload)
    shared = [k for k in a if k in b]
    if len(shared) < 2:
        return None
    rows = np.array([[a[k], b[k]] for k in shared], dtype=float)
    stat = metric.statistic or _mean
    test = paired_test(rows, stat, seed=seed)
    return {"metric": metric.name, "base": base, "ift": ift, "base_value": stat(rows[:, 0]),
            "ift_value": stat(rows[:, 1]), "diff": test.diff.to_dict(), "p_value": test.p_value,
            "n": len(shared), "unit": metric.unit}


def paired_rows(ctx: ReportContext) -> tuple[list[dict], list[str]]:
    """Every base-vs-IFT comparison of :data:`PAIRED_METRICS` the store allows, with ``q_value``
    (p adjusted over all of them, Benjamini-Hochberg), and what was skipped; computed once per
    report (the findings summary and the base-vs-IFT table show the same rows)."""
    if ctx.paired is not None:
        return ctx.paired
    from interp.stats import adjust_p

    base, ift = ctx.models_with(BASE), ctx.models_with(IFT)
    rows, skipped = [], []
    for model in ift:
        b = base_of(ctx, model)
        if b is None or b not in base:
            skipped.append(f"{model}: no base model to compare with")
            continue
        for metric in PAIRED_METRICS:
            got = {m: metric.payload(ctx, m) for m in (b, model)}
            if got[b] is None or got[model] is None:
                continue
            row = compare_base_ift(metric, b, model, got[b], got[model])
            if row is None:
                skipped.append(f"{metric.name}: fewer than 2 shared {metric.unit} for {b} and {model}")
            else:
                rows.append(row)
    rows = [{**r, "q_value": q} for r, q in zip(rows, adjust_p([r["p_value"] for r in rows], "bh"))]
    ctx.paired = (rows, skipped)
    return ctx.paired


def verdict(row: Mapping[str, Any], consistent_when: str | None, alpha: float = 0.05) -> str:
    """A comparison in plain words: "more consistent", "less consistent" or "no detectable change"
    (for a measure that is not a consistency: "higher" / "lower"), by the sign of IFT − base when
    the adjusted q is at most ``alpha``.

    >>> verdict({"diff": {"estimate": -0.1}, "q_value": 0.01}, "lower")
    'more consistent'
    >>> verdict({"diff": {"estimate": 0.2}, "q_value": 0.3}, "higher")
    'no detectable change'
    """
    q, d = row.get("q_value"), figures.interval_parts(row["diff"])[0]
    if q is None or not math.isfinite(q) or q > alpha or not math.isfinite(d) or d == 0:
        return "no detectable change"
    up = d > 0
    if consistent_when is None:
        return "higher" if up else "lower"
    return "more consistent" if up == (consistent_when == "higher") else "less consistent"


@SECTIONS.register("findings", "Findings: did instruction tuning make the model more consistent?", order=1)
def _findings(ctx: ReportContext) -> Content:
    rows, _ = paired_rows(ctx)
    if not rows:
        return Absent("needs a base and an IFT model with paired results (see “Base vs IFT” below)")
    body = []
    for r in rows:
        metric = _BY_NAME.get(r["metric"])
        better = metric.consistent_when if metric else None
        if better is None and not r["metric"].startswith("Fig. 2"):
            continue  # accuracies: in the base-vs-IFT table
        body.append([f"{r['base']} → {r['ift']}", r["metric"] + (f" ({better} = more consistent)" if better else ""),
                     fmt_num(r["base_value"]), fmt_num(r["ift_value"]), fmt_interval(r["diff"]),
                     fmt_num(r["q_value"]), verdict(r, better)])
    if not body:
        return Absent("no consistency measure has paired base/IFT results")
    note = ("One row per base/IFT pair and measure: IFT − base with its 95% paired-bootstrap interval; q = the "
            "permutation p-value adjusted over every comparison of the report (Benjamini–Hochberg); the verdict "
            "reads the sign of the difference only when q ≤ 0.05. Accuracies and every p-value: “Base vs IFT” below.")
    return Table(["base → IFT", "measure", "base", "IFT", "IFT − base [95% CI]", "q", "verdict"], body, note=note)


@SECTIONS.register("base_vs_ift", "Base vs IFT: differences with paired-bootstrap significance", order=100)
def _base_vs_ift(ctx: ReportContext) -> Content:
    base, ift = ctx.models_with(BASE), ctx.models_with(IFT)
    if not base or not ift:
        return Absent(f"needs at least one base and one IFT model; {len(base)} base and {len(ift)} IFT present")
    rows, skipped = paired_rows(ctx)
    if not rows:
        return Absent("no metric has paired results for a base and an IFT model"
                      + (f" ({'; '.join(skipped)})" if skipped else ""))
    header, body = figures.base_vs_ift_rows(rows)
    note = ("IFT − base with a 95% paired-bootstrap interval over the items both models share; p: two-sided "
            "permutation test (the two models' values swapped within each item at random), valid for the MMLU "
            "spread (a max − min) as for means; q: p adjusted for all rows of this table (Benjamini–Hochberg); "
            "* q ≤ 0.05. Table 1 gap rows: the units are the paraphrase sets, each carrying its share of the random "
            "non-pairs made of its texts (TAPACO, PARAREL), or the sets and MRPC's labelled non-pairs.")
    if skipped:
        note += " Skipped: " + "; ".join(skipped) + "."
    return Table(header, body, note=note)
