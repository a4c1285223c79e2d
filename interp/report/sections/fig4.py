"""Figures 4, 6 and 7: the paraphrase gap per layer for consistent / inconsistent predictions."""

from __future__ import annotations

from interp import figures
from interp.report.context import ReportContext
from interp.report.registry import SECTIONS
from interp.report.render import Absent, Content, Html
from interp.report.sections._common import entries_or_absent


@SECTIONS.register("fig4", "Figures 4, 6, 7: paraphrase gap per layer (consistent / inconsistent predictions, "
                           "per prompt)", order=60)
def _fig4(ctx: ReportContext) -> Content:
    entries = entries_or_absent(ctx, "layer_gap", "Figures 4, 6, 7")
    if isinstance(entries, Absent):
        return entries
    kw = dict(models=[lb for lb, _, _ in entries], prompts=[p for _, p, _ in entries], colors=ctx.colors)
    data = [d for _, _, d in entries]
    return [Html('<p class="note">Figure 4: consistent predictions, mean over prompts; Figure 6: the same per '
                 "prompt (dropdown); Figure 7: inconsistent predictions.</p>"),
            figures.fig4_paraphrase_gap_by_layer(data, split="consistent", **kw),
            figures.fig4_paraphrase_gap_by_layer(data, split="inconsistent", **kw)]
