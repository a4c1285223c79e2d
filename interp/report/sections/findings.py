"""The findings summary at the top: did instruction tuning make the model more consistent, per
base/IFT pair and consistency measure (the rows of :func:`~interp.report.sections._paired.paired_rows`)."""

from __future__ import annotations

from interp.figures import fmt_interval, fmt_num
from interp.report.context import ReportContext
from interp.report.registry import SECTIONS
from interp.report.render import Absent, Content, Table
from interp.report.sections._paired import METRICS_BY_NAME, paired_rows, verdict


@SECTIONS.register("findings", "Findings: did instruction tuning make the model more consistent?", order=1)
def _findings(ctx: ReportContext) -> Content:
    rows, _ = paired_rows(ctx)
    if not rows:
        return Absent("needs a base and an IFT model with paired results (see “Base vs IFT” below)")
    body = []
    for r in rows:
        metric = METRICS_BY_NAME.get(r["metric"])
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
