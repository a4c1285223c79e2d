"""The base-vs-IFT comparisons shared by the findings summary and the base-vs-IFT table:
:data:`PAIRED_METRICS` (append a :class:`PairedMetric` to add one), :func:`compare_base_ift`, :func:`paired_rows`
(computed once per report) and :func:`verdict`."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from interp import figures
from interp.report.context import BASE, IFT, ReportContext, base_of
from interp.report.sections._common import (
    Pool, becel_tasks, mean_entries, pool_attributes, pool_gap, pool_pararel, with_pooled,
)


@dataclass(frozen=True)
class PairedMetric:
    """A metric compared between a base and an IFT model on shared items.

    ``items(payload)`` returns item id -> value (a number, or a vector such as a question's
    outcome in each MMLU setup); the comparison uses the items both models have. ``statistic``
    maps the ``[n_items, ...]`` values of one model to the metric (default: the mean, so the
    difference is the mean of per-item differences). Interval: paired bootstrap over items;
    p-value: the two models' values swapped within items at random
    (:func:`interp.stats.paired_test`).
    """

    name: str
    analysis: str
    dataset: str
    items: Callable[[Mapping[str, Any]], Mapping[str, Any]]
    pool: Pool | None = None
    unit: str = "items"
    statistic: Callable[[Any], float] | None = None
    #: "higher" or "lower": which direction means *more consistent* (None: not a consistency
    #: measure, e.g. accuracy); the findings summary words its verdict with it
    consistent_when: str | None = None

    def payload(self, ctx: "ReportContext", model: str) -> dict | None:
        """The model's payload for this metric: the pooled (or only) unit's; for BECEL, whose
        tasks are separate units, ``{"tasks": [...]}``."""
        if self.dataset == "becel":
            tasks = becel_tasks(ctx).get(model)
            return {"tasks": tasks} if tasks else None
        units = ctx.units(analysis=self.analysis, dataset=self.dataset, model=model)
        return mean_entries(with_pooled(units, self.pool)).get(model)


def _gap_items(d: Mapping[str, Any]) -> dict[str, float]:
    """Table 1 gap as a mean over independent units (its exact value, so the paired test resamples
    what is independent).

    With ``nonpair_sets`` (random non-pairs made of the sets' texts: TAPACO, PARAREL) the units are
    the S paraphrase sets: ``set_cos[s] - (S / K) * (half the cosine of each non-pair touching s)``.
    Without (MRPC: labelled non-pairs are texts of their own) the units are the S sets and the K
    non-pairs, scaled so that the mean over the S + K units is ``mean(set_cos) - mean(nonpair_cos)``.
    """
    ok = lambda v: v is not None and math.isfinite(v)  # noqa: E731
    sets = {i: v for i, v in enumerate(d.get("set_cos") or []) if ok(v)}
    non = list(d.get("nonpair_cos") or [])
    if not sets or not non or not all(ok(c) for c in non):
        return {}
    S, K = len(sets), len(non)
    if d.get("nonpair_sets") is None:
        n = S + K
        return {**{f"set {i}": v * n / S for i, v in sets.items()},
                **{f"non-pair {k}": -c * n / K for k, c in enumerate(non)}}
    share: dict[int, float] = {}
    for (a, b), c in zip(d["nonpair_sets"], non):
        for si in (a, b):
            share[si] = share.get(si, 0.0) + c / 2
    if set(share) - set(sets):  # a non-pair's set without a cosine (should not happen): no units
        return {}
    return {f"set {i}": v - S / K * share.get(i, 0.0) for i, v in sets.items()}


def _attribute_items(d: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for (rel, subj), row in zip(d.get("items", []), d.get("item_rates", [])):
        vals = [v for v in row if v is not None and math.isfinite(v)]
        if vals:
            out[f"{rel}|{subj}"] = sum(vals) / len(vals)
    return out


def _pararel_items(which: int) -> Callable[[Mapping[str, Any]], dict[str, float]]:
    """Per PARAREL item (relation, fact): accuracy (``which=0``) or consistency (1), averaged over
    the prompts of a pooled result."""

    def items(d: Mapping[str, Any]) -> dict[str, float]:
        from interp.analyses.consistency import item_scores

        acc: dict[str, list[float]] = {}
        for p in d.get("prompts", [d]):
            per = item_scores([tuple(k) for k in p["keys"]], p["predictions"], p["correct"])
            for rel, facts in per.items():
                for fact, vals in facts.items():
                    if math.isfinite(vals[which]):
                        acc.setdefault(f"{rel}|{fact}", []).append(vals[which])
        return {k: sum(v) / len(v) for k, v in acc.items()}

    return items


def _mmlu_items(d: Mapping[str, Any]) -> dict[str, list[float]]:
    """Per MMLU question: its accuracy under each instruction, averaged over the answer
    orderings (pooled ``spread`` payloads that keep per-question outcomes)."""
    from interp.analyses.consistency import MMLUSpread, per_instruction

    if not d.get("correct"):
        return {}
    r = MMLUSpread.from_dict(dict(d))
    per = per_instruction(r.correct_matrix(), np.array([s.instruction for s in r.setups]))
    return dict(zip(r.question_ids, per.tolist()))


def _becel_items(column: str) -> Callable[[Mapping[str, Any]], dict[str, float]]:
    """Per BECEL pair (or test example): its 0/1 value of ``column``, weighted so that the mean
    over all items is Table 2's mean over tasks of the per-task rates (tasks of different size
    count equally)."""

    def items(d: Mapping[str, Any]) -> dict[str, float]:
        from interp.analyses.consistency import BecelTask

        per = {t["task"]: BecelTask.from_dict(t).unit_values(column) for t in d.get("tasks", [])}
        per = {t: v for t, v in per.items() if v}
        total = sum(len(v) for v in per.values())
        return {f"{t}|{k}": x * total / (len(per) * len(v)) for t, v in per.items() for k, x in v.items()}
    return items


def _mean(m: Any) -> float:
    return float(np.mean(m))


def _spread(m: Any) -> float:
    """The paper's MMLU spread from ``[n_questions, n_instructions]`` accuracies."""
    return float(np.ptp(np.mean(m, axis=0)))


