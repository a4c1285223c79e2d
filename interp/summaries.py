"""Cross-model summaries (:class:`interp.analysis.Summary`): units computed from other stored
units across models, so the report renders them and computes nothing.

* ``base_vs_ift`` — every base-vs-IFT comparison of :data:`PAIRED_METRICS` (paired bootstrap
  interval, permutation p-value, p adjusted over all of them); the report's findings and its
  base-vs-IFT table.
* ``consistency_classes`` — Fig. 5 / 8's coloring: each IFT model's PARAREL consistency against
  its base's (the paper's classes).
* ``table7`` — Pearson r of extraction rate vs PARAREL consistency across >= 3 IFT models.
* ``sanity`` — numbers that look wrong by construction (:mod:`interp.sanity`), over every unit.
* ``examples`` — example PARAREL facts per base/IFT pair, both models' predictions side by side
  (:mod:`interp.example_facts`).

A model's base is its config's ``base``, else the sweep's only base model (:func:`base_of`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from interp.analysis import Summary, skipped_reason
from interp.registry import register
from interp.results import UnitKey
from interp.serial import Serializable
from interp.stats import Interval

#: "higher-close" bound of :func:`consistency_classes`: 1.4 points, the paper's footnote 4 (the sd
#: of the base model's PARAREL consistency over prompts)
CONSISTENCY_CLOSE = 0.014


def base_of(cfg: Any, label: str) -> str | None:
    """The base model an IFT model ``label`` is compared with: its config's ``base``, else the
    sweep's only base model (``None`` for a base model or when ambiguous)."""
    m = cfg.model(label)
    if m.kind != "ift":
        return None
    if m.base is not None:
        return m.base
    bases = [x.label for x in cfg.models if x.kind == "base"]
    return bases[0] if len(bases) == 1 else None


def pairs(cfg: Any) -> list[tuple[str, str]]:
    """(base, IFT) label pairs of the sweep."""
    return [(b, m.label) for m in cfg.models if (b := base_of(cfg, m.label)) is not None]


def _pooled(model: str, dataset: str, analysis: str) -> UnitKey:
    return UnitKey(model, dataset, analysis, "all")


def _has(cfg: Any, dataset: str, analysis: str) -> bool:
    return dataset in cfg.datasets and analysis in cfg.wanted(dataset)


def _payload(units: Mapping[UnitKey, Any], key: UnitKey) -> dict | None:
    u = units.get(key)
    if u is None or skipped_reason(u.payload) is not None:
        return None
    return u.payload


# ------------------------------------------------------------------------------- base vs IFT


@dataclass(frozen=True)
class PairedMetric:
    """A metric compared between a base and an IFT model on shared items.

    ``items(payload)`` returns item id -> value (a number, or a vector such as a question's
    outcome in each MMLU setup) from the pooled unit's payload; the comparison uses the items both
    models have. ``statistic`` maps the ``[n_items, ...]`` values of one model to the metric
    (default: the mean, so the difference is the mean of per-item differences). Interval: paired
    bootstrap over items; p-value: the two models' values swapped within items at random
    (:func:`interp.stats.paired_test`).
    """

    name: str
    analysis: str
    dataset: str
    items: Callable[[Mapping[str, Any]], Mapping[str, Any]]
    unit: str = "items"
    statistic: Callable[[Any], float] | None = None
    #: "higher" or "lower": which direction means *more consistent* (None: not a consistency
    #: measure, e.g. accuracy); the findings summary words its verdict with it
    consistent_when: str | None = None


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


