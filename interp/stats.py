"""Statistics shared by the analyses: bootstrap intervals, paired tests, permutation tests,
multiple-testing correction and Pearson r, all on top of :mod:`scipy.stats`.

Every function is seeded and pure. Intervals are percentile bootstrap intervals
(``scipy.stats.bootstrap``) over the resampled units that are independent (subjects, questions,
examples or paraphrase sets, as each analysis says); p-values of paired comparisons come from
randomisation (``scipy.stats.permutation_test``: the two models' values are swapped within each
unit), which stays valid where a bootstrap tail does not.

Example:
    >>> ci = bootstrap_ci([0.0, 1.0, 1.0, 1.0], n_boot=2000, seed=0)
    >>> round(ci.estimate, 2), ci.low <= ci.estimate <= ci.high
    (0.75, True)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as _st

from interp.serial import Serializable


@dataclass(frozen=True)
class Interval(Serializable):
    """A point estimate with a (1 - alpha) bootstrap interval (``to_dict``: :mod:`interp.serial`)."""

    estimate: float
    low: float
    high: float
    n: int
    confidence: float = 0.95

    def __format__(self, spec: str) -> str:
        spec = spec or ".3f"
        return f"{self.estimate:{spec}} [{self.low:{spec}}, {self.high:{spec}}]"


def _nan_interval(n: int, confidence: float) -> Interval:
    return Interval(math.nan, math.nan, math.nan, n, confidence)


def resample_counts(idx: np.ndarray, n: int) -> np.ndarray:
    """``[..., n]`` counts of each of ``n`` units in resamples given as drawn indices ``[..., m]``.

    >>> resample_counts(np.array([[0, 0, 2], [1, 2, 2]]), 3).tolist()
    [[2.0, 0.0, 1.0], [0.0, 1.0, 2.0]]
    """
    flat = np.asarray(idx).astype(np.int64).reshape(-1, idx.shape[-1])
    offsets = n * np.arange(len(flat))[:, None]
    counts = np.bincount((flat + offsets).ravel(), minlength=len(flat) * n).reshape(len(flat), n)
    return counts.astype(np.float64).reshape(idx.shape[:-1] + (n,))


def bootstrap_counts(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``[n_boot, n]`` counts of each unit in ``n_boot`` resamples with replacement."""
    return resample_counts(rng.integers(0, n, size=(n_boot, n)), n)


@contextmanager
def ignore_nan_warnings() -> Iterator[None]:
    """Silence numpy's 'mean of empty slice' / 'invalid value' warnings: where they fire, the NaN
    they flag is the intended result (a unit with no value, a resample that drew none)."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def percentile_intervals(estimates: np.ndarray, boots: np.ndarray, n: int,
                         confidence: float) -> tuple[Interval, ...]:
    """One percentile :class:`Interval` per column of ``boots`` (``[n_boot, columns]``) around
    ``estimates[j]``; NaN replicates are dropped, a NaN estimate or no replicate gives NaN.

    >>> percentile_intervals(np.array([0.5]), np.array([[0.0], [1.0], [np.nan]]), 2, 0.5)
    (Interval(estimate=0.5, low=0.25, high=0.75, n=2, confidence=0.5),)
    """
    alpha = (1.0 - confidence) / 2
    out = []
    for j, est in enumerate(np.asarray(estimates, dtype=float)):
        col = boots[:, j]
        col = col[~np.isnan(col)]
        if math.isnan(est) or len(col) == 0:
            out.append(_nan_interval(n, confidence))
            continue
        lo, hi = np.quantile(col, [alpha, 1 - alpha])
        out.append(Interval(float(est), float(lo), float(hi), n, confidence))
    return tuple(out)


def _weighted_unit_means(w: np.ndarray, x0: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``[b, layers]``: per replicate (unit counts ``w [b, n]``), the mean over prompts of the
    ``w``-weighted mean of the valid units (``x0 [prompts, n, layers]``, 0 where not valid)."""
    with ignore_nan_warnings():
        den = w @ valid.T.astype(np.float64)  # [b, prompts]
        return np.nanmean(np.einsum("bn,rnl->brl", w, x0) / den[..., None], axis=1)


