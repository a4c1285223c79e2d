"""Figure 2: the subject-attribute rate per layer, with each curve's peak in a table."""

from __future__ import annotations

import math

from interp import figures
from interp.figures import fmt_interval
from interp.report.context import ReportContext
from interp.report.registry import SECTIONS
from interp.report.render import Absent, Content, Table
from interp.report.sections._common import entries_or_absent, lens_name, role_of, sanity_badge


@SECTIONS.register("fig2", "Figure 2: subject-attribute rate per layer", order=40)
def _fig2(ctx: ReportContext) -> Content:
    from interp.analyses.attributes import AttributeRates

    entries = entries_or_absent(ctx, "attributes", "Figure 2")
    if isinstance(entries, Absent):
        return entries
    fig = figures.fig2_attribute_rate([d for _, _, d in entries], models=[lb for lb, _, _ in entries],
                                      prompts=[p for _, p, _ in entries], colors=ctx.colors)
    rows = []
    embeddings = any(figures.EMBEDDINGS_INDEX in d["layers"] for _, _, d in entries)
    for label, p, d in entries:
        r = AttributeRates.from_dict(d)
        layer, rate = r.peak
        found = math.isfinite(rate)
        rows.append([label, role_of(ctx, label), p, str(layer) if found else "n/a",
                     fmt_interval(r.rate[r.layers.index(layer)]) if found else "n/a", str(len(r.items)),
                     str(len(r.excluded_subjects)), lens_name(r.normed)])
    table = Table(["model", "role", "prompt", f"peak layer: {figures.layer_label(embeddings=embeddings)}",
                   "rate at peak [95% CI]", "items (relation, subject)",
                   "subjects without snippets (excluded)", "lens"], rows)
    return [sanity_badge(ctx, "fig2"), fig, table]
