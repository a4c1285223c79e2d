"""Rendering: section content (:class:`Table`, :class:`Html`, :class:`Absent`, figures) to HTML, the
models overview and the provenance footer, and the page itself (``templates/report.html.j2``,
rendered with jinja2, autoescaped)."""

from __future__ import annotations

import datetime as _dt
import html
import json
import logging
import math
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

import jinja2
import plotly
import plotly.graph_objects as go
import plotly.offline

from interp import figures
from interp.figures import fmt_num
from interp.provenance import stale_note
from interp.report.context import BASE, IFT, UNKNOWN, ReportContext, role_label, skipped_notes
from interp.results import package_versions

if TYPE_CHECKING:
    from interp.report.registry import Section

log = logging.getLogger("interp.report")

#: Payload keys whose values are listed in the header ("which representation / lens"): the options
#: the analyses' ``to_dict()`` write (top level, or in their first per-prompt result).
OPTION_KEYS = ("representation", "normed", "restrict", "top", "embeddings", "last_token", "casing")
#: Sweep-wide settings listed in the header, as paths into a unit's config slice.
CONFIG_OPTIONS: tuple[tuple[str, ...], ...] = (("representation",), ("lens",), ("limits", "pararel_restrict_candidates"),
                                                ("limits", "pararel_casing"), ("limits", "pararel_fact_selection"),
                                                ("model", "is_chat"), ("dtype",))

_TEMPLATES = jinja2.Environment(loader=jinja2.PackageLoader("interp.report", "templates"), autoescape=True,
                                trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                                undefined=jinja2.StrictUndefined)


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


def html_table(table: Table, *, download: str | None = None) -> str:
    """Render a :class:`Table` (cells escaped; numbers formatted with :func:`fmt_num`); ``download``:
    the table's id in the page's embedded numbers (:class:`TableSink`), for its CSV button."""
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
    button = (f'<button type="button" class="csv" data-table="{esc(download)}" title="Download this table as '
              'CSV">CSV</button>') if download else ""
    return (f'<div class="table-wrap"><table>{cap}<thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>{button}{note}</div>')


def _json_cell(c: Any) -> Any:
    """A cell as the page's numbers hold it: text as shown, numbers unrounded (``None`` for NaN)."""
    if isinstance(c, str) or c is None or isinstance(c, (bool, int)):
        return c
    if isinstance(c, float):
        return c if math.isfinite(c) else None
    return fmt_num(c)


