"""Our points scale against optbinning's, on the same training matrix and the same hold-out.

optbinning (``BinningProcess`` + ``Scorecard``, scaled 0–100) is what a practitioner would pick instead of
this workbook to build a points scorecard. Both are fitted on exactly the training matrix ``alignment fit``
uses (the same point-in-time features and the same time split, taken from :mod:`alignment.model`) and scored
on the same hold-out leads, one after the other in the same process, so the time ratio holds on a noisy
machine.

Run alone: ``.venv/bin/python -m benchmarks.bench_optbinning --config WORKSPACE.toml``.
"""

from __future__ import annotations

import argparse
import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from benchmarks import require_attribute, require_module, timing
from benchmarks.timing import REPEATS


@dataclass
class TrainingSplit:
    """The matrices both scales are fitted and judged on."""

    X_train: pd.DataFrame
    y_train: np.ndarray
    X_holdout: pd.DataFrame
    y_holdout: np.ndarray
    scorecard: Any
    """An unfitted estimator configured exactly as ``alignment fit`` configures its scale."""


def load_training_split(config_path: str | Path) -> TrainingSplit:
    """The training matrix, hold-out and unfitted scale that ``alignment fit`` uses, from the model module."""
    model = require_module("alignment.model")
    split = require_attribute(model, "training_split")(config_path)
    return TrainingSplit(X_train=split.X_train, y_train=np.asarray(split.y_train, dtype=int),
                         X_holdout=split.X_holdout, y_holdout=np.asarray(split.y_holdout, dtype=int),
                         scorecard=split.scorecard)


def categorical_columns(X: pd.DataFrame) -> list[str]:
    """Columns optbinning must bin as categories (anything that is not a number)."""
    return [column for column in X.columns
            if not (pd.api.types.is_numeric_dtype(X[column]) and not pd.api.types.is_bool_dtype(X[column]))]


def optbinning_scorecard(X_train: pd.DataFrame, seed: int = 0):
    """optbinning's standard points scorecard: optimal binning per column, a logistic model, scaled 0–100.

    ``reverse_scorecard=True`` makes a higher score mean a likelier win (optbinning's default is the
    credit-risk convention, where a higher score means a less likely event).
    """
    from optbinning import BinningProcess, Scorecard

    binning = BinningProcess(variable_names=list(X_train.columns),
                             categorical_variables=categorical_columns(X_train))
    return Scorecard(binning_process=binning, estimator=LogisticRegression(max_iter=1000, random_state=seed),
                     scaling_method="min_max", scaling_method_params={"min": 0, "max": 100},
                     reverse_scorecard=True)


def _for_optbinning(X: pd.DataFrame) -> pd.DataFrame:
    """optbinning wants numbers as float and categories as plain strings with NaN for missing."""
    converted, categorical = {}, set(categorical_columns(X))
    for column in X.columns:
        series = X[column]
        if column in categorical:
            converted[column] = series.astype(object).where(series.notna(), np.nan).astype(object)
        else:
            converted[column] = series.astype(float)
    return pd.DataFrame(converted, index=X.index)


