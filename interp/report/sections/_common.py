"""Helpers the paper's sections share: the entries of a figure (:func:`with_pooled`: each stored
per-prompt unit and the pooled one), the model families of Tables 1/2 vs 4/5, absent-results
messages. Nothing here computes on results: the pipeline pools (prompt "all") and stores the
cross-model summaries (:mod:`interp.summaries`); the report only reads them.

Which analysis each section renders is declared by the analyses (``Analysis.sections``,
:mod:`interp.registry`).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

from interp import figures, paper_values
from interp.report.context import BASE, IFT, ReportContext, base_of, role_label
from interp.report.render import Absent, Html
from interp.results import StoredUnit


def lens_name(normed: Any) -> str:
    """How a lens figure projected its vectors (from the payload's ``normed`` flag)."""
    return ("final norm, then unembedding (E·norm(h))" if normed
            else "unembedding only (E h, the paper's; no final norm)")


def unit_label(u: StoredUnit) -> str:
    """The legend label of a unit: its model, plus its variant (``extra``) if any."""
    return u.key.model + (f" [{u.key.extra}]" if u.key.extra else "")


def with_pooled(units: Sequence[StoredUnit]) -> list[tuple[str, str, dict]]:
    """(label, prompt label, payload) per stored unit: each prompt's, and the pooled one
    (``prompt="all"``, shown as "mean") the pipeline stores."""
    return [(unit_label(u), figures.prompt_label(u.key.prompt), u.payload) for u in units]


def mean_entries(entries: Sequence[tuple[str, str, dict]]) -> dict[str, dict]:
    """label -> the pooled ("mean") payload, or the only prompt's payload when a label has one."""
    out: dict[str, dict] = {}
    for label, p, d in entries:
        if p == figures.MEAN or label not in out:
            out[label] = d
    return out


def needs(ctx: ReportContext, analysis: str, what: str, dataset: str | Sequence[str] | None = None) -> Absent | None:
    """Why ``what`` is absent when the store has no ``analysis`` results (on ``dataset``), else None."""
    if not ctx.units(analysis=analysis, dataset=dataset, mark_used=False):
        ds = f" on {dataset if isinstance(dataset, str) else ' / '.join(dataset)}" if dataset else ""
        return Absent(f"{what} needs `{analysis}` results{ds}; none in the store (run the sweep with it)")
    return None


def entries_or_absent(ctx: ReportContext, analysis: str, what: str) -> list[tuple[str, str, dict]] | Absent:
    """A PARAREL figure's entries (:func:`with_pooled`), or why ``what`` is absent."""
    return needs(ctx, analysis, what, "pararel") or with_pooled(ctx.units(analysis=analysis, dataset="pararel"))


def role_of(ctx: ReportContext, label: str) -> str:
    """The role of a unit label's model (the label without its ``[extra]``), as a table shows it."""
    return role_label(ctx.role(label))


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


def main_family(ctx: ReportContext) -> list[str] | None:
    """The models of Tables 1 and 2: every model (``None``) unless the store has several
    families, then the main one (:func:`model_families`)."""
    fams = model_families(ctx)
    return fams[0] if len(fams) > 1 else None


def other_families_note(ctx: ReportContext) -> str:
    """Tables 1 and 2's note naming the families shown in Tables 4 and 5 ("" if none)."""
    others = model_families(ctx)[1:]
    if not others:
        return ""
    return (" Other model families (" + "; ".join(" / ".join(f) for f in others)
            + ") are in Tables 4 and 5.")


def becel_tasks(ctx: ReportContext) -> dict[str, list[dict]]:
    """model -> its BECEL task payloads (one unit per task)."""
    out: dict[str, list[dict]] = {}
    for u in ctx.units(analysis="consistency", dataset="becel"):
        if u.key.extra:  # the unit without a task pools the tasks (Table 2's means)
            out.setdefault(u.key.model, []).append(u.payload)
    return out


def paper_model(ctx: ReportContext, label: str) -> str | None:
    """The paper's model id of a table row's model (:func:`interp.paper_values.match` on its label
    and spec), or ``None``."""
    model = label.split(" [")[0]
    spec = next((m.spec for m in ctx.models if m.label == model), None)
    return paper_values.match(model, spec)


def add_paper_column(ctx: ReportContext, header: list[str], rows: list[list[str]],
                     cell: Callable[[str | None, Sequence[str]], str]) -> str:
    """Append the column "paper" (the paper's own values of the row's model, ``cell(paper id,
    row)``, "–" where it has none) when at least one row's model is one of the paper's; return the
    note naming the source ("" when no column was added)."""
    cells = [cell(paper_model(ctx, row[0]), row) for row in rows]
    if not any(cells):
        return ""
    header.append("paper")
    for row, c in zip(rows, cells):
        row.append(c or "–")
    return (f" “paper”: the values the paper prints for the same model ({paper_values.citation()}; "
            "interp/paper_values.toml cites each table).")


#: the style of a sanity-flag box (inline: the page's stylesheet is the renderer's)
SANITY_STYLE = "color:#7a0010;background:#fdecee;border-left:4px solid #c62828;padding:.5rem .8rem;margin:.5rem 0"


def sanity_badge(ctx: ReportContext, section: str, models: Sequence[str] | None = None) -> Html:
    """The sanity flags (the stored ``sanity`` summary, :mod:`interp.sanity`) that concern
    ``section`` (and ``models``), as a visible box above its numbers; empty when none."""
    flags = ctx.summary("sanity")
    mine = flags.for_section(section, models) if flags is not None else []
    if not mine:
        return Html("")
    esc = html.escape
    items = "".join(f"<li><strong>{esc(f.model or 'sweep')}</strong>: {esc(f.what)} — {esc(f.why)}</li>" for f in mine)
    return Html(f'<div class="sanity" style="{SANITY_STYLE}"><strong>⚠ sanity check</strong>: {len(mine)} number(s) '
                f'below look wrong by construction (all flags: <a href="#sanity">Sanity checks</a>)<ul>{items}</ul></div>')


def filter_box(placeholder: str) -> Html:
    """A search box that hides the rows of the table right after it that do not contain its text."""
    js = ("var q=this.value.toLowerCase();this.nextElementSibling.querySelectorAll('tbody tr').forEach("
          "function(r){r.style.display=r.textContent.toLowerCase().indexOf(q)<0?'none':''})")
    return Html(f'<input type="search" class="row-filter" placeholder="{html.escape(placeholder)}" '
                f'aria-label="{html.escape(placeholder)}" style="width:min(30rem,100%);margin:.3rem 0" '
                f'oninput="{html.escape(js)}">')
