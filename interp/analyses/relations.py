"""Relation curves (Fig. 3, Section 4 "Relations"): where in depth does the relation show up?

Per layer, the mean cosine of last-token residuals (``blocks.{l}.hook_resid_post``) of PARAREL
query pairs in two settings:

1. ``different``: queries of different relations, with different subjects and different objects;
2. ``same``: queries of the same relation with different subjects, different objects and different
   paraphrased patterns whose **last token differs** (footnote 6). "Last token" is the token id at
   the captured position (the prompt's last token, taken from :class:`~interp.capture.Activations`);
   without token ids, the last word of the pattern before ``[Y]`` is compared instead.

Pairs are sampled per relation with a seed (at most ``max_pairs`` per relation and setting; setting 1
pairs a query of the relation with a random query of another relation). Each curve is the macro
average over relations, using only relations that have pairs in both settings (the others are
listed in ``excluded``, e.g. a relation with a single causal pattern). Intervals: bootstrap over
relations (their mean curves), the independent unit, since a relation's sampled pairs share its
queries; the same for one prompt and for the average over prompts.

"Relation layers": the drop of a curve at layer ``l`` is ``c(l-1) - c(l)``. Setting 1 drops faster
than setting 2 exactly where the gap ``g(l) = same(l) - different(l)`` increases. The relation
layers are the contiguous run of layers ``l >= 1`` with ``g(l) - g(l-1) > tol`` whose total increase
is largest, reported as ``(first, last)`` (inclusive, in the curve's layer index).

Example:
    >>> relation_layers([0.9, 0.8, 0.5, 0.3, 0.3], [0.9, 0.8, 0.7, 0.7, 0.7])
    (2, 3)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from jaxtyping import Float
from torch import Tensor

from interp.analyses.paraphrase_gap import _check_vectors, pair_cosines
from interp.capture import Activations
from interp.serial import Serializable
from interp.stats import Interval, bootstrap_counts, ignore_nan_warnings, percentile_intervals

#: Above this many candidate pairs per relation, pairs are drawn by rejection sampling.
_ENUMERATE_MAX = 1_000_000
ALIGNS = ("relative", "layer")


def relation_layers(different: Sequence[float], same: Sequence[float], *,
                    tol: float = 0.0) -> tuple[int, int] | None:
    """The layers where setting 1 (``different``) drops faster than setting 2 (``same``): the
    contiguous run of ``l >= 1`` with ``g(l) - g(l-1) > tol``, ``g = same - different``, of largest
    total increase (the earliest on a tie). ``None`` when the gap never increases.

    Example:
        >>> relation_layers([1.0, 0.9, 0.7, 0.5, 0.5, 0.4], [1.0, 0.9, 0.9, 0.9, 0.9, 0.9])
        (2, 3)
    """
    d, s = np.asarray(different, float), np.asarray(same, float)
    if d.shape != s.shape or d.ndim != 1:
        raise ValueError(f"different / same: need two curves of equal length, got {d.shape} and {s.shape}")
    dg = np.diff(s - d)
    best: tuple[float, int, int] | None = None
    start = None
    for l, inc in enumerate(list(dg > tol) + [False], start=1):
        if inc and start is None:
            start = l
        elif not inc and start is not None:
            total = float(dg[start - 1:l - 1].sum())
            if best is None or total > best[0]:
                best = (total, start, l - 1)
            start = None
    return None if best is None else (best[1], best[2])


def _sample_pairs(left: np.ndarray, right: np.ndarray, ok: Callable[[np.ndarray, np.ndarray], np.ndarray],
                  cap: int, rng: np.random.Generator, *, unordered: bool) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``cap`` distinct pairs ``(a in left, b in right)`` with ``ok(a, b)``: all candidates
    enumerated when there are few, else rejection sampling (``20 * cap`` draws)."""
    if len(left) == 0 or len(right) == 0:
        z = np.zeros(0, np.int64)
        return z, z
    if len(left) * len(right) <= _ENUMERATE_MAX:
        a, b = np.repeat(left, len(right)), np.tile(right, len(left))
        keep = a < b if unordered else np.ones(len(a), bool)
        a, b = a[keep], b[keep]
        keep = ok(a, b)
        a, b = a[keep], b[keep]
        if len(a) > cap:
            pick = np.sort(rng.choice(len(a), size=cap, replace=False))
            a, b = a[pick], b[pick]
        return a, b
    draws = 20 * cap
    a = left[rng.integers(0, len(left), draws)]
    b = right[rng.integers(0, len(right), draws)]
    if unordered:
        a, b = np.minimum(a, b), np.maximum(a, b)
    keep = (a != b) & ok(a, b)
    a, b = a[keep], b[keep]
    _, first = np.unique(a * (int(max(left.max(), right.max())) + 1) + b, return_index=True)
    first = np.sort(first)[:cap]
    return a[first], b[first]