#: The metrics of the base-vs-IFT comparison; append a :class:`PairedMetric` to add one.
PAIRED_METRICS: list[PairedMetric] = [
    PairedMetric(f"Table 1 gap, {ds.upper()}", "gap", ds, _gap_items, "paraphrase sets", consistent_when="higher")
    for ds in ("mrpc", "tapaco", "pararel")
] + [
    PairedMetric("PARAREL consistency (item mean)", "consistency", "pararel", _pararel_items(1),
                 "(relation, fact) items", consistent_when="higher"),
    PairedMetric("PARAREL accuracy (item mean)", "consistency", "pararel", _pararel_items(0),
                 "(relation, fact) items"),
    PairedMetric("Fig. 2 attribute rate (mean over layers)", "attributes", "pararel", _attribute_items,
                 "(relation, subject) items"),
    PairedMetric("MMLU accuracy", "spread", "mmlu", _mmlu_items, "questions", _mean),
    PairedMetric("MMLU spread (paper's)", "spread", "mmlu", _mmlu_items, "questions", _spread,
                 consistent_when="lower"),
] + [
    PairedMetric(f"BECEL {name} (mean over tasks)", "consistency", "becel", _becel_items(column), unit,
                 consistent_when=better)
    for column, name, unit, better in (("accuracy", "accuracy", "test examples", None),
                                       ("semantic", "consistency under paraphrase", "pairs", "higher"),
                                       ("negation_flip", "negation flip rate (paper)", "pairs", "higher"),
                                       ("negation", "negation, label-aware", "pairs", "higher"),
                                       ("symmetric", "symmetric consistency", "pairs", "higher"))
]


@dataclass(frozen=True)
class PairedRow(Serializable):
    """One base-vs-IFT comparison: the two values, IFT − base with its paired-bootstrap interval,
    the permutation p-value, q (p adjusted over every row, Benjamini–Hochberg) and the verdict."""

    metric: str
    base: str
    ift: str
    base_value: float
    ift_value: float
    diff: Interval
    p_value: float
    q_value: float
    n: int
    unit: str
    consistent_when: str | None
    verdict: str


@dataclass(frozen=True)
class PairedComparisons(Serializable):
    """Every base-vs-IFT comparison of the sweep, and what could not be compared (why)."""

    rows: tuple[PairedRow, ...] = ()
    skipped: tuple[str, ...] = ()


def verdict(diff: float, q: float | None, consistent_when: str | None, alpha: float = 0.05) -> str:
    """A comparison in plain words: "more consistent", "less consistent" or "no detectable change"
    (for a measure that is not a consistency: "higher" / "lower"), by the sign of IFT − base when
    the adjusted q is at most ``alpha``.

    >>> verdict(-0.1, 0.01, "lower")
    'more consistent'
    >>> verdict(0.2, 0.3, "higher")
    'no detectable change'
    """
    if q is None or not math.isfinite(q) or q > alpha or not math.isfinite(diff) or diff == 0:
        return "no detectable change"
    up = diff > 0
    if consistent_when is None:
        return "higher" if up else "lower"
    return "more consistent" if up == (consistent_when == "higher") else "less consistent"


def compare(metric: PairedMetric, base: str, ift: str, base_payload: Mapping[str, Any],
            ift_payload: Mapping[str, Any], *, seed: int = 0, n_boot: int = 1000) -> dict | None:
    """One comparison: paired bootstrap interval and permutation p-value over the shared items
    (``None`` if fewer than 2)."""
    from interp.stats import paired_test

    a, b = metric.items(base_payload), metric.items(ift_payload)
    shared = [k for k in a if k in b]
    if len(shared) < 2:
        return None
    rows = np.array([[a[k], b[k]] for k in shared], dtype=float)
    stat = metric.statistic or _mean
    test = paired_test(rows, stat, seed=seed, n_boot=n_boot)
    return {"metric": metric.name, "base": base, "ift": ift, "base_value": stat(rows[:, 0]),
            "ift_value": stat(rows[:, 1]), "diff": test.diff, "p_value": test.p_value,
            "n": len(shared), "unit": metric.unit, "consistent_when": metric.consistent_when}


def _paired_inputs(cfg: Any) -> list[UnitKey]:
    return [_pooled(m, mt.dataset, mt.analysis) for b, i in pairs(cfg) for mt in PAIRED_METRICS
            if _has(cfg, mt.dataset, mt.analysis) for m in (b, i)]


