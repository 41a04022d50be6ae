"""Validation metrics against hand-computed values and scikit-learn references."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from alignment import metrics
from alignment.exceptions import ModelError


@pytest.fixture(scope="module")
def synthetic():
    rng = np.random.default_rng(3)
    x = rng.normal(size=4000)
    p = 1 / (1 + np.exp(-(1.5 * x - 2)))
    y = (rng.random(x.size) < p).astype(int)
    return y, x, p


def test_auc_and_ks_by_hand():
    y = [0, 0, 1, 1]
    s = [0.1, 0.4, 0.35, 0.8]
    assert metrics.auc(y, s) == pytest.approx(0.75)
    # CDF gap: at threshold 0.35 TPR=1, FPR=0.5 -> 0.5; at 0.8 TPR=.5, FPR=0 -> 0.5
    assert metrics.ks(y, s) == pytest.approx(0.5)


def test_lift_and_gains_by_hand():
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 1, 0])
    s = np.arange(10, 0, -1, dtype=float)  # first lead best
    assert metrics.lift_at(y, s, 0.2) == pytest.approx(1.0 / 0.3)
    table = metrics.gains_table(y, s, n_bins=5)
    assert table["wins"].tolist() == [2, 0, 0, 0, 1]
    assert table["cum_share_wins"].iloc[0] == pytest.approx(2 / 3)
    assert table["cum_share_leads"].iloc[-1] == pytest.approx(1.0)


def test_brier_and_ece_by_hand():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.2, 0.2, 0.6, 0.6])
    assert metrics.brier(y, p) == pytest.approx((0.04 * 2 + 0.16 * 2) / 4)
    # two equal-count bins: |0.2 - 0| and |0.6 - 1|, weight 1/2 each
    assert metrics.expected_calibration_error(y, p, n_bins=2) == pytest.approx(0.3)
    curve = metrics.reliability_curve(y, p, n_bins=2)
    assert curve["observed"].tolist() == [0.0, 1.0]
    assert curve["n"].tolist() == [2, 2]


def test_ece_small_when_calibrated_and_large_when_not(synthetic):
    y, _, p = synthetic
    assert metrics.expected_calibration_error(y, p) < 0.03
    assert metrics.expected_calibration_error(y, np.clip(p + 0.2, 0, 1)) > 0.15


def test_bootstrap_auc_covers_point_estimate_and_is_seeded(synthetic):
    y, x, _ = synthetic
    low, high = metrics.bootstrap_ci(y, x, n_boot=100, seed=5)
    assert low < metrics.auc(y, x) < high
    assert high - low < 0.1
    assert (low, high) == metrics.bootstrap_ci(y, x, n_boot=100, seed=5)
    assert (low, high) != metrics.bootstrap_ci(y, x, n_boot=100, seed=6)


def test_bootstrap_weighted_auc_matches_sklearn(synthetic):
    y, x, _ = synthetic
    s = np.round(x, 1)  # ties
    w = np.random.default_rng(0).poisson(1.0, size=y.size).astype(float)
    order = np.argsort(s, kind="stable")
    starts = np.flatnonzero(np.r_[True, s[order][1:] != s[order][:-1]])
    pos = np.add.reduceat((w * y)[order][None], starts, axis=1)
    neg = np.add.reduceat((w * (1 - y))[order][None], starts, axis=1)
    assert metrics._weighted_auc_sorted(pos, neg)[0] == pytest.approx(roc_auc_score(y, s, sample_weight=w))


def test_bootstrap_generic_statistic(synthetic):
    y, _, p = synthetic
    low, high = metrics.bootstrap_ci(y, p, metrics.brier, n_boot=50, seed=1)
    assert low < metrics.brier(y, p) < high


def test_psi():
    rng = np.random.default_rng(0)
    base = rng.normal(size=5000)
    assert metrics.psi(base, rng.normal(size=5000)) < 0.02
    shifted = metrics.psi(base, rng.normal(loc=1.0, size=5000))
    assert shifted > metrics.PSI_DRIFTED
    assert metrics.psi_band(shifted) == "drifted"
    assert metrics.psi_band(0.15) == "shifting"
    assert metrics.psi_band(0.01) == "stable"


def test_summary_keys(synthetic):
    y, x, p = synthetic
    out = metrics.summary(y, p)
    assert {"auc", "ks", "lift_at_10", "brier", "ece", "reliability", "gains"} <= set(out)
    legacy = metrics.summary(y, None, x)
    assert "brier" not in legacy and legacy["auc"] == pytest.approx(metrics.auc(y, x))
    pd.DataFrame(out["gains"])  # records round-trip


@pytest.mark.parametrize("call", [
    lambda: metrics.auc([0, 1], [0.5]),
    lambda: metrics.auc([1, 1], [0.2, 0.3]),
    lambda: metrics.auc([0, 2], [0.2, 0.3]),
    lambda: metrics.auc([0, 1], [np.nan, 0.3]),
    lambda: metrics.auc([], []),
    lambda: metrics.brier([0, 1], [0.2, 1.3]),
    lambda: metrics.lift_at([0, 1], [0.2, 0.3], share=0),
    lambda: metrics.expected_calibration_error([0, 1], [0.2, 0.3], n_bins=0),
    lambda: metrics.gains_table([0, 0], [0.2, 0.3]),
    lambda: metrics.bootstrap_ci([0, 1] * 10, range(20), n_boot=5),
    lambda: metrics.bootstrap_ci([0, 1] * 10, range(20), level=1.5),
    lambda: metrics.bootstrap_ci([0, 1] * 10, range(20), statistic="gini"),
    lambda: metrics.bootstrap_ci([0, 1] * 10, range(20), max_rows=3),
    lambda: metrics.psi([], [1.0]),
    lambda: metrics.psi([1.0, np.nan], [1.0]),
    lambda: metrics.psi([1.0], [1.0], bins=0),
])
def test_bad_input_raises(call):
    with pytest.raises(ModelError):
        call()


def test_bootstrap_subsample_is_rescaled_to_the_full_sample():
    rng = np.random.default_rng(8)
    x = rng.normal(size=40_000)
    y = (rng.random(x.size) < 1 / (1 + np.exp(-(1.5 * x - 2)))).astype(int)
    full = metrics.bootstrap_ci(y, x, n_boot=200, seed=2, max_rows=None)
    sub = metrics.bootstrap_ci(y, x, n_boot=200, seed=2, max_rows=5_000)
    width_full, width_sub = full[1] - full[0], sub[1] - sub[0]
    assert sub[0] < metrics.auc(y, x) < sub[1]
    assert 0.7 < width_sub / width_full < 1.4  # not the ~2.8x wider interval of 5,000 rows


@pytest.mark.parametrize("distinct", [3, 40, None])
def test_the_rank_aucs_are_scikit_learns(distinct):
    # Ties count half in both: whole-point scores (few distinct values) and continuous ones.
    rng = np.random.default_rng(distinct or 0)
    won = (rng.random(3001) < 0.2).astype(int)
    score = rng.normal(size=won.size) + won
    if distinct:
        score = np.round(score * distinct / 8)
    expected = roc_auc_score(won, score)
    rank = pd.Series(score).rank().to_numpy()
    assert metrics.auc_from_ranks(won, rank) == pytest.approx(expected, abs=1e-12)
    assert metrics.auc_of_levels(won, score) == pytest.approx(expected, abs=1e-12)
