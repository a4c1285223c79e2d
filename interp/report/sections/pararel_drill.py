"""PARAREL drill-down: accuracy and consistency per relation (the pooled consistency units'
per-relation results) and example facts with each paraphrase's prediction for a base and an IFT
model side by side (the stored ``examples`` summary, :mod:`interp.example_facts`)."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from interp.figures import fmt_num
from interp.report.context import ReportContext, role_label
from interp.report.registry import SECTIONS
from interp.report.render import Absent, Content, Html, Table, html_table
from interp.report.sections._common import filter_box, mean_entries, needs, with_pooled


def relation_results(payload: Mapping[str, Any]) -> dict[str, tuple[float, float, int, int]]:
    """relation -> (accuracy, consistency, facts, patterns) of a PARAREL consistency payload:
    the pooled unit's means over prompts (facts and patterns of its first prompt), or one
    prompt's."""
    first = (payload.get("prompts") or [payload])[0]
    n = {r["relation"]: (int(r["n_items"]), int(r["n_patterns"])) for r in first.get("relations", [])}
    if "relation_accuracy" in payload:
        acc, cons = payload["relation_accuracy"], payload.get("relation_consistency", {})
    else:
        acc = {r["relation"]: r["accuracy"] for r in first.get("relations", [])}
        cons = {r["relation"]: r["consistency"] for r in first.get("relations", [])}
    return {rel: (a, cons.get(rel), *n.get(rel, (0, 0))) for rel, a in acc.items()}


def _pct(v: Any) -> str:
    return fmt_num(v, 1, scale=100) if isinstance(v, (int, float)) else "n/a"


@SECTIONS.register("pararel_relations", "PARAREL per relation: accuracy and consistency", order=22)
def _relations(ctx: ReportContext) -> Content:
    missing = needs(ctx, "consistency", "The per-relation table", "pararel")
    if missing:
        return missing
    per_model = {label: relation_results(d)
                 for label, d in mean_entries(with_pooled(ctx.units(analysis="consistency", dataset="pararel"))).items()}
    rels = list(dict.fromkeys(r for res in per_model.values() for r in res))
    header = ["relation", "facts", "patterns"] + [f"{m} ({role_label(ctx.role(m))}): acc. / cons." for m in per_model]
    rows = []
    for rel in rels:
        n = next((res[rel][2:] for res in per_model.values() if rel in res), (0, 0))
        rows.append([rel, str(n[0]), str(n[1])]
                    + [f"{_pct(res[rel][0])} / {_pct(res[rel][1])}" if rel in res else "–" for res in per_model.values()])
    note = ("Percent. Per relation: accuracy (queries whose prediction is the gold object) and consistency (the "
            "fraction of a fact's paraphrase pairs with the same prediction, averaged over the relation's facts), "
            "each the mean over prompts for a pooled unit; facts and patterns: n per relation (first prompt). "
            "“n/a”: a single usable pattern (no pair). Table 2's numbers are the macro averages over these rows.")
    return [filter_box("Filter relations"), Table(header, rows, note=note)]


def _pred(p: str, ok: bool) -> str:
    return f"{p} {'✓' if ok else '✗'}"


@SECTIONS.register("pararel_examples", "PARAREL example facts: each paraphrase's prediction, base vs IFT", order=23)
def _examples(ctx: ReportContext) -> Content:
    ex = ctx.summary("examples")
    if ex is None or not ex.pairs:
        why = "; ".join(ex.skipped) if ex is not None and ex.skipped else (
            "needs the sweep's `examples` summary: a base and an IFT model with PARAREL consistency results")
        return Absent(why)
    out: list[Content] = []
    for pair in ex.pairs:
        counts = "; ".join(f"{c}: {n}" for c, n in pair.counts.items())
        out.append(Html(f"<h3>{html.escape(pair.base)} → {html.escape(pair.ift)} (PARAREL prompt {pair.prompt})</h3>"
                        f'<p class="note">{len(pair.facts)} of the {pair.n_facts} facts both models answered, taken in '
                        f"turn from each case ({html.escape(counts)}; a fact is consistent when every paraphrase got "
                        "the same prediction). ✓: the gold object.</p>"))
        rows = [[f"{f.relation} #{f.fact}", f"{f.case} ({fmt_num(f.base_consistency, 2)} → {fmt_num(f.ift_consistency, 2)})",
                 text, f.object or "?", _pred(bp, bc), _pred(ip, ic)]
                for f in pair.facts
                for text, bp, ip, bc, ic in zip(f.paraphrases, f.base_predictions, f.ift_predictions,
                                                f.base_correct, f.ift_correct)]
        table = Table(["fact", "case (consistency base → IFT)", "paraphrase", "gold", pair.base, pair.ift], rows)
        out += [filter_box("Filter facts (relation, subject, prediction, case)"), Html(html_table(table))]
    if ex.skipped:
        out.append(Html('<p class="note">' + html.escape("; ".join(ex.skipped)) + "</p>"))
    return out
