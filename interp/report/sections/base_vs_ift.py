"""Base vs IFT: every paired comparison with its interval, p- and q-value (the stored
``base_vs_ift`` summary, :mod:`interp.summaries`)."""

from __future__ import annotations

from interp import figures
from interp.report.context import BASE, IFT, ReportContext
from interp.report.registry import SECTIONS
from interp.report.render import Absent, Content, Table
from interp.report.sections.findings import NO_COMPARISON


@SECTIONS.register("base_vs_ift", "Base vs IFT: differences with paired-bootstrap significance", order=100)
def _base_vs_ift(ctx: ReportContext) -> Content:
    base, ift = ctx.models_with(BASE), ctx.models_with(IFT)
    if not base or not ift:
        return Absent(f"needs at least one base and one IFT model; {len(base)} base and {len(ift)} IFT present")
    comps = ctx.summary("base_vs_ift")
    if comps is None:
        return Absent(NO_COMPARISON)
    if not comps.rows:
        return Absent("no metric has paired results for a base and an IFT model"
                      + (f" ({'; '.join(comps.skipped)})" if comps.skipped else ""))
    header, body = figures.base_vs_ift_rows([r.to_dict() for r in comps.rows])
    note = ("IFT − base with a 95% paired-bootstrap interval over the items both models share; p: two-sided "
            "permutation test (the two models' values swapped within each item at random), valid for the MMLU "
            "spread (a max − min) as for means; q: p adjusted for all rows of this table (Benjamini–Hochberg); "
            "* q ≤ 0.05. Table 1 gap rows: the units are the paraphrase sets, each carrying its share of the random "
            "non-pairs made of its texts (TAPACO, PARAREL), or the sets and MRPC's labelled non-pairs.")
    if comps.skipped:
        note += " Skipped: " + "; ".join(comps.skipped) + "."
    return Table(header, body, note=note)