@dataclass(frozen=True)
class RelationCurves(Serializable):
    """Fig. 3 for one model (and prompt, or averaged over prompts): the per-layer cosine of
    setting 1 (``different`` relations) and setting 2 (``same`` relation), macro-averaged over
    ``relations``, with bootstrap intervals; the per-relation curves and pair counts; and the
    relation layers (see :func:`relation_layers`). With ``embeddings=True`` index 0 is the
    embedding and ``l + 1`` is block ``l``. A prompt average (:func:`combine_prompts`) keeps the
    per-prompt curves in ``per_prompt``.
    """

    different: tuple[Interval, ...]
    same: tuple[Interval, ...]
    relations: tuple[str, ...]
    excluded: tuple[str, ...]
    n_pairs_different: tuple[int, ...]
    n_pairs_same: tuple[int, ...]
    relation_layers: tuple[int, int] | None
    model: str = ""
    embeddings: bool = False
    last_token: str = "token_id"
    per_relation_different: tuple[tuple[float, ...], ...] = field(default=(), repr=False)
    per_relation_same: tuple[tuple[float, ...], ...] = field(default=(), repr=False)
    n_prompts: int = 1
    per_prompt: tuple["RelationCurves", ...] = field(default=(), repr=False)

    @property
    def n_layers(self) -> int:
        return len(self.different)

    def curve(self, which: str = "different") -> list[float]:
        """The per-layer estimates of ``"different"`` or ``"same"``."""
        return [i.estimate for i in getattr(self, which)]


def _last_word(pattern: str) -> str:
    words = pattern.split("[Y]")[0].split()
    return words[-1].lower() if words else ""


def _relation_intervals(per_rel: np.ndarray, n_boot: int, confidence: float,
                        rng: np.random.Generator) -> tuple[Interval, ...]:
    """Per layer, the macro average over relations with a bootstrap over relations (the
    independent unit: sampled pairs of one relation share its queries), the same resamples at
    every layer; ``Interval.n`` = relations."""
    boots = bootstrap_counts(len(per_rel), n_boot, rng) @ per_rel / len(per_rel)
    return percentile_intervals(per_rel.mean(0), boots, len(per_rel), confidence)


def relation_curves_from_resid(
    resid: Float[Tensor, "n n_layers d_model"],
    queries: Sequence[Any],
    last_tokens: Sequence[int] | None = None,
    *,
    max_pairs: int = 200,
    seed: int = 0,
    n_boot: int = 1000,
    confidence: float = 0.95,
    tol: float = 0.0,
    model: str = "",
    embeddings: bool = False,
) -> RelationCurves:
    """Fig. 3 from last-token residuals ``resid`` (row i = ``queries[i]``).

    Args:
        queries: :class:`~interp.queries.ParaRelQuery` objects (relation, pattern_index, subject,
            object and pattern are used).
        last_tokens: the last token id of each query prompt (footnote 6); ``None``: compare the
            last word of the pattern before ``[Y]``.
        max_pairs: at most this many pairs per relation and setting (seeded sample).
        tol: the minimum gap increase per layer for :func:`relation_layers`.

    Raises:
        ValueError: misaligned inputs, or no relation with pairs in both settings.

    Example:
        >>> curves = relation_curves_from_resid(acts.resid_post, queries, last_tokens)  # doctest: +SKIP
        >>> curves.relation_layers  # doctest: +SKIP
        (3, 8)
    """
    resid = _check_vectors(resid, 3, "resid")
    n = resid.shape[0]
    if len(queries) != n:
        raise ValueError(f"queries: {len(queries)} queries for {n} rows of resid")
    if last_tokens is not None and len(last_tokens) != n:
        raise ValueError(f"last_tokens: {len(last_tokens)} tokens for {n} queries")
    if max_pairs < 1:
        raise ValueError(f"max_pairs: must be >= 1, got {max_pairs}")

    def codes(values: Sequence[Any]) -> np.ndarray:
        return np.unique(np.asarray([str(v) for v in values], dtype=object), return_inverse=True)[1]

    order = list(dict.fromkeys(q.relation for q in queries))
    rel_index = {name: i for i, name in enumerate(order)}
    rel = np.array([rel_index[q.relation] for q in queries])
    subj = codes([q.subject for q in queries])
    obj = codes([q.object for q in queries])
    pat = codes([f"{q.relation}\x00{q.pattern_index}" for q in queries])
    last = codes(last_tokens if last_tokens is not None else [_last_word(q.pattern) for q in queries])
    rng = np.random.default_rng(seed)
    rows = np.arange(n)

    def ok_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (subj[a] != subj[b]) & (obj[a] != obj[b])

    def ok_same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return ok_diff(a, b) & (pat[a] != pat[b]) & (last[a] != last[b])

    pairs: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"different": [], "same": []}
    used, excluded = [], []
    for name in order:
        inside, outside = rows[rel == rel_index[name]], rows[rel != rel_index[name]]
        dif = _sample_pairs(inside, outside, ok_diff, max_pairs, rng, unordered=False)
        sam = _sample_pairs(inside, inside, ok_same, max_pairs, rng, unordered=True)
        if len(dif[0]) == 0 or len(sam[0]) == 0:
            excluded.append(name)
            continue
        used.append(name)
        pairs["different"].append(dif)
        pairs["same"].append(sam)
    if not used:
        raise ValueError(f"queries: no relation has pairs in both settings (excluded: {excluded}); "
                         "setting 2 needs 2+ patterns with different last tokens and 2+ facts with "
                         "different subjects and objects")

    curves: dict[str, Any] = {}
    for setting, plist in pairs.items():
        a = np.concatenate([p[0] for p in plist])
        b = np.concatenate([p[1] for p in plist])
        cos = pair_cosines(resid, a, b).numpy()  # [P, L]
        bounds = np.cumsum([0] + [len(p[0]) for p in plist])
        groups = [cos[bounds[i]:bounds[i + 1]] for i in range(len(plist))]
        per_rel = np.stack([g.mean(0) for g in groups])  # [R, L]
        curves[setting] = (_relation_intervals(per_rel, n_boot, confidence, rng), per_rel,
                           tuple(len(p[0]) for p in plist))
    d_iv, d_rel, d_n = curves["different"]
    s_iv, s_rel, s_n = curves["same"]
    return RelationCurves(
        d_iv, s_iv, tuple(used), tuple(excluded), d_n, s_n,
        relation_layers([i.estimate for i in d_iv], [i.estimate for i in s_iv], tol=tol),
        model, embeddings, "token_id" if last_tokens is not None else "word",
        tuple(tuple(map(float, r)) for r in d_rel), tuple(tuple(map(float, r)) for r in s_rel),
    )


