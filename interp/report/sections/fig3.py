"""Figure 3: cosine of same-relation vs different-relation queries per layer, with the band across
models the sweep stores (``relations_across_models``, :mod:`interp.summaries`)."""

from __future__ import annotations

from interp import figures
from interp.report.context import ReportContext
from interp.report.registry import SECTIONS
from interp.report.render import Absent, Content, Table
from interp.report.sections._common import entries_or_absent, role_of, sanity_badge


@SECTIONS.register("fig3", "Figure 3: cosine of same-relation vs different-relation queries per layer", order=50)
def _fig3(ctx: ReportContext) -> Content:
    entries = entries_or_absent(ctx, "relations", "Figure 3")
    if isinstance(entries, Absent):
        return entries
    across = ctx.summary("relations_across_models")
    fig = figures.fig3_relations([d for _, _, d in entries], models=[lb for lb, _, _ in entries],
                                 prompts=[p for _, p, _ in entries], colors=ctx.colors,
                                 across=across.by_prompt if across is not None else None)
    rows = [[label, role_of(ctx, label), p,
             "–".join(str(figures.block_index(i, embeddings=bool(d.get("embeddings")))) for i in d["relation_layers"])
             if d.get("relation_layers") else "none",
             str(len(d.get("relations", []))), ", ".join(d.get("excluded", [])) or "–"]
            for label, p, d in entries]
    embeddings = any(d.get("embeddings") for _, _, d in entries)
    note = ("Grey: mean ± std over models (the paper's band), layer by layer. "
            + (across.reason + "." if across is not None and across.reason else ""))
    table = Table(["model", "role", "prompt", "relation layers (same − different grows fastest): "
                   + figures.layer_label(embeddings=embeddings), "relations used", "relations excluded"], rows,
                  note=note)
    return [sanity_badge(ctx, "fig3"), fig, table]