#: The metrics of the base-vs-IFT table; append a :class:`PairedMetric` to add one.
PAIRED_METRICS: list[PairedMetric] = [
    PairedMetric(f"Table 1 gap, {ds.upper()}", "gap", ds, _gap_items, pool_gap, "paraphrase sets",
                 consistent_when="higher")
    for ds in ("mrpc", "tapaco", "pararel")
] + [
    PairedMetric("PARAREL consistency (item mean)", "consistency", "pararel", _pararel_items(1), pool_pararel,
                 "(relation, fact) items", consistent_when="higher"),
    PairedMetric("PARAREL accuracy (item mean)", "consistency", "pararel", _pararel_items(0), pool_pararel,
                 "(relation, fact) items"),
    PairedMetric("Fig. 2 attribute rate (mean over layers)", "attributes", "pararel", _attribute_items,
                 pool_attributes, "(relation, subject) items"),
    PairedMetric("MMLU accuracy", "spread", "mmlu", _mmlu_items, None, "questions", _mean),
    PairedMetric("MMLU spread (paper's)", "spread", "mmlu", _mmlu_items, None, "questions", _spread,
                 consistent_when="lower"),
] + [
    PairedMetric(f"BECEL {name} (mean over tasks)", "consistency", "becel", _becel_items(column), None, unit,
                 consistent_when=better)
    for column, name, unit, better in (("accuracy", "accuracy", "test examples", None),
                                       ("semantic", "consistency under paraphrase", "pairs", "higher"),
                                       ("negation_flip", "negation flip rate (paper)", "pairs", "higher"),
                                       ("negation", "negation, label-aware", "pairs", "higher"),
                                       ("symmetric", "symmetric consistency", "pairs", "higher"))
]
METRICS_BY_NAME = {m.name: m for m in PAIRED_METRICS}


def compare_base_ift(metric: PairedMetric, base: str, ift: str, base_payload: Mapping[str, Any],
                     ift_payload: Mapping[str, Any], *, seed: int = 0) -> dict | None:
    """One row of the comparison: paired bootstrap interval and permutation p-value over the shared
    items (None if fewer than 2)."""
    from interp.stats import paired_test

    a, b = metric.items(base_payload), metric.items(ift_payload)
    shared = [k for k in a if k in b]
    if len(shared) < 2:
        return None
    rows = np.array([[a[k], b[k]] for k in shared], dtype=float)
    stat = metric.statistic or _mean
    test = paired_test(rows, stat, seed=seed)
    return {"metric": metric.name, "base": base, "ift": ift, "base_value": stat(rows[:, 0]),
            "ift_value": stat(rows[:, 1]), "diff": test.diff.to_dict(), "p_value": test.p_value,
            "n": len(shared), "unit": metric.unit}


def paired_rows(ctx: ReportContext) -> tuple[list[dict], list[str]]:
    """Every base-vs-IFT comparison of :data:`PAIRED_METRICS` the store allows, with ``q_value``
    (p adjusted over all of them, Benjamini-Hochberg), and what was skipped; computed once per
    report (the findings summary and the base-vs-IFT table show the same rows)."""
    if ctx.paired is not None:
        return ctx.paired
    from interp.stats import adjust_p

    base, ift = ctx.models_with(BASE), ctx.models_with(IFT)
    rows, skipped = [], []
    for model in ift:
        b = base_of(ctx, model)
        if b is None or b not in base:
            skipped.append(f"{model}: no base model to compare with")
            continue
        for metric in PAIRED_METRICS:
            got = {m: metric.payload(ctx, m) for m in (b, model)}
            if got[b] is None or got[model] is None:
                continue
            row = compare_base_ift(metric, b, model, got[b], got[model])
            if row is None:
                skipped.append(f"{metric.name}: fewer than 2 shared {metric.unit} for {b} and {model}")
            else:
                rows.append(row)
    rows = [{**r, "q_value": q} for r, q in zip(rows, adjust_p([r["p_value"] for r in rows], "bh"))]
    ctx.paired = (rows, skipped)
    return ctx.paired


def verdict(row: Mapping[str, Any], consistent_when: str | None, alpha: float = 0.05) -> str:
    """A comparison in plain words: "more consistent", "less consistent" or "no detectable change"
    (for a measure that is not a consistency: "higher" / "lower"), by the sign of IFT − base when
    the adjusted q is at most ``alpha``.

    >>> verdict({"diff": {"estimate": -0.1}, "q_value": 0.01}, "lower")
    'more consistent'
    >>> verdict({"diff": {"estimate": 0.2}, "q_value": 0.3}, "higher")
    'no detectable change'
    """
    q, d = row.get("q_value"), figures.interval_parts(row["diff"])[0]
    if q is None or not math.isfinite(q) or q > alpha or not math.isfinite(d) or d == 0:
        return "no detectable change"
    up = d > 0
    if consistent_when is None:
        return "higher" if up else "lower"
    return "more consistent" if up == (consistent_when == "higher") else "less consistent"
