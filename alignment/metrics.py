"""Validation metrics for a lead score: ranking, calibration, gains and drift.

Every function takes the observed outcome ``y_true`` (1 = won, 0 = not) and a
score or probability ``y_score`` (higher = likelier to win) as array-likes of
the same length, and refuses bad input with a :class:`~alignment.exceptions.ModelError`.

Binning conventions (documented because the numbers depend on them):

- **Expected calibration error** and the **reliability curve** use ``n_bins``
  equal-count bins of the predicted probability (quantile bins, ties kept in one
  bin); ECE is the bin-size-weighted mean of ``|mean predicted - observed win
  rate|``. Equal-count bins keep every bin's observed rate equally precise, which
  equal-width bins do not when most leads sit at low probabilities.
- The **gains table** and **lift** rank leads by score (ties broken by their
  original order, so the result is reproducible) and cut them into equal-count
  groups, best first.
- **PSI** uses ``bins`` quantile bins of the *expected* (baseline) scores; the
  customary reading is < 0.1 stable, 0.1-0.25 watch, > 0.25 shifted.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve

from alignment.exceptions import ModelError

PSI_WATCH = 0.1
"""PSI at or above this: the scores are shifting; watch them."""
PSI_DRIFTED = 0.25
"""PSI at or above this: the scores have drifted; recalibrate."""
PSI_BANDS = ((PSI_DRIFTED, "drifted"), (PSI_WATCH, "shifting"))
"""The one vocabulary of PSI, highest band first (the review, its trend lines and the docs read it)."""


def _check(y_true, y_score, *, need_both: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert a (label, score) pair to float arrays."""
    y = np.asarray(y_true, dtype=float).ravel()
    s = np.asarray(y_score, dtype=float).ravel()
    if y.shape != s.shape:
        raise ModelError(f"y_true has {y.size} values but y_score has {s.size}",
                         hint="pass one score per labelled lead")
    if y.size == 0:
        raise ModelError("no leads to evaluate", hint="the evaluation window is empty")
    if np.isnan(y).any() or not np.isin(y, (0.0, 1.0)).all():
        raise ModelError("y_true must hold only 0 and 1", hint="drop unlabelled leads first")
    if np.isnan(s).any():
        raise ModelError("y_score holds missing values", hint="score every lead before evaluating")
    if need_both and (y.min() == y.max()):
        raise ModelError("y_true holds only one class; the metric needs both wins and non-wins",
                         hint="use a larger evaluation window")
    return y, s


def _check_probability(s: np.ndarray) -> None:
    if (s < 0).any() or (s > 1).any():
        raise ModelError("y_prob must be probabilities between 0 and 1",
                         hint="pass calibrated probabilities, not points")


def _check_bins(n_bins: int) -> None:
    if not isinstance(n_bins, (int, np.integer)) or isinstance(n_bins, bool) or n_bins < 1:
        raise ModelError(f"n_bins must be a positive integer, got {n_bins!r}")


def auc(y_true, y_score) -> float:
    """ROC AUC: the chance a random win scores above a random non-win (ties count half).

    Parameters
    ----------
    y_true : array-like of {0, 1}
    y_score : array-like of float

    Returns
    -------
    float
    """
    y, s = _check(y_true, y_score)
    return float(roc_auc_score(y, s))


def auc_from_ranks(won: np.ndarray, rank: np.ndarray) -> float:
    """ROC AUC from the rows' ranks (tied rows sharing their average rank, as ``pandas.Series.rank`` gives
    them): the Mann-Whitney U of the wins over the non-wins, ``(sum of the wins' ranks - n1 (n1 + 1) / 2)
    / (n1 n0)``. The number :func:`auc` gives (ties count half), without sorting again.

    Parameters
    ----------
    won : np.ndarray of {0, 1}
        Both classes present.
    rank : np.ndarray of float
        1 to n, average ranks for ties.

    Returns
    -------
    float
    """
    wins = float(np.count_nonzero(won))
    losses = won.size - wins
    return float((rank[won == 1].sum() - wins * (wins + 1) / 2) / (wins * losses))


