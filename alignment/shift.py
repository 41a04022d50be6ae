"""Signs that the history shifts under the scale, checked by ``alignment fit`` after the hold-out is scored.

Each check returns its warning (one plain line: what was seen, and what to do) or None. They go to the model
card's ``warnings``, the fit's console, notebook 01 and the workshop's header.

- **Win rates across the windows** differ beyond sampling noise: a chi-square test over the training,
  calibration and hold-out windows gives p < 0.001 and the highest rate is at least 1.25 times the lowest.
- **Ranks near or below chance**: the scale's or the challenger's hold-out AUC is below 0.55.
- **Calibration off on the hold-out**: expected calibration error above 0.05.
- **Categories the scale barely knows**: leads whose value of a categorical attribute was pooled into "Other"
  or never seen in training hold at least 20% of the hold-out, or of its top-scored tenth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency

from alignment.scorecard import PointsScorecard

WINDOW_RATE_P = 0.001
"""p-value of the windows' win rates below which they differ beyond sampling noise..."""
WINDOW_RATE_RATIO = 1.25
"""... when the highest is also at least this many times the lowest."""
CHANCE_AUC = 0.55
"""A hold-out AUC below this ranks the leads near or below chance."""
ECE_WARN = 0.05
"""Expected calibration error on the hold-out above which the probabilities are off."""
UNKNOWN_CATEGORY_SHARE = 0.20
"""Share of the hold-out (or of its top tenth) in pooled or unseen categories from which the fit warns."""
TOP_SHARE = 0.10


def window_win_rates(windows: dict[str, tuple[int, int]]) -> str | None:
    """Warn when the windows' win rates differ beyond sampling noise.

    Parameters
    ----------
    windows : dict
        Window name (oldest first) → ``(leads, wins)``.

    Returns
    -------
    str or None
    """
    table = np.array([[wins, leads - wins] for leads, wins in windows.values()], dtype=float)
    if (table.sum(axis=0) == 0).any() or (table.sum(axis=1) == 0).any():
        return None
    rates = table[:, 0] / table.sum(axis=1)
    p_value = float(chi2_contingency(table)[1])
    if p_value >= WINDOW_RATE_P or rates.min() <= 0 or rates.max() < WINDOW_RATE_RATIO * rates.min():
        return None
    trail = " → ".join(f"{rate:.1%} ({name})" for name, rate in zip(windows, rates, strict=True))
    return (
        f"the win rate moves across the windows, {trail}, beyond sampling noise (p < {WINDOW_RATE_P}): the "
        "history shifts under the scale, so the hold-out figures describe other leads than the ones it "
        "learned from. Look for a change in how leads were created, worked or recorded; fit on the period "
        "since the change, or review the scale again once newer leads have closed"
    )


def near_chance(name: str, auc: float | None) -> str | None:
    """Warn when a hold-out AUC is below :data:`CHANCE_AUC`."""
    if auc is None or not np.isfinite(auc) or auc >= CHANCE_AUC:
        return None
    return (
        f"the {name} ranks the hold-out leads near or below chance (AUC {auc:.2f}; 0.50 is a coin toss): "
        "what it learned on older leads does not hold on newer ones. Do not use it to route leads; check "
        "the window win rates and the leakage list, and refit when the history is stable"
    )


def calibration_off(ece: float | None) -> str | None:
    """Warn when the hold-out's expected calibration error is above :data:`ECE_WARN`."""
    if ece is None or not np.isfinite(ece) or ece <= ECE_WARN:
        return None
    return (
        f"the win probabilities are off on the hold-out (expected calibration error {ece:.3f}, above "
        f"{ECE_WARN}): read the probabilities and expected wins as rough; recalibrate on recent closed leads"
    )


def unknown_categories(scale: PointsScorecard, X_holdout: pd.DataFrame, scores: np.ndarray) -> list[str]:
    """Warn per categorical attribute whose pooled or unseen categories weigh in the hold-out.

    Parameters
    ----------
    scale : PointsScorecard
        The fitted scale.
    X_holdout : DataFrame
        The hold-out's attributes.
    scores : np.ndarray
        The hold-out's scores (to find its top-scored tenth).

    Returns
    -------
    list of str
    """
    if len(scores) == 0:
        return []
    top = scores >= np.quantile(scores, 1 - TOP_SHARE)
    warnings = []
    for attribute, unknown in scale.unknown_category_mask(X_holdout).items():
        share, top_share = float(unknown.mean()), float(unknown[top].mean())
        if max(share, top_share) < UNKNOWN_CATEGORY_SHARE:
            continue
        warnings.append(
            f"'{attribute}': {share:.0%} of the hold-out leads ({top_share:.0%} of its top-scored tenth) "
            "carry values that were rare or absent in training (pooled into 'Other', or new): the scale "
            "knows little about them. Group the values coarser in the export, or refit on a history that "
            "covers them"
        )
    return warnings
