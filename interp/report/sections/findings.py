"""The findings summary at the top: did instruction tuning make the model more consistent, per
base/IFT pair and consistency measure (the stored ``base_vs_ift`` summary, :mod:`interp.summaries`)."""

from __future__ import annotations

from interp.figures import fmt_interval, fmt_num
from interp.report.context import ReportContext, role_label
from interp.report.registry import SECTIONS
from interp.report.render import Absent, Content, Table

#: what the report says when the pipeline stored no comparison
NO_COMPARISON = ("needs the base-vs-IFT comparison the sweep stores for a base and an IFT model "
                 "(`interp sweep` computes it once both have results; see “Base vs IFT” below)")


def mechanism_table(ctx: ReportContext) -> Table | None:
    """The mechanism, per model, from its pooled units: Fig. 2's attribute-rate peak and Fig. 5/8's
    MHSA / MLP extraction peaks (layer and rate, as the analyses' ``peak`` give them), and Table 7's
    verdict (``None`` when the store has none of them)."""
    from interp.analyses.attributes import AttributeRates
    from interp.analyses.extraction import ExtractionRates

    rows = []
    for m in ctx.models:
        attr = ctx.units(model=m.label, dataset="pararel", analysis="attributes", prompt="all")
        ext = ctx.units(model=m.label, dataset="pararel", analysis="extraction", prompt="all")
        if not attr and not ext:
            continue
        cells = [m.label, role_label(m.role)]
        if attr:
            layer, rate = AttributeRates.from_dict(attr[0].payload).peak
            cells.append(f"layer {layer}: {fmt_num(rate)}")
        else:
            cells.append("–")
        for block in ("mhsa", "mlp"):
            peak = ExtractionRates.from_dict(ext[0].payload).get(block, "all").peak if ext else None
            cells.append(f"layer {peak[0]}: {fmt_num(peak[1])} ({peak[2]} events)" if peak else "–")
        rows.append(cells)
    if not rows:
        return None
    ko = ctx.summary("knockout_base_vs_ift")
    t7 = ctx.summary("table7")
    note = ("Peaks of the curves below (pooled over prompts; layers as in their figures). Table 7 (extraction rate "
            "vs PARAREL consistency across IFT models): "
            + ("not computed (needs ≥ 3 IFT models)." if t7 is None else f"{t7.reason}." if t7.reason else
               f"{len(t7.significant)} of {t7.n_tests} (block, layer) correlations significant after "
               f"Benjamini–Hochberg (q ≤ {t7.alpha})."))
    if ko is not None and ko.findings:
        note += " Attention knockout (causal): " + " ".join(ko.findings)
    return Table(["model", "role", "Fig. 2 attribute-rate peak", "Fig. 5 MHSA extraction peak",
                  "Fig. 8 MLP extraction peak"], rows, caption="Mechanism: where the models retrieve attributes",
                 note=note)


@SECTIONS.register("findings", "Findings: did instruction tuning make the model more consistent?", order=1)
def _findings(ctx: ReportContext) -> Content:
    comps = ctx.summary("base_vs_ift")
    mechanism = mechanism_table(ctx)
    if comps is None or not comps.rows:
        return [Absent(NO_COMPARISON), mechanism] if mechanism else Absent(NO_COMPARISON)
    body = [[f"{r.base} → {r.ift}", r.metric + (f" ({r.consistent_when} = more consistent)" if r.consistent_when else ""),
             fmt_num(r.base_value), fmt_num(r.ift_value), fmt_interval(r.diff), fmt_num(r.q_value), r.verdict]
            for r in comps.rows if r.consistent_when is not None or r.metric.startswith("Fig. 2")]
    if not body:
        return Absent("no consistency measure has paired base/IFT results")
    note = ("One row per base/IFT pair and measure: IFT − base with its 95% paired-bootstrap interval; q = the "
            "permutation p-value adjusted over every comparison of the sweep (Benjamini–Hochberg); the verdict "
            "reads the sign of the difference only when q ≤ 0.05. Accuracies and every p-value: “Base vs IFT” below.")
    table = Table(["base → IFT", "measure", "base", "IFT", "IFT − base [95% CI]", "q", "verdict"], body, note=note)
    return [table, mechanism] if mechanism else table