def auc_of_levels(won: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of a score with few distinct values (a level encoding, whole points): each row's average rank
    from the rows per distinct value (a hash, not a sort of the rows; only the distinct values are sorted),
    then :func:`auc_from_ranks`.

    Parameters
    ----------
    won : np.ndarray of {0, 1}
        Both classes present.
    score : np.ndarray of float

    Returns
    -------
    float
        The number :func:`auc` gives.
    """
    codes, levels = pd.factorize(score)
    order = np.empty(levels.size, dtype=np.intp)
    order[np.argsort(levels, kind="stable")] = np.arange(levels.size)
    ranked = order[codes]  # each row's level, numbered from the lowest score
    rows = np.bincount(ranked, minlength=levels.size)
    average_rank = np.cumsum(rows) - (rows - 1) / 2.0
    return auc_from_ranks(won, average_rank[ranked])


def ks(y_true, y_score) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the win and non-win score CDFs.

    Parameters
    ----------
    y_true : array-like of {0, 1}
    y_score : array-like of float

    Returns
    -------
    float
        ``max(TPR - FPR)`` over all thresholds, in [0, 1].
    """
    y, s = _check(y_true, y_score)
    fpr, tpr, _ = roc_curve(y, s)
    return float(np.max(tpr - fpr))


def _rank_order(s: np.ndarray) -> np.ndarray:
    """Indices from the highest to the lowest score; ties keep their original order."""
    return np.argsort(-s, kind="stable")


def lift_at(y_true, y_score, share: float = 0.1) -> float:
    """Lift in the top ``share`` of leads: their win rate divided by the overall win rate.

    Parameters
    ----------
    y_true : array-like of {0, 1}
    y_score : array-like of float
    share : float, default 0.1
        The top share of leads by score (0.1 = the top decile); at least one lead.

    Returns
    -------
    float
    """
    if not 0 < share <= 1:
        raise ModelError(f"share must be in (0, 1], got {share!r}")
    y, s = _check(y_true, y_score)
    n_top = max(1, int(np.ceil(share * y.size)))
    top = y[_rank_order(s)[:n_top]]
    return float(top.mean() / y.mean())


def brier(y_true, y_prob) -> float:
    """Brier score: mean squared error of the win probability (lower is better).

    Parameters
    ----------
    y_true : array-like of {0, 1}
    y_prob : array-like of float in [0, 1]

    Returns
    -------
    float
    """
    y, s = _check(y_true, y_prob, need_both=False)
    _check_probability(s)
    return float(brier_score_loss(y, s))


def _equal_count_bins(s: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin index per value: quantile edges of ``s``; identical values share a bin."""
    edges = np.unique(np.quantile(s, np.linspace(0, 1, n_bins + 1)[1:-1]))
    return np.searchsorted(edges, s, side="right")


def reliability_curve(y_true, y_prob, n_bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability against the observed win rate, per equal-count bin.

    Parameters
    ----------
    y_true : array-like of {0, 1}
    y_prob : array-like of float in [0, 1]
    n_bins : int, default 10

    Returns
    -------
    DataFrame
        One row per non-empty bin, lowest probabilities first: ``bin, n, mean_predicted, observed``.
    """
    _check_bins(n_bins)
    y, s = _check(y_true, y_prob, need_both=False)
    _check_probability(s)
    frame = pd.DataFrame({"bin": _equal_count_bins(s, n_bins), "y": y, "p": s})
    curve = frame.groupby("bin", sort=True).agg(n=("y", "size"), mean_predicted=("p", "mean"),
                                                observed=("y", "mean")).reset_index()
    curve["bin"] = np.arange(len(curve))
    return curve


def expected_calibration_error(y_true, y_prob, n_bins: int = 10) -> float:
    """Expected calibration error over ``n_bins`` equal-count bins.

    ECE = sum over bins of (bin size / n) * |mean predicted - observed win rate|.

    Parameters
    ----------
    y_true : array-like of {0, 1}
    y_prob : array-like of float in [0, 1]
    n_bins : int, default 10

    Returns
    -------
    float
    """
    curve = reliability_curve(y_true, y_prob, n_bins)
    weights = curve["n"] / curve["n"].sum()
    return float((weights * (curve["mean_predicted"] - curve["observed"]).abs()).sum())


def gains_table(y_true, y_score, n_bins: int = 10) -> pd.DataFrame:
    """Cumulative gains and lift by equal-count score group, best group first.

    Parameters
    ----------
    y_true : array-like of {0, 1}
    y_score : array-like of float
    n_bins : int, default 10
        Number of groups (10 = deciles).

    Returns
    -------
    DataFrame
        ``group`` (1 = highest scores), ``n``, ``wins``, ``win_rate``, ``min_score``, ``max_score``,
        ``cum_share_leads``, ``cum_share_wins`` (the gains curve) and ``lift`` (group win rate
        over the overall win rate).
    """
    _check_bins(n_bins)
    y, s = _check(y_true, y_score, need_both=False)
    if y.sum() == 0:
        raise ModelError("no wins to compute gains on", hint="use a larger evaluation window")
    order = _rank_order(s)
    group = np.arange(y.size) * n_bins // y.size + 1
    frame = pd.DataFrame({"group": group, "y": y[order], "s": s[order]})
    table = frame.groupby("group").agg(n=("y", "size"), wins=("y", "sum"), min_score=("s", "min"),
                                       max_score=("s", "max")).reset_index()
    table["wins"] = table["wins"].astype(int)
    table["win_rate"] = table["wins"] / table["n"]
    table["cum_share_leads"] = table["n"].cumsum() / y.size
    table["cum_share_wins"] = table["wins"].cumsum() / y.sum()
    table["lift"] = table["win_rate"] / y.mean()
    return table[["group", "n", "wins", "win_rate", "min_score", "max_score", "cum_share_leads",
                  "cum_share_wins", "lift"]]


def _weighted_auc_sorted(pos_w: np.ndarray, neg_w: np.ndarray) -> np.ndarray:
    """AUC per row of weights laid out over unique scores in increasing order (ties count half)."""
    neg_below = np.cumsum(neg_w, axis=1) - neg_w
    numerator = (pos_w * (neg_below + 0.5 * neg_w)).sum(axis=1)
    return numerator / (pos_w.sum(axis=1) * neg_w.sum(axis=1))


def bootstrap_ci(
    y_true,
    y_score,
    statistic: str | Callable[[np.ndarray, np.ndarray], float] = "auc",
    *,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    max_rows: int | None = 200_000,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of a metric, seeded.

    The AUC uses Poisson(1) resampling weights, drawn directly per distinct score
    (the weights of k tied rows sum to a Poisson(k) draw), so a replicate costs
    O(distinct scores) with no re-sorting: fast on a large hold-out, and very fast
    for whole-point scores. Any other statistic resamples rows with replacement.

    Parameters
    ----------
    y_true : array-like of {0, 1}
    y_score : array-like of float
    statistic : "auc" or callable ``f(y_true, y_score) -> float``, default "auc"
    n_boot : int, default 200
        Number of bootstrap replicates.
    level : float, default 0.95
        Coverage of the interval.
    seed : int, default 0
        Seed of the resampling; same inputs and seed give the same interval.
    max_rows : int or None, default 200_000
        Above this many rows (n) a seeded random subsample of m = ``max_rows`` rows
        is resampled and the replicates' spread around the subsample's value is
        rescaled by sqrt(m / n) around the value on all rows (m-out-of-n bootstrap,
        valid for root-n statistics such as the AUC); None resamples all rows.

    Returns
    -------
    (low, high) : tuple of float
    """
    if not isinstance(n_boot, (int, np.integer)) or isinstance(n_boot, bool) or n_boot < 10:
        raise ModelError(f"n_boot must be an integer of at least 10, got {n_boot!r}")
    if not 0 < level < 1:
        raise ModelError(f"level must be between 0 and 1, got {level!r}")
    if max_rows is not None and max_rows < 10:
        raise ModelError(f"max_rows must be at least 10 or None, got {max_rows!r}")
    if not (statistic == "auc" or callable(statistic)):
        raise ModelError(f"statistic must be 'auc' or a callable, got {statistic!r}")
    y, s = _check(y_true, y_score, need_both=statistic == "auc")
    rng = np.random.default_rng(seed)
    compute = auc if statistic == "auc" else statistic
    shrink, full_value = 1.0, None
    if max_rows is not None and y.size > max_rows:
        full_value = compute(y, s)
        keep = np.sort(rng.choice(y.size, size=max_rows, replace=False))
        shrink = np.sqrt(max_rows / y.size)
        y, s = y[keep], s[keep]
    if statistic == "auc":
        # A Poisson(1) weight per row sums to a Poisson(k) weight per group of k tied rows, so the
        # wins and non-wins at each distinct score are drawn directly: exact, and no per-row work.
        unique, inverse = np.unique(s, return_inverse=True)
        pos_counts = np.bincount(inverse, weights=y, minlength=unique.size)
        neg_counts = np.bincount(inverse, weights=1 - y, minlength=unique.size)
        has_pos, has_neg = pos_counts > 0, neg_counts > 0
        values = []
        chunk = max(1, 20_000_000 // max(unique.size, 1))  # keep each weight matrix near 160 MB
        for start in range(0, n_boot, chunk):
            size = min(chunk, n_boot - start)
            pos_w = np.zeros((size, unique.size))
            neg_w = np.zeros((size, unique.size))
            pos_w[:, has_pos] = rng.poisson(pos_counts[has_pos], size=(size, int(has_pos.sum())))
            neg_w[:, has_neg] = rng.poisson(neg_counts[has_neg], size=(size, int(has_neg.sum())))
            values.append(_weighted_auc_sorted(pos_w, neg_w))
        replicates = np.concatenate(values)
    else:
        replicates = np.empty(n_boot)
        for b in range(n_boot):
            idx = rng.integers(0, y.size, size=y.size)
            replicates[b] = statistic(y[idx], s[idx])
    replicates = replicates[np.isfinite(replicates)]
    if full_value is not None:
        # m-out-of-n bootstrap: spread measured on m rows, rescaled by sqrt(m / n) around the full value.
        replicates = full_value + shrink * (replicates - compute(y, s))
    alpha = (1 - level) / 2
    low, high = np.quantile(replicates, [alpha, 1 - alpha])
    return float(low), float(high)


def psi(expected_scores, actual_scores, bins: int = 10) -> float:
    """Population stability index of a score distribution against a baseline.

    PSI = sum over bins of (a - e) * ln(a / e), with ``e`` and ``a`` the shares of
    the expected (baseline) and actual scores per bin. Bins are ``bins`` quantile
    bins of the expected scores (identical edges merged); empty shares are floored
    at 1e-4 so a bin that empties out counts instead of dividing by zero.
    Read it with :func:`psi_band` (:data:`PSI_WATCH` 0.1, :data:`PSI_DRIFTED` 0.25).

    Parameters
    ----------
    expected_scores : array-like of float
        The baseline, e.g. the hold-out scores the scale was validated on.
    actual_scores : array-like of float
        The scores of the month under review.
    bins : int, default 10

    Returns
    -------
    float
    """
    _check_bins(bins)
    expected = np.asarray(expected_scores, dtype=float).ravel()
    actual = np.asarray(actual_scores, dtype=float).ravel()
    if expected.size == 0 or actual.size == 0:
        raise ModelError("PSI needs scores in both the baseline and the period under review")
    if np.isnan(expected).any() or np.isnan(actual).any():
        raise ModelError("PSI got missing scores", hint="score every lead before comparing")
    edges = np.unique(np.quantile(expected, np.linspace(0, 1, bins + 1)[1:-1]))
    e_share = np.bincount(np.searchsorted(edges, expected, side="right"), minlength=edges.size + 1)
    a_share = np.bincount(np.searchsorted(edges, actual, side="right"), minlength=edges.size + 1)
    e_share = np.maximum(e_share / expected.size, 1e-4)
    a_share = np.maximum(a_share / actual.size, 1e-4)
    return float(np.sum((a_share - e_share) * np.log(a_share / e_share)))


def psi_band(value: float) -> str:
    """Read a PSI value with the customary cut-offs: "stable", "shifting" (:data:`PSI_WATCH`) or "drifted"
    (:data:`PSI_DRIFTED`). The review applies it only beyond sampling noise."""
    for cut_off, band in PSI_BANDS:
        if value >= cut_off:
            return band
    return "stable"


def summary(y_true, y_prob, y_score=None, *, n_bins: int = 10) -> dict:
    """The hold-out metrics of one scorer as a JSON-ready dict.

    Parameters
    ----------
    y_true : array-like of {0, 1}
    y_prob : array-like of float in [0, 1] or None
        Calibrated probabilities (Brier, ECE and the reliability curve need them);
        None for a score that is not a probability (e.g. a legacy score).
    y_score : array-like of float, optional
        The ranking score (AUC, KS, lift, gains); default ``y_prob``.
    n_bins : int, default 10

    Returns
    -------
    dict
        ``n, wins, win_rate, auc, ks, lift_at_10, gains`` and, with probabilities,
        ``brier, ece, reliability``.
    """
    rank = y_prob if y_score is None else y_score
    y, s = _check(y_true, rank)
    out = {"n": int(y.size), "wins": int(y.sum()), "win_rate": float(y.mean()), "auc": auc(y, s),
           "ks": ks(y, s), "lift_at_10": lift_at(y, s, 0.1),
           "gains": gains_table(y, s, n_bins).to_dict(orient="records")}
    if y_prob is not None:
        out["brier"] = brier(y, y_prob)
        out["ece"] = expected_calibration_error(y, y_prob, n_bins)
        out["reliability"] = reliability_curve(y, y_prob, n_bins).to_dict(orient="records")
    return out
