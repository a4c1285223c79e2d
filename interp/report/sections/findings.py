"""The findings summary at the top: did instruction tuning make the model more consistent, per
base/IFT pair and consistency measure (the stored ``base_vs_ift`` summary, :mod:`interp.summaries`)."""

from __future__ import annotations

from interp.figures import fmt_interval, fmt_num
from interp.report.context import ReportContext
from interp.report.registry import SECTIONS
from interp.report.render import Absent, Content, Table

#: what the report says when the pipeline stored no comparison
NO_COMPARISON = ("needs the base-vs-IFT comparison the sweep stores for a base and an IFT model "
                 "(`interp sweep` computes it once both have results; see “Base vs IFT” below)")


@SECTIONS.register("findings", "Findings: did instruction tuning make the model more consistent?", order=1)
def _findings(ctx: ReportContext) -> Content:
    comps = ctx.summary("base_vs_ift")
    if comps is None or not comps.rows:
        return Absent(NO_COMPARISON)
    body = [[f"{r.base} → {r.ift}", r.metric + (f" ({r.consistent_when} = more consistent)" if r.consistent_when else ""),
             fmt_num(r.base_value), fmt_num(r.ift_value), fmt_interval(r.diff), fmt_num(r.q_value), r.verdict]
            for r in comps.rows if r.consistent_when is not None or r.metric.startswith("Fig. 2")]
    if not body:
        return Absent("no consistency measure has paired base/IFT results")
    note = ("One row per base/IFT pair and measure: IFT − base with its 95% paired-bootstrap interval; q = the "
            "permutation p-value adjusted over every comparison of the sweep (Benjamini–Hochberg); the verdict "
            "reads the sign of the difference only when q ≤ 0.05. Accuracies and every p-value: “Base vs IFT” below.")
    return Table(["base → IFT", "measure", "base", "IFT", "IFT − base [95% CI]", "q", "verdict"], body, note=note)
