"""Known answers for interp.stats, computed by hand or by enumeration on tiny inputs."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from interp.stats import (adjust_p, bootstrap_ci, grouped_bootstrap_ci, paired_bootstrap, paired_test,
                          ratio_bootstrap_ci, spread_test)


def test_bootstrap_ci_constant_and_bounds() -> None:
    assert bootstrap_ci([2.0, 2.0, 2.0]) == bootstrap_ci([2.0, 2.0, 2.0])
    ci = bootstrap_ci([2.0, 2.0, 2.0])
    assert (ci.estimate, ci.low, ci.high, ci.n) == (2.0, 2.0, 2.0, 3)
    ci = bootstrap_ci([0.0, 1.0] * 50, n_boot=2000, seed=3)
    # the normal approximation of the mean of 100 fair coin flips: 0.5 ± 1.96 * 0.05
    assert ci.estimate == 0.5 and ci.low == pytest.approx(0.402, abs=0.03) and ci.high == pytest.approx(0.598, abs=0.03)
    assert math.isnan(bootstrap_ci([]).estimate)


def test_ratio_bootstrap_ci_is_a_cluster_bootstrap() -> None:
    rng = np.random.default_rng(0)
    num, den = rng.integers(0, 4, (30, 3)).astype(float), np.full(30, 3.0)
    ivs = ratio_bootstrap_ci(num, den, n_boot=500, seed=2)
    rows = np.column_stack([num, den])
    for j, iv in enumerate(ivs):  # the same resamples as bootstrap_ci over [numerators, denominator] rows
        ref = bootstrap_ci(rows, lambda r, j=j: r[:, j].sum() / r[:, -1].sum(), n_boot=500, seed=2)
        assert (iv.estimate, iv.low, iv.high, iv.n) == pytest.approx((ref.estimate, ref.low, ref.high, 30))
    one = ratio_bootstrap_ci([[1.0]], [4.0])[0]
    assert (one.estimate, one.low, one.high, one.n) == (0.25, 0.25, 0.25, 1)
    assert math.isnan(ratio_bootstrap_ci(np.zeros((0, 1)), [])[0].estimate)
    with pytest.raises(ValueError, match="positive denominator"):
        ratio_bootstrap_ci([[1.0], [0.0]], [1.0, 0.0])
    with pytest.raises(ValueError, match="expected"):
        ratio_bootstrap_ci([1.0, 2.0], [1.0, 2.0])


def test_bootstrap_ci_rows_statistic() -> None:
    rows = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    ci = bootstrap_ci(rows, lambda x: float(np.ptp(x.mean(axis=0))), n_boot=500)
    assert ci.estimate == pytest.approx(2 / 3) and 0.0 <= ci.low <= ci.high <= 1.0


def test_grouped_keeps_groups_fixed() -> None:
    # group 2 is constant: every replicate is (mean of resampled group 1 + 1) / 2 >= 0.5
    ci = grouped_bootstrap_ci([[0.0, 1.0, 0.0, 1.0], [1.0, 1.0]], n_boot=500)
    assert ci.estimate == 0.75 and ci.low >= 0.5 and ci.high <= 1.0 and ci.n == 6
    single = grouped_bootstrap_ci([[0.3], [0.7]])
    assert (single.estimate, single.low, single.high) == (0.5, 0.5, 0.5)


def test_paired_bootstrap_exact_sign_flip_p() -> None:
    # differences (1, 1, 1, 1, 1, 0): of the 2**6 sign flips, |mean| >= 5/6 for all-plus and
    # all-minus of the five ones (times 2 for the zero): 4 / 64
    t = paired_bootstrap([0] * 6, [1, 1, 1, 1, 1, 0], n_boot=5000)
    assert t.diff.estimate == pytest.approx(5 / 6)
    assert t.p_value == pytest.approx(4 / 64)
    assert paired_bootstrap([1, 2, 3], [1, 2, 3]).p_value == 1.0
    with pytest.raises(ValueError, match="units must be shared"):
        paired_bootstrap([1, 2], [1, 2, 3])


def test_paired_test_spread_enumerated() -> None:
    rng = np.random.default_rng(0)
    rows = (rng.random((6, 2, 3)) < 0.5).astype(float)
    spread = lambda m: float(np.ptp(m.mean(axis=0)))  # noqa: E731
    observed = spread(rows[:, 1]) - spread(rows[:, 0])
    # exact null by enumerating the 2**6 within-unit swaps
    null = []
    for flips in itertools.product([0, 1], repeat=6):
        r = rows.copy()
        for i, f in enumerate(flips):
            if f:
                r[i] = r[i, ::-1]
        null.append(spread(r[:, 1]) - spread(r[:, 0]))
    exact = np.mean(np.abs(np.array(null)) >= abs(observed) - 1e-12)
    t = paired_test(rows, spread, n_boot=5000)
    assert t.diff.estimate == pytest.approx(observed)
    assert t.p_value == pytest.approx(exact)


def test_spread_test_no_effect_vs_effect() -> None:
    strong = np.array([[1, 0, 0]] * 30, dtype=float)
    t = spread_test(strong, seed=0)
    assert t.observed == 1.0 and t.p_value < 0.01 and t.null_mean < 0.5
    # identical conditions within each unit: every permutation gives the same spread (0)
    none = np.repeat(np.array([[1.0], [0.0], [1.0], [1.0]]), 3, axis=1)
    t = spread_test(none, seed=0)
    assert t.observed == 0.0 and t.null_mean == 0.0 and t.p_value == 1.0
    with pytest.raises(ValueError, match="n_units"):
        spread_test(np.zeros(5))


def test_adjust_p_by_hand() -> None:
    # BH: sorted p * m / rank = (0.04, 0.04, 0.04, 0.5), then the running minimum from the top
    assert adjust_p([0.03, 0.01, 0.5, 0.02]) == pytest.approx([0.04, 0.04, 0.5, 0.04])
    # Holm: (4 * 0.01, 3 * 0.02, 2 * 0.03, 1 * 0.5), running maximum
    assert adjust_p([0.03, 0.01, 0.5, 0.02], "holm") == pytest.approx([0.06, 0.04, 0.5, 0.06])
    out = adjust_p([0.01, math.nan])
    assert out[0] == pytest.approx(0.01) and math.isnan(out[1])
    with pytest.raises(ValueError, match="method"):
        adjust_p([0.1], "bonf")


def test_pair_cluster_replicates_by_hand(monkeypatch) -> None:
    """One replicate drawing set 0 twice, set 1 once, set 2 never: the within-set mean is
    (2 * .9 + .6) / 3 = .8; the pairs weigh w[a] * w[b] = (2 * 1, 1 * 0, 2 * 0): only the (0, 1)
    pair counts, .1. The within-set mean is cluster_mean_replicates' on the same draw."""
    from interp import stats

    monkeypatch.setattr(stats, "bootstrap_counts", lambda n, b, rng: np.array([[2.0, 1.0, 0.0]] * b))
    x = np.array([[[0.9], [0.6], [0.3]]])
    non = np.array([[[0.1], [0.2], [0.4]]])
    b_para, b_non = stats.pair_cluster_replicates(x, non, np.array([[0, 1], [1, 2], [0, 2]]), 4,
                                                  np.random.default_rng(0))
    assert b_para[:, 0] == pytest.approx([0.8] * 4) and b_non[:, 0] == pytest.approx([0.1] * 4)
    assert stats.cluster_mean_replicates(x, 4, np.random.default_rng(0))[:, 0] == pytest.approx([0.8] * 4)


def test_cluster_mean_replicates_leave_out_missing_units(monkeypatch) -> None:
    """Prompt 0 has units 0 and 1, prompt 1 only unit 1; counts (2, 1): prompt 0's mean is
    (2 * 1 + 1 * 4) / 3 = 2, prompt 1's is 6, the replicate their mean, 4."""
    from interp import stats

    monkeypatch.setattr(stats, "bootstrap_counts", lambda n, b, rng: np.array([[2.0, 1.0]] * b))
    x = np.array([[[1.0], [4.0]], [[np.nan], [6.0]]])
    assert stats.cluster_mean_replicates(x, 3, np.random.default_rng(0))[:, 0].tolist() == [4.0] * 3
