"""Figures 5 and 8: MHSA / MLP extraction rate per layer, colored as the paper by each IFT model's
PARAREL consistency against its base (:func:`extraction_classes`) where the store allows."""

from __future__ import annotations

import html

from interp import figures
from interp.figures import fmt_num
from interp.report.context import ReportContext
from interp.report.registry import SECTIONS
from interp.report.render import Absent, Content, Html, Table
from interp.report.sections._common import entries_or_absent, lens_name, role_of


def extraction_section(ctx: ReportContext, block: str, what: str) -> Content:
    """Figure 5 (``block="mhsa"``) or 8 (``"mlp"``): the curves and a table of each curve's peak."""
    from interp.analyses.extraction import WILSON, ExtractionRates

    entries = entries_or_absent(ctx, "extraction", what)
    if isinstance(entries, Absent):
        return entries
    classes, coloring = extraction_classes(ctx)
    kw = dict(models=[lb for lb, _, _ in entries], prompts=[p for _, p, _ in entries], colors=ctx.colors,
              classes=classes)
    fig = (figures.fig5_mhsa_extraction if block == "mhsa" else figures.fig8_mlp_extraction)(
        [d for _, _, d in entries], **kw)
    rows = []
    for label, p, d in entries:
        ev = ExtractionRates.from_dict(d).get(block, "all")
        peak = ev.peak
        rows.append([label, role_of(ctx, label), p, str(ev.n), f"{ev.n_layers_with_events} of {len(ev.counts)}",
                     str(peak[0]) if peak else "n/a",
                     f"{fmt_num(peak[1])} ({peak[2]} events)" if peak else "n/a", lens_name(d.get("normed"))])
    methods = sorted({str(d.get("interval", WILSON)) for _, _, d in entries})
    table = Table(["model", "role", "prompt", "queries", "layers with any event",
                   f"peak layer: {figures.layer_label()}", "peak rate", "lens"], rows,
                  note=f"Rates with 95% intervals (hover): {'; '.join(methods)}. Small models give sparse curves.")
    return [Html(f'<p class="note">{html.escape(coloring)}</p>'), fig, table]


def extraction_classes(ctx: ReportContext) -> tuple[dict[str, str] | None, str]:
    """Fig. 5 / 8's coloring as the paper: the stored ``consistency_classes`` summary (each IFT
    model's PARAREL consistency against its base's, :func:`interp.summaries.consistency_classes`)
    and the note saying what the colors mean; ``(None, why not)`` when it has no classes."""
    stored = ctx.summary("consistency_classes")
    if stored is None:
        return None, ("Colored by model: the paper's coloring (IFT models by PARAREL consistency vs their base) "
                      "needs the classes the sweep stores for a base and its IFT models.")
    if not stored.classes:
        return None, f"Colored by model: {stored.reason}."
    return dict(stored.classes), figures.consistency_classes_note(stored.close)


@SECTIONS.register("fig5", "Figure 5: MHSA extraction rate per layer", order=70)
def _fig5(ctx: ReportContext) -> Content:
    return extraction_section(ctx, "mhsa", "Figure 5")


@SECTIONS.register("fig8", "Figure 8: MLP extraction rate per layer", order=80)
def _fig8(ctx: ReportContext) -> Content:
    return extraction_section(ctx, "mlp", "Figure 8")
