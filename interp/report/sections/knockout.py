"""Attention knockout (Geva et al. 2023, §5): per model, the relative drop in p(o*) when the last
position cannot attend to the subject / non-subject tokens / itself in a window of layers, for
consistent vs inconsistent queries (:mod:`interp.analyses.knockout`), and the stored paired
base-vs-IFT test per window (``knockout_base_vs_ift``, :mod:`interp.summaries`)."""

from __future__ import annotations

import html

from interp.figures import fmt_interval, fmt_num
from interp.report.context import ReportContext
from interp.report.registry import SECTIONS
from interp.report.render import Absent, Content, Html, Table
from interp.report.sections._common import entries_or_absent, role_of

NOTE = ("For each PARAREL query the attention edges from the last position to a set of tokens are blocked "
        "(pre-softmax, every head) in a window of k layers centred on the x-axis layer (clipped at the ends; k = 9 "
        "for 30+ layers as Geva et al., else round(0.3 × layers)); y: the mean relative drop (p − p̃) / p of o*, the "
        "model's top-1 next token without knockout (100% = its probability vanishes; below 0 = it rose). Solid: "
        "consistent queries (every paraphrase of the fact gets the same PARAREL answer), dashed: inconsistent. "
        "Bands: 95% cluster bootstrap over (relation, fact) items. Non-subject excludes the first position.")


@SECTIONS.register("knockout", "Attention knockout: which attention edges the prediction needs (consistent / "
                               "inconsistent queries)", order=85)
def _knockout(ctx: ReportContext) -> Content:
    from interp.figures.paper import knockout_curves

    entries = entries_or_absent(ctx, "knockout", "The attention knockout")
    if isinstance(entries, Absent):
        return entries
    out: list[Content] = [Html(f'<p class="note">{html.escape(NOTE)}</p>')]
    rows = []
    for label in dict.fromkeys(lb for lb, _, _ in entries):
        mine = [(p, d) for lb, p, d in entries if lb == label]
        out.append(knockout_curves([d for _, d in mine], model=label, prompts=[p for p, _ in mine]))
        for p, d in mine:
            rows.append(_row(ctx, label, p, d))
    limited = any(r[3] != r[4] for r in rows)
    out.append(Table(["model", "role", "prompt", "queries knocked out", "queries available", "k", "windows",
                      "peak subject drop, consistent", "peak subject drop, inconsistent"], rows,
                     note=("Queries limited by [limits] knockout_max_queries (whole items, round-robin over relations, "
                           "up to half inconsistent ones, in the same seeded order for every model) and windows by knockout_max_windows." if limited else None)))
    out.append(_comparison(ctx))
    return out


def _peak(d: dict, split: str) -> str:
    c = d["curves"].get(split, {}).get("subject")
    if not c or not c["n"]:
        return "n/a (no query)"
    vals = [float("-inf") if v is None else v for v in c["mean"]]
    w = max(range(len(vals)), key=vals.__getitem__)
    return f"{100 * vals[w]:.1f}% at layer {d['centres'][w]} (n = {c['n']})"


def _row(ctx: ReportContext, label: str, prompt: str, d: dict) -> list[str]:
    n = d["curves"]["all"]["subject"]["n"]
    return [label, role_of(ctx, label), prompt, str(n), str(d["n_available"]), str(d["k"]), str(len(d["centres"])),
            _peak(d, "consistent"), _peak(d, "inconsistent")]


def _comparison(ctx: ReportContext) -> Content:
    comps = ctx.summary("knockout_base_vs_ift")
    if comps is None or not comps.rows:
        why = "; ".join(comps.skipped) if comps is not None and comps.skipped else "no base/IFT pair with knockout results"
        return Absent(f"the paired base-vs-IFT knockout test needs pooled knockout results of a base and an IFT model ({why})")
    body = [[f"{r.base} → {r.ift}", r.block.replace("_", "-"), f"{r.depth:.2f} ({r.base_layer} / {r.ift_layer})",
             fmt_num(r.base_value), fmt_num(r.ift_value), fmt_interval(r.diff), fmt_num(r.p_value),
             fmt_num(r.q_value) + (" *" if r.q_value <= 0.05 else ""), str(r.n)] for r in comps.rows]
    align = "; ".join(f"{k}: windows matched {v}" for k, v in comps.alignment.items())
    return [Html("".join(f'<p class="finding">{html.escape(s)}</p>' for s in comps.findings)),
            Table(["base → IFT", "blocked", "relative depth (base / IFT layer)", "base drop", "IFT drop",
                   "IFT − base [95% CI]", "p", "q (BH)", "items"], body,
                  note=(f"Mean relative drop over (relation, fact) items shared by both models (each item averaged over its "
                        f"queries and prompts); paired bootstrap interval, permutation p, q adjusted over all rows; {align}."))]