def relation_curves(
    acts: Activations,
    queries: Sequence[Any],
    *,
    max_pairs: int = 200,
    seed: int = 0,
    n_boot: int = 1000,
    confidence: float = 0.95,
    tol: float = 0.0,
    model: str = "",
    embeddings: bool = False,
) -> RelationCurves:
    """Fig. 3 from the shared PARAREL capture at the last token (``acts["last"]``, with ``resid``):
    :func:`relation_curves_from_resid` on ``acts.resid_post`` (``acts.resid`` with
    ``embeddings=True``), footnote 6 applied to the captured last token ids.

    Example:
        >>> acts = capture(model, [q.prompt for q in queries])  # doctest: +SKIP
        >>> relation_curves(acts, queries, model=model.name).curve("same")[:3]  # doctest: +SKIP
        [0.98, 0.71, 0.52]
    """
    resid = acts.resid if embeddings else acts.resid_post
    if resid is None:
        raise ValueError("acts: the residual stream was not captured (keep must include 'resid')")
    last = [toks[int(i)] for toks, i in zip(acts.tokens, acts.token_index)]
    return relation_curves_from_resid(resid, queries, last, max_pairs=max_pairs, seed=seed,
                                      n_boot=n_boot, confidence=confidence, tol=tol, model=model,
                                      embeddings=embeddings)


def combine_prompts(curves: Sequence[RelationCurves], *, n_boot: int = 1000,
                    confidence: float = 0.95, seed: int = 0, tol: float = 0.0) -> RelationCurves:
    """Average one model's curves over prompts (the paper averages over Table 3's 3 prompts).

    Each relation's curve is averaged over prompts, then macro-averaged over relations (the
    estimate equals the mean of the per-prompt estimates). The interval resamples relations
    (their prompt-averaged curves), as for one prompt. The relation layers are found on the
    averaged curves.

    Example:
        >>> per_prompt = [relation_curves(acts[i], queries[i]) for i in range(3)]  # doctest: +SKIP
        >>> combine_prompts(per_prompt).relation_layers  # doctest: +SKIP
        (3, 8)
    """
    if len(curves) == 0:
        raise ValueError("curves: nothing to combine")
    first = curves[0]
    for c in curves[1:]:
        if (c.relations, c.n_layers, c.embeddings) != (first.relations, first.n_layers, first.embeddings):
            raise ValueError("curves: the prompts differ in relations, layers or embeddings "
                             f"({c.relations} vs {first.relations}); combine curves of one model "
                             "computed on the same queries")
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {}
    for which in ("different", "same"):
        per_rel = np.mean([np.asarray(getattr(c, f"per_relation_{which}"), float) for c in curves], 0)
        out[which] = (_relation_intervals(per_rel, n_boot, confidence, rng), per_rel)
    d_iv, d_rel = out["different"]
    s_iv, s_rel = out["same"]
    return RelationCurves(
        d_iv, s_iv, first.relations, first.excluded,
        tuple(int(sum(n)) for n in zip(*(c.n_pairs_different for c in curves))),
        tuple(int(sum(n)) for n in zip(*(c.n_pairs_same for c in curves))),
        relation_layers([i.estimate for i in d_iv], [i.estimate for i in s_iv], tol=tol),
        first.model, first.embeddings, first.last_token,
        tuple(tuple(map(float, r)) for r in d_rel), tuple(tuple(map(float, r)) for r in s_rel),
        len(curves), tuple(curves),
    )


