"""Statistics shared by the analyses: bootstrap intervals, paired bootstrap tests, Pearson r.

Every function is seeded and pure. Intervals are percentile bootstrap intervals over the
resampled units (subjects, questions, examples or paraphrase sets, as each analysis says).

Example:
    >>> ci = bootstrap_ci([0.0, 1.0, 1.0, 1.0], n_boot=2000, seed=0)
    >>> round(ci.estimate, 2), ci.low <= ci.estimate <= ci.high
    (0.75, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats as _st


@dataclass(frozen=True)
class Interval:
    """A point estimate with a (1 - alpha) bootstrap interval; JSON-friendly via ``asdict``."""

    estimate: float
    low: float
    high: float
    n: int
    confidence: float = 0.95

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Interval":
        return cls(**d)

    def __format__(self, spec: str) -> str:
        spec = spec or ".3f"
        return f"{self.estimate:{spec}} [{self.low:{spec}}, {self.high:{spec}}]"


def nan_to_none(v: Any) -> Any:
    """NaN -> None, recursively through lists, tuples and dicts (for strict JSON payloads).

    >>> nan_to_none([1.0, math.nan, {"a": math.nan}])
    [1.0, None, {'a': None}]
    """
    if isinstance(v, float):
        return None if math.isnan(v) else v
    if isinstance(v, (list, tuple)):
        return [nan_to_none(x) for x in v]
    if isinstance(v, dict):
        return {k: nan_to_none(x) for k, x in v.items()}
    return v


def none_to_nan(x: float | None) -> float:
    """None -> NaN (the inverse of :func:`nan_to_none` for one number)."""
    return math.nan if x is None else float(x)


def _nan_interval(n: int, confidence: float) -> Interval:
    return Interval(math.nan, math.nan, math.nan, n, confidence)


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
    """
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        return _nan_interval(0, confidence)
    est = float(statistic(x))
    if n == 1:
        return Interval(est, est, est, 1, confidence)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    if statistic is np.mean and x.ndim == 1:
        boots = x[idx].mean(axis=1)
    else:
        boots = np.array([statistic(x[i]) for i in idx])
    alpha = (1.0 - confidence) / 2
    lo, hi = np.nanquantile(boots, [alpha, 1 - alpha])
    return Interval(est, float(lo), float(hi), n, confidence)


def grouped_bootstrap_ci(
    groups: Sequence[Sequence[float]],
    *,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Interval of a macro average: the mean over groups of each group's mean, resampling
    units within each group (e.g. subjects within relations), keeping the groups fixed.

    Example:
        >>> grouped_bootstrap_ci([[1.0, 1.0], [0.0, 1.0]]).estimate
        0.75
    """
    arrays = [np.asarray(g, dtype=float) for g in groups if len(g) > 0]
    if not arrays:
        return _nan_interval(0, confidence)
    est = float(np.mean([a.mean() for a in arrays]))
    rng = np.random.default_rng(seed)
    boots = np.zeros(n_boot)
    for a in arrays:
        boots += a[rng.integers(0, len(a), size=(n_boot, len(a)))].mean(axis=1)
    boots /= len(arrays)
    alpha = (1.0 - confidence) / 2
    lo, hi = np.quantile(boots, [alpha, 1 - alpha])
    return Interval(est, float(lo), float(hi), sum(len(a) for a in arrays), confidence)


@dataclass(frozen=True)
class PairedTest:
    """A paired bootstrap comparison of two models on the same units: ``diff = b - a``."""

    diff: Interval
    p_value: float

    def to_dict(self) -> dict:
        return {"diff": self.diff.to_dict(), "p_value": self.p_value}


def paired_bootstrap(
    a: Sequence[float],
    b: Sequence[float],
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedTest:
    """Paired bootstrap of ``mean(b) - mean(a)`` over shared units, with a two-sided p-value
    (twice the smaller tail of the bootstrap distribution around zero, floored at 1/n_boot).

    Example:
        >>> t = paired_bootstrap([0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 0], seed=0)
        >>> round(t.diff.estimate, 3), t.p_value < 0.05
        (0.833, True)
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"paired_bootstrap: {x.shape} vs {y.shape}: the units must be shared")
    d = y - x
    ci = bootstrap_ci(d, n_boot=n_boot, confidence=confidence, seed=seed)
    if len(d) < 2:
        return PairedTest(ci, math.nan)
    rng = np.random.default_rng(seed)
    boots = d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(axis=1)
    if np.all(boots == 0):
        return PairedTest(ci, 1.0)
    tail = min((boots <= 0).mean(), (boots >= 0).mean())
    return PairedTest(ci, float(min(1.0, max(2 * tail, 1.0 / n_boot))))


@dataclass(frozen=True)
class Correlation:
    """Pearson correlation ``r`` with its two-sided p-value and the number of points."""

    r: float
    p_value: float
    n: int

    def to_dict(self) -> dict:
        return asdict(self)


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