def jsonable(x: Any) -> Any:
    """``x`` with every non-finite float as ``None`` and tuples as lists (strict JSON for the page)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    return x


class TableSink:
    """The tables of one part of the page (a section, the overview, the footer), in order: each is
    rendered with a CSV button and kept (id ``<part>-t<k>``, caption, header, rows) for the page's
    embedded numbers, from which the buttons build their downloads."""

    def __init__(self, part: str) -> None:
        self.part = part
        self.tables: list[dict[str, Any]] = []

    def html(self, table: Table) -> str:
        """:func:`html_table` with a CSV button; the table is recorded."""
        tid = f"{self.part}-t{len(self.tables) + 1}"
        out = html_table(table, download=tid)
        self.tables.append({"id": tid, "caption": table.caption, "header": [str(h) for h in table.header],
                            "rows": [[_json_cell(c) for c in row] for row in table.rows]})
        return out


@dataclass(frozen=True)
class RenderedSection:
    """A section as :func:`render_section` rendered it: its body, status ("ok" / "absent" /
    "failed"), its tables (:class:`TableSink`) and the unit files it read (relpaths)."""

    section: Section
    body: str
    status: str
    tables: tuple[dict[str, Any], ...] = ()
    files: tuple[str, ...] = ()


def _figure_html(fig: go.Figure, div_id: str) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                       config={"displaylogo": False, "responsive": True})


def _render(content: Content, sid: str, counter: list[int], tables: TableSink,
            roles: Mapping[str, str]) -> str:
    if content is None:
        return ""
    if isinstance(content, Absent):
        return f'<p class="absent">Absent: {html.escape(content.reason)}</p>'
    if isinstance(content, Html):
        return content.text
    if isinstance(content, str):
        return content
    if isinstance(content, Table):
        return tables.html(content)
    if isinstance(content, go.Figure):
        counter[0] += 1
        fig = figures.label_roles(go.Figure(content), roles)  # a copy: the section's figure is left as it is
        return f'<div class="figure">{_figure_html(fig, f"fig-{sid}-{counter[0]}")}</div>'
    if isinstance(content, Sequence):
        return "\n".join(_render(c, sid, counter, tables, roles) for c in content)
    raise TypeError(f"section {sid!r} returned {type(content).__name__}; expected HTML str, Table, "
                    "go.Figure, Absent or a list of them")


def render_section(section: Section, ctx: ReportContext, strict: bool) -> RenderedSection:
    """The section rendered, with status "ok", "absent" or "failed" (a failing section is shown as
    failed, with the error, unless ``strict``), its tables and the unit files it read (listed under
    it: "built from N unit files")."""
    ctx.section_used = {}
    tables = TableSink(section.id)
    roles = {m.label: role_label(m.role) for m in ctx.models if m.role != UNKNOWN}
    try:
        content = section.build(ctx)
        body = _stale_badge(ctx, ctx.section_used) + _render(content, section.id, [0], tables, roles)
        status = "absent" if isinstance(content, Absent) else "ok"
    except Exception as exc:  # a broken section must not lose the rest of the report
        if strict:
            raise
        log.warning("report: section %s failed: %s", section.id, exc)
        tb = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        body, status = f'<pre class="failed">This section failed to build: {html.escape(tb)}</pre>', "failed"
    files = tuple(sorted(ctx.section_used))
    return RenderedSection(section, body + _built_from(files), status, tuple(tables.tables), files)


def _built_from(files: Sequence[str]) -> str:
    """The collapsible list of the unit files a section read ("" if none), relative to the store."""
    if not files:
        return ""
    items = "".join(f"<li><code>{html.escape(p)}</code></li>" for p in files)
    return (f'<details class="built-from"><summary>built from {len(files)} unit file{"s" if len(files) != 1 else ""}'
            f"</summary><ul>{items}</ul></details>")


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


def _overview(ctx: ReportContext, notes: Sequence[str], tables: TableSink) -> str:
    """The top of the page below the title: the models, the notes, stale units and the options used."""
    esc = html.escape
    rows = [[m.label, m.spec, role_label(m.role), str(m.n_units), ", ".join(m.analyses)] for m in ctx.models]
    models = tables.html(Table(["model", "spec", "role", "units", "analyses"], rows)) if rows \
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
    opts_html = ("<details><summary>Representation / lens / scoring options used</summary>"
                 + tables.html(Table(["option", "value", "recorded by"], opts)) + "</details>") if opts else ""
    return f"<h2>Models</h2>{models}{notes_html}{_stale_badge(ctx, ctx.stale)}{opts_html}"


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


def _footer(ctx: ReportContext, tables: TableSink) -> str:
    """Provenance: package versions, the result files used (collapsible), unused and invalid files."""
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
             tables.html(Table(vhead, vrows, caption="Package versions")),
             f"<details><summary>Result files used ({len(used)})</summary>",
             tables.html(Table(["result file", "model spec", "seed", "created", "host"], urows,
                               caption=f"Result files used ({len(used)}), relative to {ctx.store.root}")),
             "</details>"]
    if unused:
        parts.append("<details><summary>Valid result files not shown by any section "
                     f"({len(unused)})</summary><ul>" + "".join(f"<li>{esc(p)}</li>" for p in unused)
                     + "</ul></details>")
    if invalid:
        parts.append(tables.html(Table(["file", "reason"], [list(x) for x in invalid],
                                       caption=f"Invalid result files ignored ({len(invalid)}): rerun the sweep")))
    parts.append("</footer>")
    return "\n".join(parts)


def page_numbers(ctx: ReportContext, sections: Sequence[RenderedSection], *, title: str, built: str,
                 overview: TableSink, footer: TableSink) -> dict[str, Any]:
    """Every number of the page, as its "All numbers (JSON)" download holds them: each part's tables
    (header and rows, by section, with the unit files it was built from) and the stored cross-model
    summaries' payloads (:mod:`interp.summaries`)."""
    parts = [{"id": "overview", "title": "Models and options", "status": "ok", "unit_files": [],
              "tables": overview.tables}]
    parts += [{"id": r.section.id, "title": r.section.title, "status": r.status, "unit_files": list(r.files),
               "tables": list(r.tables)} for r in sections]
    parts.append({"id": "provenance", "title": "Provenance", "status": "ok", "unit_files": [],
                  "tables": footer.tables})
    return jsonable({"title": title, "built": built, "results": str(ctx.store.root), "sections": parts,
                     "summaries": ctx.stored_summaries()})


def _script_json(data: Any) -> str:
    """JSON safe inside a ``<script type="application/json">`` element (no ``<``, ``>``, ``&``)."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_page(ctx: ReportContext, sections: Sequence[RenderedSection], *, title: str,
                notes: Sequence[str]) -> str:
    """The whole page (``templates/report.html.j2``): ``sections`` as :func:`render_section` gives
    them; plotly.js is inlined once, and every table's numbers are embedded once as JSON
    (:func:`page_numbers`: the CSV and JSON downloads, offline). The template escapes the title,
    the section titles and paths; the HTML built here (already escaped) is marked ``|safe`` there."""
    marks = {"ok": "", "absent": " (absent)", "failed": " (failed)"}
    built = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    overview_tables, footer_tables = TableSink("overview"), TableSink("provenance")
    overview, footer = _overview(ctx, notes, overview_tables), _footer(ctx, footer_tables)
    numbers = page_numbers(ctx, sections, title=title, built=built, overview=overview_tables, footer=footer_tables)
    return _TEMPLATES.get_template("report.html.j2").render(
        title=title, plotlyjs=plotly.offline.get_plotlyjs(), built=built, root=str(ctx.store.root),
        overview=overview, footer=footer, numbers=_script_json(numbers),
        sections=[{"id": r.section.id, "title": r.section.title,
                   "label": r.section.title.split(":")[0] + marks[r.status], "status": r.status, "body": r.body}
                  for r in sections])