def _chunk(units: int, r: int, layers: int) -> int:
    """Replicates per chunk: bounds the ``[b, prompts, layers]`` temporaries (~4M values)."""
    return max(1, 4_000_000 // max(1, units * max(r, layers)))


def cluster_mean_replicates(x: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap replicates ``[n_boot, layers]`` of the mean over prompts of the mean over units,
    for ``x [prompts, units, layers]`` (NaN: the unit has no value in that prompt); each replicate
    resamples the units with replacement, the same draw for every prompt and layer (paired)."""
    r, n, layers = x.shape
    valid = ~np.isnan(x[..., 0])  # [r, n]
    x0 = np.nan_to_num(x)
    out = np.empty((n_boot, layers))
    step = _chunk(n, r, layers)
    for s in range(0, n_boot, step):
        w = bootstrap_counts(n, min(step, n_boot - s), rng)  # [b, n]
        out[s:s + len(w)] = _weighted_unit_means(w, x0, valid)
    return out


def pair_cluster_replicates(x: np.ndarray, non: np.ndarray, non_sets: np.ndarray, n_boot: int,
                            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Cluster bootstrap over sets for a within-set mean and a between-set pair mean at once
    (cos(paraph.) and cos(not paraph.) of :mod:`interp.analyses.paraphrase_gap`).

    ``x [prompts, sets, layers]`` (NaN: no value for that set), ``non [prompts, K, layers]`` and
    ``non_sets [K, 2]``, the sets of each pair's two members. A replicate draws sets with
    replacement (counts ``w``); the first mean is the prompt-mean of the ``w``-weighted set mean
    (as :func:`cluster_mean_replicates`), the second weighs each pair by ``w[a] * w[b]`` (how often
    both its members' sets were drawn), so shared members move both means together. Returns two
    ``[n_boot, layers]``.
    """
    r, n, layers = x.shape
    valid = ~np.isnan(x[..., 0])
    x0 = np.nan_to_num(x)
    out_p, out_n = np.empty((n_boot, layers)), np.empty((n_boot, layers))
    step = _chunk(max(n, non.shape[1]), r, layers)
    for s in range(0, n_boot, step):
        w = bootstrap_counts(n, min(step, n_boot - s), rng)  # [b, sets]
        wk = w[:, non_sets[:, 0]] * w[:, non_sets[:, 1]]  # [b, K]
        out_p[s:s + len(w)] = _weighted_unit_means(w, x0, valid)
        with ignore_nan_warnings():
            num = np.einsum("bk,rkl->brl", wk, non)
            out_n[s:s + len(w)] = (num / wk.sum(1)[:, None, None]).mean(axis=1)
    return out_p, out_n


def _percentile_bootstrap(data: tuple, statistic: Callable[..., Any], *, n_boot: int,
                          confidence: float, seed: int, vectorized: bool,
                          paired: bool = False) -> Any:
    """``scipy.stats.bootstrap`` (percentile, seeded) with its degenerate-data warnings silenced."""
    with ignore_nan_warnings():
        warnings.simplefilter("ignore", getattr(_st, "DegenerateDataWarning", RuntimeWarning))
        return _st.bootstrap(data, statistic, n_resamples=n_boot, confidence_level=confidence,
                             method="percentile", vectorized=vectorized, paired=paired,
                             random_state=np.random.default_rng(seed))


def _scipy_interval(data: tuple, statistic: Callable[..., Any], *, estimate: float, n: int,
                    n_boot: int, confidence: float, seed: int, vectorized: bool,
                    paired: bool = False) -> Interval:
    """``scipy.stats.bootstrap`` (percentile) wrapped into an :class:`Interval`; a resample
    distribution with no spread gives the zero-width interval at its value."""
    res = _percentile_bootstrap(data, statistic, n_boot=n_boot, confidence=confidence, seed=seed,
                                vectorized=vectorized, paired=paired)
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if math.isnan(lo) or math.isnan(hi):
        dist = np.asarray(res.bootstrap_distribution, dtype=float)
        dist = dist[~np.isnan(dist)]
        if len(dist) == 0:
            return Interval(estimate, math.nan, math.nan, n, confidence)
        alpha = (1.0 - confidence) / 2
        lo, hi = (float(v) for v in np.quantile(dist, [alpha, 1 - alpha]))
    return Interval(estimate, lo, hi, n, confidence)


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    statistic: Callable[[np.ndarray], float] = np.mean,
    *,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap interval of ``statistic`` over ``values`` (resampled rows).

    ``values`` may be 2-D (one row per unit); ``statistic`` then receives the resampled rows.
    NaN is returned for an empty input; a single value gives a zero-width interval.

    Example:
        >>> bootstrap_ci([1.0, 2.0, 3.0], seed=1).estimate
        2.0
        >>> bootstrap_ci([1.0, 1.0, 1.0]).low
        1.0
    """
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        return _nan_interval(0, confidence)
    est = float(statistic(x))
    if n == 1:
        return Interval(est, est, est, 1, confidence)
    if statistic is np.mean and x.ndim == 1:
        return _scipy_interval((x,), np.mean, estimate=est, n=n, n_boot=n_boot,
                               confidence=confidence, seed=seed, vectorized=True)
    rows = np.arange(n)
    return _scipy_interval((rows,), lambda idx: statistic(x[idx.astype(int)]), estimate=est, n=n,
                           n_boot=n_boot, confidence=confidence, seed=seed, vectorized=False)


def grouped_bootstrap_ci(
    groups: Sequence[Sequence[float]],
    *,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Interval of a macro average: the mean over groups of each group's mean, resampling
    units within each group (e.g. subjects within relations), keeping the groups fixed
    (a stratified bootstrap: ``scipy.stats.bootstrap`` with one sample per group).

    Example:
        >>> grouped_bootstrap_ci([[1.0, 1.0], [0.0, 1.0]]).estimate
        0.75
    """
    arrays = [np.asarray(g, dtype=float) for g in groups if len(g) > 0]
    if not arrays:
        return _nan_interval(0, confidence)
    est = float(np.mean([a.mean() for a in arrays]))
    n = sum(len(a) for a in arrays)
    varying = [a for a in arrays if len(a) > 1]
    if not varying:
        return Interval(est, est, est, n, confidence)
    fixed = sum(float(a.mean()) for a in arrays if len(a) == 1)
    k = len(arrays)

    def macro(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        return (sum(s.mean(axis=axis) for s in samples) + fixed) / k
    return _scipy_interval(tuple(varying), macro, estimate=est, n=n, n_boot=n_boot,
                           confidence=confidence, seed=seed, vectorized=True)


def ratio_bootstrap_ci(
    numerators: Sequence[Sequence[float]] | np.ndarray,
    denominators: Sequence[float] | np.ndarray,
    *,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> list[Interval]:
    """Percentile bootstrap intervals of the ratios ``sum(numerators[:, j]) / sum(denominators)``,
    resampling units (rows) with replacement: a cluster bootstrap when each row sums one cluster's
    observations (e.g. a PARAREL item's events per layer and its number of queries).

    ``numerators`` is ``[n_units, k]``, ``denominators`` ``[n_units]`` (each > 0); the ``k`` ratios
    share the resamples, which depend only on ``n_units`` and ``seed``. ``Interval.n`` is the number
    of units. One unit gives zero-width intervals, none NaN.

    Example:
        >>> ivs = ratio_bootstrap_ci([[3, 0], [0, 0]], [3, 3], seed=0)  # 2 clusters of 3 queries
        >>> [(iv.estimate, iv.low, iv.high) for iv in ivs]
        [(0.5, 0.0, 1.0), (0.0, 0.0, 0.0)]
    """
    num = np.asarray(numerators, dtype=float)
    den = np.asarray(denominators, dtype=float)
    if num.ndim != 2 or den.shape != (num.shape[0],):
        raise ValueError(f"ratio_bootstrap_ci: numerators {num.shape} and denominators {den.shape}; "
                         "expected [n_units, k] and [n_units]")
    n, k = num.shape
    if n == 0:
        return [_nan_interval(0, confidence) for _ in range(k)]
    if np.any(den <= 0):
        raise ValueError("ratio_bootstrap_ci: every unit needs a positive denominator")
    est = num.sum(axis=0) / den.sum()
    if n == 1:
        return [Interval(float(e), float(e), float(e), 1, confidence) for e in est]

    def ratios(idx: np.ndarray, axis: int = -1) -> np.ndarray:
        w = resample_counts(idx, n).reshape(-1, n)  # resamples x units
        r = (w @ num) / (w @ den)[:, None]  # [resamples, k]
        return np.moveaxis(r.reshape(idx.shape[:-1] + (k,)), -1, 0)
    res = _percentile_bootstrap((np.arange(n, dtype=float),), ratios, n_boot=n_boot,
                                confidence=confidence, seed=seed, vectorized=True)
    low = np.atleast_1d(res.confidence_interval.low)
    high = np.atleast_1d(res.confidence_interval.high)
    return [Interval(float(e), float(lo), float(hi), n, confidence) for e, lo, hi in zip(est, low, high)]


@dataclass(frozen=True)
class PairedTest(Serializable):
    """A paired comparison of two models on the same units: ``diff = stat(b) - stat(a)`` with its
    bootstrap interval and a two-sided randomisation p-value."""

    diff: Interval
    p_value: float


def paired_bootstrap(
    a: Sequence[float],
    b: Sequence[float],
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedTest:
    """``mean(b) - mean(a)`` over shared units: paired bootstrap interval of the difference and a
    two-sided paired permutation (sign-flip) p-value, exact when ``2**n <= n_boot``.

    Example:
        >>> t = paired_bootstrap([0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 0], seed=0)
        >>> round(t.diff.estimate, 3), round(t.p_value, 4)  # exact: 2 of the 64 sign flips
        (0.833, 0.0625)
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"paired_bootstrap: {x.shape} vs {y.shape}: the units must be shared")
    return paired_test(np.stack([x, y], axis=1), lambda m: float(m.mean()), n_boot=n_boot,
                       confidence=confidence, seed=seed)


def paired_test(
    rows: np.ndarray,
    statistic: Callable[[np.ndarray], float],
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedTest:
    """Compare two models on shared units with any statistic of the units.

    ``rows`` is ``[n_units, 2, ...]``: unit ``i``'s data for model a (``rows[i, 0]``) and model b
    (``rows[i, 1]``); ``statistic`` maps ``[n_units, ...]`` (one model's rows) to a number.
    ``diff = statistic(rows[:, 1]) - statistic(rows[:, 0])``; the interval resamples units (paired
    bootstrap) and the two-sided p-value swaps the two models' data within each unit at random
    (a permutation test: valid for non-linear statistics such as a max - min spread).

    Example:
        >>> rows = np.array([[[1, 0], [1, 1]], [[0, 0], [1, 1]], [[1, 0], [0, 0]]], dtype=float)
        >>> spread = lambda m: float(np.ptp(m.mean(axis=0)))
        >>> t = paired_test(rows, spread)  # column means: a (2/3, 0), b (2/3, 2/3)
        >>> round(t.diff.estimate, 3), t.p_value <= 1
        (-0.667, True)
    """
    r = np.asarray(rows, dtype=float)
    if r.ndim < 2 or r.shape[1] != 2:
        raise ValueError(f"paired_test: rows of shape {r.shape}; expected [n_units, 2, ...]")
    n = len(r)
    diff_of = lambda m: statistic(m[:, 1]) - statistic(m[:, 0])  # noqa: E731
    est = float(diff_of(r))
    if n < 2:
        return PairedTest(Interval(est, est, est, n, confidence), math.nan)
    ci = bootstrap_ci(r, diff_of, n_boot=n_boot, confidence=confidence, seed=seed)
    if np.array_equal(r[:, 0], r[:, 1]):
        return PairedTest(ci, 1.0)
    idx = np.arange(n, dtype=float)

    # permutation_test(permutation_type="samples") swaps a and b within each unit; the samples
    # are unit indices tagged by model (index, index + n) so that any statistic can be applied
    def tagged(ia: np.ndarray, ib: np.ndarray) -> float:
        ia, ib = ia.astype(int), ib.astype(int)
        ma = np.where((ia < n).reshape((-1,) + (1,) * (r.ndim - 2)), r[ia % n, 0], r[ia % n, 1])
        mb = np.where((ib < n).reshape((-1,) + (1,) * (r.ndim - 2)), r[ib % n, 0], r[ib % n, 1])
        return float(statistic(mb) - statistic(ma))
    res = _st.permutation_test((idx, idx + n), tagged, permutation_type="samples",
                               vectorized=False, n_resamples=n_boot, alternative="two-sided",
                               random_state=np.random.default_rng(seed))
    return PairedTest(ci, float(res.pvalue))


@dataclass(frozen=True)
class SpreadTest(Serializable):
    """Is a max - min spread across conditions larger than chance alone makes it?

    ``null_mean``: the spread expected when the condition does not matter (the conditions'
    values shuffled within each unit); ``p_value``: the share of shuffles whose spread is at
    least the observed one (one-sided). A max - min of noisy means is positive even without any
    effect, so read the spread against ``null_mean``, not against zero.
    """

    observed: float
    null_mean: float
    p_value: float
    n: int


def spread_test(per_condition: np.ndarray, *, n_resamples: int = 2000, seed: int = 0) -> SpreadTest:
    """Permutation test of ``max - min`` over conditions of the mean over units.

    ``per_condition`` is ``[n_units, n_conditions]`` (e.g. questions x instructions, each value
    the question's accuracy under that instruction averaged over answer orderings); the null
    permutes the conditions within each unit (``scipy.stats.permutation_test``, "samples").

    Example:
        >>> x = np.array([[1, 0, 0]] * 18 + [[0, 1, 1]] * 6, dtype=float)
        >>> t = spread_test(x, seed=0)
        >>> round(t.observed, 3), t.p_value < 0.05, t.null_mean < t.observed
        (0.5, True, True)
    """
    x = np.asarray(per_condition, dtype=float)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"spread_test: per_condition of shape {x.shape}; expected [n_units, >= 2 conditions]")
    observed = float(np.ptp(x.mean(axis=0)))
    if len(x) < 2:
        return SpreadTest(observed, math.nan, math.nan, len(x))

    def spread(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        means = np.stack([s.mean(axis=axis) for s in samples], axis=-1)
        return np.ptp(means, axis=-1)
    res = _st.permutation_test(tuple(x.T), spread, permutation_type="samples", vectorized=True,
                               n_resamples=n_resamples, alternative="greater",
                               random_state=np.random.default_rng(seed))
    return SpreadTest(observed, float(np.mean(res.null_distribution)), float(res.pvalue), len(x))


def adjust_p(p_values: Sequence[float], method: str = "bh") -> list[float]:
    """Multiple-testing adjusted p-values: ``"bh"`` (Benjamini-Hochberg false discovery rate,
    ``scipy.stats.false_discovery_control``) or ``"holm"`` (family-wise error). NaN stays NaN.

    Example:
        >>> [round(p, 3) for p in adjust_p([0.01, 0.02, 0.03, 0.5])]
        [0.04, 0.04, 0.04, 0.5]
        >>> [round(p, 3) for p in adjust_p([0.01, 0.02, 0.03, 0.5], "holm")]
        [0.04, 0.06, 0.06, 0.5]
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if not ok.any():
        return out.tolist()
    q = p[ok]
    if method == "bh":
        out[ok] = _st.false_discovery_control(q, method="bh")
    elif method == "holm":
        order = np.argsort(q)
        m = len(q)
        stepped = np.maximum.accumulate((m - np.arange(m)) * q[order])
        adj = np.empty(m)
        adj[order] = np.minimum(stepped, 1.0)
        out[ok] = adj
    else:
        raise ValueError(f"method {method!r}: use 'bh' or 'holm'")
    return out.tolist()


@dataclass(frozen=True)
class Correlation(Serializable):
    """Pearson correlation ``r`` with its two-sided p-value and the number of points."""

    r: float
    p_value: float
    n: int


def pearson(x: Sequence[float], y: Sequence[float]) -> Correlation:
    """Pearson r and two-sided p-value (scipy). Needs >= 3 points; a constant input gives NaN.

    Example:
        >>> c = pearson([1, 2, 3, 4], [2, 4, 6, 8.5])
        >>> round(c.r, 3), c.n
        (0.998, 4)
    """
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.shape != ya.shape:
        raise ValueError(f"pearson: {xa.shape} vs {ya.shape}")
    if len(xa) < 3:
        raise ValueError(f"pearson: needs at least 3 points (models), got {len(xa)}")
    if np.ptp(xa) == 0 or np.ptp(ya) == 0:
        return Correlation(math.nan, math.nan, len(xa))
    res = _st.pearsonr(xa, ya)
    return Correlation(float(res.statistic), float(res.pvalue), len(xa))