def _paired(cfg: Any, units: Mapping[UnitKey, Any]) -> PairedComparisons:
    from interp.stats import adjust_p

    rows, skipped = [], []
    for b, ift in pairs(cfg):
        for metric in PAIRED_METRICS:
            if not _has(cfg, metric.dataset, metric.analysis):
                continue
            got = {m: _payload(units, _pooled(m, metric.dataset, metric.analysis)) for m in (b, ift)}
            if got[b] is None or got[ift] is None:
                skipped.append(f"{metric.name}: no pooled result for "
                               + " and ".join(m for m in (b, ift) if got[m] is None))
                continue
            row = compare(metric, b, ift, got[b], got[ift], seed=cfg.seed, n_boot=cfg.limits.n_boot)
            if row is None:
                skipped.append(f"{metric.name}: fewer than 2 shared {metric.unit} for {b} and {ift}")
            else:
                rows.append(row)
    for m in cfg.models:
        if m.kind == "ift" and base_of(cfg, m.label) is None:
            skipped.append(f"{m.label}: no base model to compare with (set its `base`)")
    qs = adjust_p([r["p_value"] for r in rows], "bh")
    out = []
    for r, q in zip(rows, qs):
        diff = float(r["diff"].estimate)
        out.append(PairedRow(**r, q_value=q, verdict=verdict(diff, q, r["consistent_when"])))
    return PairedComparisons(tuple(out), tuple(skipped))


# --------------------------------------------------------------------- Fig. 5 / 8 coloring


def consistency_classes(consistency: Mapping[str, float], base: str, *,
                        close: float = CONSISTENCY_CLOSE) -> dict[str, str]:
    """Fig. 5 / 8's coloring: each model's PARAREL consistency vs the base model's: ``"lower"`` (or
    equal), ``"higher-close"`` (higher by at most ``close``; the paper: 1.4 points) or ``"higher"``.

    Example:
        >>> consistency_classes({"b": 0.80, "x": 0.79, "y": 0.81, "z": 0.85}, "b")
        {'b': 'base', 'x': 'lower', 'y': 'higher-close', 'z': 'higher'}
    """
    if base not in consistency:
        raise ValueError(f"consistency_classes: no consistency for the base model {base!r}")
    ref = float(consistency[base])
    out = {}
    for m, c in consistency.items():
        if m == base:
            out[m] = "base"
        elif not math.isfinite(float(c)) or not math.isfinite(ref):
            out[m] = "unknown"
        else:
            d = float(c) - ref
            out[m] = "lower" if d <= 0 else "higher-close" if d <= close else "higher"
    return out


@dataclass(frozen=True)
class ConsistencyClasses(Serializable):
    """Fig. 5 / 8's classes by model label (``{}`` and ``reason`` when fewer than 2 IFT models and
    their base have PARAREL consistency), and the "higher-close" bound used."""

    classes: dict[str, str] = field(default_factory=dict)
    close: float = CONSISTENCY_CLOSE
    reason: str = ""


def _consistency_value(payload: Mapping[str, Any] | None) -> float:
    """PARAREL consistency of a pooled unit: the mean over prompts (Table 2's number)."""
    if payload is None:
        return math.nan
    if payload.get("consistency_mean") is not None:
        return float(payload["consistency_mean"])
    v = payload.get("consistency")
    return float(v["estimate"]) if isinstance(v, Mapping) and v.get("estimate") is not None else math.nan


def _classes_inputs(cfg: Any) -> list[UnitKey]:
    if not _has(cfg, "pararel", "consistency"):
        return []
    return [_pooled(m, "pararel", "consistency") for p in pairs(cfg) for m in p]


def _classes(cfg: Any, units: Mapping[UnitKey, Any]) -> ConsistencyClasses:
    cons = {m.label: _consistency_value(_payload(units, _pooled(m.label, "pararel", "consistency")))
            for m in cfg.models}
    classes: dict[str, str] = {}
    for b, ift in pairs(cfg):
        if all(math.isfinite(cons[m]) for m in (b, ift)):
            classes.update(consistency_classes({b: cons[b], ift: cons[ift]}, b))
    n_ift = sum(c != "base" for c in classes.values())
    if n_ift < 2:
        return ConsistencyClasses({}, reason=(
            "the paper's coloring (IFT models by PARAREL consistency vs their base) needs ≥ 2 IFT models and a "
            f"base with PARAREL consistency results; {n_ift} IFT model(s) have both"))
    return ConsistencyClasses(classes)


# ---------------------------------------------------------------------------------- Table 7


def _ift(cfg: Any) -> list[str]:
    return [m.label for m in cfg.models if m.kind == "ift"]


def _table7_inputs(cfg: Any) -> list[UnitKey]:
    if len(_ift(cfg)) < 3 or not (_has(cfg, "pararel", "extraction") and _has(cfg, "pararel", "consistency")):
        return []
    return [_pooled(m, "pararel", a) for m in _ift(cfg) for a in ("extraction", "consistency")]