def compare_with_optbinning(config_path: str | Path, *, seed: int = 0,
                            echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Fit our scale and optbinning's on the same training matrix; score both on the same hold-out.

    Parameters
    ----------
    config_path : str or Path
        The workspace config (the benchmark's demo history).
    seed : int
        Seed of optbinning's logistic model (ours takes the config's).
    echo : callable
        Where progress lines go.

    Returns
    -------
    dict
        ``scorecard_fit_seconds`` (ours as the fit configures it, bootstrap intervals included),
        ``scorecard_fit_noboot_seconds`` (without them), ``scorecard_auc``, ``optbinning_fit_seconds``,
        ``optbinning_auc``, ``fit_vs_optbinning_ratio`` (optbinning's time ÷ ours; ≥ 3 is the target),
        ``fit_vs_optbinning_ratio_noboot``, ``auc_minus_optbinning_auc`` and the row counts. Times are the
        medians of :data:`REPEATS` interleaved fits per side (``*_spread_seconds``: max - min), the ratio is
        the ratio of medians (``_min``/``_max``: of the per-round ratios).
    """
    split = load_training_split(config_path)
    echo(f"  training matrix {split.X_train.shape[0]:,} × {split.X_train.shape[1]}, "
         f"hold-out {split.X_holdout.shape[0]:,} leads")
    return compare_on_split(split, seed=seed, echo=echo)


def compare_on_split(split: TrainingSplit, *, seed: int = 0,
                     echo: Callable[[str], None] = print) -> dict[str, Any]:
    """The comparison itself, on matrices already built (see :func:`compare_with_optbinning`)."""
    if len(np.unique(split.y_train)) < 2 or len(np.unique(split.y_holdout)) < 2:
        raise ValueError("the training window and the hold-out both need won and not-won leads")
    # Both single-threaded, as `alignment fit` runs its scale (thread pools spin against each other on a
    # shared 2-core machine); optbinning's BinningProcess runs in one process by default too.
    with threadpool_limits(limits=1):
        return _compare(split, seed=seed, echo=echo)


# One timing per side, one after the other, swung the ratio from 1.7x to 5x between runs on a shared machine:
# benchmarks.timing times them interleaved, REPEATS rounds.


def _compare(split: TrainingSplit, *, seed: int, echo: Callable[[str], None],
             repeats: int = REPEATS) -> dict[str, Any]:
    X_train, X_holdout = _for_optbinning(split.X_train), _for_optbinning(split.X_holdout)
    has_boot = "n_boot" in split.scorecard.get_params()
    fitted: dict[str, Any] = {}

    def fit_ours() -> None:
        fitted["ours"] = clone(split.scorecard).fit(split.X_train, split.y_train)

    def fit_bare() -> None:
        # optbinning computes no bootstrap intervals: ours without them too, like for like.
        fitted["bare"] = clone(split.scorecard).set_params(n_boot=0).fit(split.X_train, split.y_train)

    def fit_theirs() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # optbinning's own deprecation chatter, not our concern here
            fitted["theirs"] = optbinning_scorecard(X_train, seed=seed).fit(X_train, split.y_train)

    sides = {"ours": fit_ours, "theirs": fit_theirs, **({"bare": fit_bare} if has_boot else {})}
    seconds = timing.interleaved(sides, repeats)
    median = {name: timing.median(times) for name, times in seconds.items()}
    spread = {name: timing.spread(times) for name, times in seconds.items()}
    ours_auc = roc_auc_score(split.y_holdout, fitted["ours"].decision_function(split.X_holdout))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs_scores = fitted["theirs"].score(X_holdout)
    theirs_auc = roc_auc_score(split.y_holdout, theirs_scores)
    bare_median = median.get("bare", math.nan)
    echo(f"  {repeats} interleaved fits each: our scale median {median['ours']:.2f} s "
         f"(spread {spread['ours']:.2f} s), without intervals {bare_median:.2f} s, optbinning "
         f"{median['theirs']:.2f} s (spread {spread['theirs']:.2f} s); hold-out AUC {ours_auc:.4f} against "
         f"{theirs_auc:.4f}")
    lowest, highest = timing.ratio_range(seconds["theirs"], seconds["ours"])
    return {
        "scorecard_fit_seconds": round(median["ours"], 3),
        "scorecard_fit_spread_seconds": round(spread["ours"], 3),
        "scorecard_auc": round(float(ours_auc), 5),
        "optbinning_fit_seconds": round(median["theirs"], 3),
        "optbinning_fit_spread_seconds": round(spread["theirs"], 3),
        "optbinning_auc": round(float(theirs_auc), 5),
        "scorecard_fit_noboot_seconds": round(bare_median, 3),
        "fit_vs_optbinning_ratio": round(median["theirs"] / median["ours"], 2),
        "fit_vs_optbinning_ratio_min": round(lowest, 2),
        "fit_vs_optbinning_ratio_max": round(highest, 2),
        "fit_vs_optbinning_ratio_noboot": round(median["theirs"] / bare_median, 2),
        "auc_minus_optbinning_auc": round(float(ours_auc - theirs_auc), 5),
        "timing_repeats": repeats,
        "train_rows": int(split.X_train.shape[0]),
        "holdout_rows": int(split.X_holdout.shape[0]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(json.dumps(compare_with_optbinning(args.config, seed=args.seed), indent=2))


if __name__ == "__main__":
    main()