@dataclass(frozen=True)
class ModelsCurves(Serializable):
    """Fig. 3 across models: mean and std (``ddof=0``) over models of each setting's curve.

    ``x`` is the layer index (``align="layer"``; models with fewer layers stop contributing,
    ``n_models`` counts them per point) or the relative depth ``l / (L - 1)`` in ``[0, 1]``
    (``align="relative"``; each model's curve linearly interpolated onto ``x``).
    ``relation_layers`` is found on the mean curves, in units of ``x``.
    """

    x: tuple[float, ...]
    different_mean: tuple[float, ...]
    different_std: tuple[float, ...]
    same_mean: tuple[float, ...]
    same_std: tuple[float, ...]
    n_models: tuple[int, ...]
    models: tuple[str, ...]
    align: str
    relation_layers: tuple[float, float] | None


def combine_models(curves: Sequence[RelationCurves], *, align: str = "relative",
                   n_points: int | None = None, tol: float = 0.0) -> ModelsCurves:
    """Mean +- std across models of Fig. 3's curves (the paper's band is the std across models).

    Models have different depths: ``align="relative"`` (default, for the figure) interpolates each
    curve onto ``n_points`` (default: the most layers) relative depths in ``[0, 1]``;
    ``align="layer"`` aligns by layer index.

    Example:
        >>> m = combine_models([curves_a, curves_b], align="layer")  # doctest: +SKIP
        >>> m.different_mean[:2], m.different_std[:2]  # doctest: +SKIP
        ((0.97, 0.8), (0.01, 0.05))
    """
    if len(curves) == 0:
        raise ValueError("curves: no models to combine")
    if align not in ALIGNS:
        raise ValueError(f"align: {align!r}; choose one of {ALIGNS}")
    lengths = [c.n_layers for c in curves]
    if min(lengths) < 2:
        raise ValueError(f"curves: every model needs 2+ layers, got {lengths}")
    width = n_points or max(lengths)
    if align == "layer":
        x = np.arange(max(lengths), dtype=float)
    else:
        x = np.linspace(0.0, 1.0, width)

    def stack(which: str) -> np.ndarray:
        out = np.full((len(curves), len(x)), np.nan)
        for m, c in enumerate(curves):
            y = np.asarray(c.curve(which), float)
            if align == "layer":
                out[m, : len(y)] = y
            else:
                out[m] = np.interp(x, np.linspace(0.0, 1.0, len(y)), y)
        return out

    dif, sam = stack("different"), stack("same")
    with ignore_nan_warnings():
        dm, ds, sm, ss = np.nanmean(dif, 0), np.nanstd(dif, 0), np.nanmean(sam, 0), np.nanstd(sam, 0)
    rl = relation_layers(dm, sm, tol=tol)
    return ModelsCurves(
        tuple(map(float, x)), tuple(map(float, dm)), tuple(map(float, ds)), tuple(map(float, sm)),
        tuple(map(float, ss)), tuple(int(v) for v in (~np.isnan(dif)).sum(0)),
        tuple(c.model for c in curves), align,
        None if rl is None else (float(x[rl[0]]), float(x[rl[1]])),
    )


__all__ = ["ALIGNS", "ModelsCurves", "RelationCurves", "combine_models", "combine_prompts",
           "relation_curves", "relation_curves_from_resid", "relation_layers"]


# ============================================================================================
# Registration (interp.registry): Fig. 3


def _unit(job: Any) -> RelationCurves:
    return relation_curves(job.acts["last"], job.items, max_pairs=job.limits.relation_max_pairs,
                           seed=job.seed, n_boot=job.n_boot, model=job.model.name)


def _register() -> None:
    from interp.analysis import Analysis, Needs
    from interp.registry import register

    register(Analysis("relations", ("pararel",), RelationCurves, _unit, needs=Needs({"last": ("resid",)}),
                      pool=lambda rs, job: combine_prompts(rs, n_boot=job.n_boot, seed=job.seed),
                      sections=("fig3",)))


_register()