def _table7(cfg: Any, units: Mapping[UnitKey, Any]) -> Any:
    from interp.analyses.extraction import CorrelationTable, ExtractionRates, extraction_consistency_correlation

    have = [m for m in _ift(cfg) if all(_payload(units, _pooled(m, "pararel", a)) is not None
                                        for a in ("extraction", "consistency"))]
    if len(have) < 3:
        return CorrelationTable(tuple(have), (), "all", 0.05, reason=(
            f"needs extraction and PARAREL consistency results for ≥ 3 IFT models; {len(have)} have both "
            f"({', '.join(have) or 'none'})"))
    rates = {m: ExtractionRates.from_dict(_payload(units, _pooled(m, "pararel", "extraction"))) for m in have}
    cons = {m: _consistency_value(_payload(units, _pooled(m, "pararel", "consistency"))) for m in have}
    return extraction_consistency_correlation(rates, cons)


# ---------------------------------------------------------------------- Fig. 3 across models


@dataclass(frozen=True)
class RelationsAcrossModels(Serializable):
    """Fig. 3's mean ± std over models (the paper's band), per prompt label ("0", "1", "2",
    "all"), layer by layer. Only models of one depth are combined: a band across models of
    different depths would mix layers that do not correspond (``reason`` says so)."""

    by_prompt: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "RelationsAcrossModels":
        from interp.analyses.relations import ModelsCurves

        return cls({p: ModelsCurves.from_dict(c) for p, c in d.get("by_prompt", {}).items()},
                   str(d.get("reason", "")))


def _relations_inputs(cfg: Any) -> list[UnitKey]:
    if not _has(cfg, "pararel", "relations") or len(cfg.models) < 2:
        return []
    return [UnitKey(m.label, "pararel", "relations", p) for m in cfg.models for p in (*cfg.prompts, "all")]


def _relations(cfg: Any, units: Mapping[UnitKey, Any]) -> RelationsAcrossModels:
    from interp.analyses.relations import RelationCurves, combine_models

    by_prompt, depths = {}, set()
    for p in (*cfg.prompts, "all"):
        curves = [RelationCurves.from_dict(d) for m in cfg.models
                  if (d := _payload(units, UnitKey(m.label, "pararel", "relations", p))) is not None]
        depths |= {c.n_layers for c in curves}
        if len(curves) >= 2 and len({c.n_layers for c in curves}) == 1:
            by_prompt[str(p)] = combine_models(curves, align="layer")
    reason = "" if len(depths) <= 1 else (
        f"no band across models: their depths differ ({', '.join(map(str, sorted(depths)))} points per curve)")
    return RelationsAcrossModels(by_prompt, reason)


# ------------------------------------------------------------------- sanity flags, examples


def _sanity_inputs(cfg: Any) -> list[UnitKey]:
    from interp.sweep import model_jobs

    return [k for j in model_jobs(cfg) for k in j.units]


def _sanity(cfg: Any, units: Mapping[UnitKey, Any]) -> Any:
    from interp import registry
    from interp.sanity import sanity_flags

    return sanity_flags(units, lambda k: registry.analysis(k.dataset, k.analysis).sections)


def _examples_inputs(cfg: Any) -> list[UnitKey]:
    if not _has(cfg, "pararel", "consistency"):
        return []
    return [_pooled(m, "pararel", "consistency") for pair in pairs(cfg) for m in pair]


def _examples(cfg: Any, units: Mapping[UnitKey, Any]) -> Any:
    from interp.example_facts import ExampleFacts, pick_examples

    out, skipped = [], []
    for b, ift in pairs(cfg):
        got = {m: _payload(units, _pooled(m, "pararel", "consistency")) for m in (b, ift)}
        if got[b] is None or got[ift] is None:
            skipped.append(f"{b} → {ift}: no pooled PARAREL consistency for "
                           + " and ".join(m for m in (b, ift) if got[m] is None))
            continue
        by_prompt = {m: {p.get("prompt_index"): p for p in got[m].get("prompts", [])} for m in (b, ift)}
        shared = [p for p in by_prompt[b] if p in by_prompt[ift]]
        if not shared:
            skipped.append(f"{b} → {ift}: no prompt in common")
            continue
        out.append(pick_examples(b, ift, by_prompt[b][shared[0]], by_prompt[ift][shared[0]], seed=cfg.seed))
    return ExampleFacts(tuple(out), tuple(skipped))


