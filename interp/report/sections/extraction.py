"""Figures 5 and 8: MHSA / MLP extraction rate per layer, colored as the paper by each IFT model's
PARAREL consistency against its base (:func:`extraction_classes`) where the store allows."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from interp import figures
from interp.figures import fmt_num
from interp.report.context import IFT, ReportContext, base_of
from interp.report.registry import SECTIONS
from interp.report.render import Content, Html, Table
from interp.report.sections._common import (
    lens_name, mean_entries, needs, pararel_consistency, pool_extraction, pool_pararel, role_of, with_pooled,
)


def extraction_section(ctx: ReportContext, block: str, what: str) -> Content:
    """Figure 5 (``block="mhsa"``) or 8 (``"mlp"``): the curves and a table of each curve's peak."""
    missing = needs(ctx, "extraction", what, "pararel")
    if missing:
        return missing
    entries = with_pooled(ctx.units(analysis="extraction", dataset="pararel"), pool_extraction)
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
        rows.append([label, role_of(ctx, label), p, str(ev["n"]), str(sum(c > 0 for c in counts)) + f" of {len(counts)}",
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
        with_pooled(ctx.units(analysis="consistency", dataset="pararel"), pool_pararel)).items()}
    classes: dict[str, str] = {}
    for label in labels:
        base = base_of(ctx, label.split(" [")[0]) if role_of(ctx, label) == IFT else None
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
    return extraction_section(ctx, "mhsa", "Figure 5")


@SECTIONS.register("fig8", "Figure 8: MLP extraction rate per layer", order=80)
def _fig8(ctx: ReportContext) -> Content:
    return extraction_section(ctx, "mlp", "Figure 8")