def _register() -> None:
    from interp.analyses.extraction import CorrelationTable
    from interp.example_facts import ExampleFacts
    from interp.sanity import SanityFlags

    register(Summary("base_vs_ift", PairedComparisons, _paired_inputs, _paired,
                     sections=("findings", "base_vs_ift")))
    register(Summary("consistency_classes", ConsistencyClasses, _classes_inputs, _classes,
                     dataset="pararel", sections=("fig5", "fig8")))
    register(Summary("relations_across_models", RelationsAcrossModels, _relations_inputs, _relations,
                     dataset="pararel", sections=("fig3",)))
    register(Summary("table7", CorrelationTable, _table7_inputs, _table7, dataset="pararel",
                     sections=("table7",)))
    register(Summary("sanity", SanityFlags, _sanity_inputs, _sanity, sections=("sanity",)))
    register(Summary("examples", ExampleFacts, _examples_inputs, _examples, dataset="pararel",
                     sections=("pararel_examples",)))


_register()


def paired_metric(name: str) -> PairedMetric | None:
    """The :data:`PAIRED_METRICS` entry named ``name``."""
    return next((m for m in PAIRED_METRICS if m.name == name), None)


__all__: Sequence[str] = ("PAIRED_METRICS", "PairedComparisons", "PairedMetric", "PairedRow", "base_of",
                          "compare", "consistency_classes", "pairs", "verdict")


# ------------------------------------------------------------------- attention knockout


@dataclass(frozen=True)
class KnockoutRow(Serializable):
    """One base-vs-IFT comparison of the knockout drop for one blocked set at one window: the two
    models' mean drop over shared items (each item's drop averaged over its queries and prompts),
    IFT − base with its paired-bootstrap interval, permutation p and q (BH over every row)."""

    base: str
    ift: str
    block: str
    depth: float
    base_layer: int
    ift_layer: int
    n: int
    base_value: float
    ift_value: float
    diff: Interval
    p_value: float
    q_value: float


@dataclass(frozen=True)
class KnockoutComparisons(Serializable):
    """The paired base-vs-IFT knockout tests per window (``alignment``: windows matched by layer
    when the depths agree, else by relative depth, each model's nearest window centre), one finding
    sentence per pair, and what could not be compared (why)."""

    rows: tuple[KnockoutRow, ...] = ()
    alignment: dict[str, str] = field(default_factory=dict)
    findings: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()


def knockout_item_drops(payload: Mapping[str, Any], drops: Any) -> dict[str, np.ndarray]:
    """item -> its ``[n_sets, n_windows]`` drop averaged over its queries (and prompts).

    >>> knockout_item_drops({"clusters": ["a", "a", "b"]}, np.arange(3.0).reshape(3, 1, 1))
    {'a': array([[0.5]]), 'b': array([[2.]])}
    """
    d = np.asarray(drops, dtype=float)
    out: dict[str, list[np.ndarray]] = {}
    for c, row in zip(payload["clusters"], d):
        out.setdefault(str(c), []).append(row)
    return {c: np.mean(rows, axis=0) for c, rows in out.items()}


def match_windows(a: Sequence[float], b: Sequence[float]) -> list[tuple[int, int, float]]:
    """Pairs of window indices ``(i, j, depth)`` at matched relative depths (centre / (L - 1)):
    one per window of the model with fewer, each matched to the other's nearest centre.

    >>> match_windows([0.0, 0.5, 1.0], [0.0, 0.25, 0.5, 0.75, 1.0])
    [(0, 0, 0.0), (1, 2, 0.5), (2, 4, 1.0)]
    """
    flip = len(b) < len(a)
    few, many = (b, a) if flip else (a, b)
    pairs_ = [(i, int(np.argmin([abs(x - y) for y in many])), float(x)) for i, x in enumerate(few)]
    return [(j, i, x) for i, j, x in pairs_] if flip else pairs_


def _knockout_inputs(cfg: Any) -> list[UnitKey]:
    if not _has(cfg, "pararel", "knockout"):
        return []
    return [_pooled(m, "pararel", "knockout") for p in pairs(cfg) for m in p]


def _knockout(cfg: Any, units: Mapping[UnitKey, Any]) -> KnockoutComparisons:
    from interp.analyses.knockout import SET_LABELS, SETS
    from interp.stats import adjust_p, paired_test

    rows, align, skipped, peaks = [], {}, [], []
    for b, ift in pairs(cfg):
        got = {m: units.get(_pooled(m, "pararel", "knockout")) for m in (b, ift)}
        if any(u is None or _payload(units, u.key) is None or "drops" not in u.arrays for u in got.values()):
            skipped.append(f"knockout: no pooled result with per-query drops for {b} and {ift}")
            continue
        pa, pb = got[b].payload, got[ift].payload
        ia, ib = knockout_item_drops(pa, got[b].arrays["drops"]), knockout_item_drops(pb, got[ift].arrays["drops"])
        shared = [k for k in ia if k in ib]
        if len(shared) < 2:
            skipped.append(f"knockout: fewer than 2 shared (relation, fact) items for {b} and {ift}")
            continue
        same = pa["n_layers"] == pb["n_layers"] and pa["centres"] == pb["centres"]
        rel = lambda p: [c / max(p["n_layers"] - 1, 1) for c in p["centres"]]  # noqa: E731
        matched = ([(w, w, x) for w, x in enumerate(rel(pa))] if same else match_windows(rel(pa), rel(pb)))
        align[f"{b} → {ift}"] = "by layer" if same else "by relative depth (nearest window centre)"
        for s, name in enumerate(SETS):
            for wa, wb, depth in matched:
                m = np.array([[ia[k][s, wa], ib[k][s, wb]] for k in shared], dtype=float)
                ok = np.isfinite(m).all(axis=1)
                t = paired_test(m[ok], lambda x: float(np.mean(x)), seed=cfg.seed, n_boot=cfg.limits.n_boot)
                rows.append(dict(base=b, ift=ift, block=name, depth=depth, base_layer=pa["centres"][wa],
                                 ift_layer=pb["centres"][wb], base_value=float(np.mean(m[ok, 0])),
                                 ift_value=float(np.mean(m[ok, 1])), diff=t.diff, p_value=t.p_value, n=int(ok.sum())))
        peaks.append((b, ift, SET_LABELS["subject"]))
    qs = adjust_p([r["p_value"] for r in rows], "bh")
    out = tuple(KnockoutRow(**r, q_value=q) for r, q in zip(rows, qs))
    return KnockoutComparisons(out, align, tuple(_knockout_finding(out, b, ift, label) for b, ift, label in peaks),
                               tuple(skipped))


def _knockout_finding(rows: Sequence[KnockoutRow], base: str, ift: str, label: str) -> str:
    """One sentence: where blocking subject → last hurts most (the larger of the two models' mean
    drops), both drops there, and whether the paired difference is detectable (q ≤ 0.05)."""
    mine = [r for r in rows if r.base == base and r.ift == ift and r.block == "subject"]
    if not mine:
        return f"{base} → {ift}: no knockout comparison."
    r = max(mine, key=lambda r: max(np.nan_to_num(r.base_value, nan=-np.inf), np.nan_to_num(r.ift_value, nan=-np.inf)))
    sig = math.isfinite(r.q_value) and r.q_value <= 0.05
    how = (f"the IFT model's prediction depends {'more' if r.diff.estimate > 0 else 'less'} on subject attention there"
           if sig else "no detectable base-vs-IFT difference there")
    return (f"{base} → {ift}: blocking {label} attention around layer {r.base_layer} (base) / {r.ift_layer} (IFT) "
            f"lowers p(o*) by {100 * r.base_value:.1f}% (base) vs {100 * r.ift_value:.1f}% (IFT), "
            f"difference {100 * r.diff.estimate:+.1f} points [{100 * r.diff.low:+.1f}, {100 * r.diff.high:+.1f}], "
            f"q = {r.q_value:.3g} over {r.n} shared (relation, fact) items: {how}.")


register(Summary("knockout_base_vs_ift", KnockoutComparisons, _knockout_inputs, _knockout,
                 dataset="pararel", sections=("knockout", "findings")))
