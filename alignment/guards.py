"""Guards before a fit: leakage, constant and duplicate columns, and the minimum data to fit at all.

Pure functions: they return what they found (and warning strings) and print nothing.

A column is **leaky** (left out, with its reason) when

1. the config lists it in ``scoring.after_outcome`` (recorded after the outcome);
2. it is filled almost only for won leads, or only for closed leads: filled for at least 90% of won leads
   (closed leads) and at most 20% of the others (open leads), with at least 20 leads on each side;
3. it alone separates won from lost almost perfectly: its single-column ROC AUC on the labelled leads is
   at least 0.95 under a fair encoding (numbers: the value and its negation, missing placed at either end;
   categories, and numbers with at most 20 distinct values: each level's win rate learned on the other
   folds of a 5-fold split, so an id-like column cannot score itself; missing is a level of its own).

``scoring.force_include`` keeps a leaky column, with a loud warning. Constant columns (one value, missing
included) and duplicates (the same partition of the leads as an earlier column: equal values, a one-to-one
relabelling of a column with repeated levels, or a monotone transform of a number) are dropped with a note.
See ``docs/features.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import KFold

from alignment.config import FAMILIES, Config
from alignment.exceptions import ModelError

LEAKAGE_AUC = 0.95
"""Single-column ROC AUC from which a column is taken to leak the outcome."""
FILLED_HIGH = 0.9
"""Fill rate among won (closed) leads from which the fill-rate rule looks at a column."""
FILLED_LOW = 0.2
"""Fill rate among the other (open) leads at or below which the column counts as filled after the outcome."""
MIN_GROUP = 20
"""Leads needed on each side before the fill-rate rule says anything."""
AUC_MAX_ROWS = 250_000
"""The leakage AUC is measured on a seeded sample of at most this many labelled leads (±0.002 on AUC)."""
LEVELS_AS_CATEGORIES = 20
"""Numeric columns with at most this many distinct values are also screened level by level."""
TARGET_FOLDS = 5

MIN_LEADS = 1_000
"""Below this many labelled leads: a warning (Einstein's floor)."""
MIN_WINS = 120
"""Below this many wins: a warning (Einstein's floor)."""
REFUSE_WINS = 30
"""Below this many wins: no scale is fitted."""


@dataclass
class GuardResult:
    """What :func:`screen_columns` found.

    Attributes
    ----------
    kept : list of str
        Columns to fit on, in the order of ``X`` (forced leaky columns included).
    leakage : list of dict
        ``{"column", "reason"}`` for each leaky column left out.
    dropped : list of dict
        ``{"column", "reason"}`` for each constant or duplicate column.
    forced : list of str
        Leaky columns kept because ``scoring.force_include`` lists them.
    warnings : list of str
        One line each, for the model card and the notebook.
    single_auc : dict
        Column → its single-column AUC under the fair encoding (on the labelled leads).
    """

    kept: list[str]
    leakage: list[dict[str, str]] = field(default_factory=list)
    dropped: list[dict[str, str]] = field(default_factory=list)
    forced: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    single_auc: dict[str, float] = field(default_factory=dict)


def _out_of_fold_rate(codes: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Each row's level win rate learned on the other folds (the overall rate for a level unseen there)."""
    n_levels = int(codes.max()) + 1
    total_wins = np.bincount(codes, weights=y, minlength=n_levels)
    total_rows = np.bincount(codes, minlength=n_levels)
    rate = np.empty(len(y))
    for _, fold in KFold(TARGET_FOLDS, shuffle=True, random_state=seed).split(codes):
        wins = total_wins - np.bincount(codes[fold], weights=y[fold], minlength=n_levels)
        rows = total_rows - np.bincount(codes[fold], minlength=n_levels)
        outside = np.delete(y, fold)
        prior = outside.mean() if len(outside) else 0.5
        level_rate = np.where(rows > 0, wins / np.maximum(rows, 1), prior)
        rate[fold] = level_rate[codes[fold]]
    return rate


def single_column_auc(values: pd.Series, y: np.ndarray, seed: int = 0) -> float:
    """How well one column alone separates ``y == 1`` from ``y == 0`` (0.5 = not at all, 1 = perfectly).

    Parameters
    ----------
    values : pd.Series
        The column on the labelled rows.
    y : np.ndarray
        0/1 labels of the same rows (both classes present).
    seed : int
        Seed of the fold split of the level encoding.

    Returns
    -------
    float
        The best AUC over the fair encodings of the module docstring, folded so that it is ≥ 0.5.
    """
    y = np.asarray(y)
    if not isinstance(values, pd.Series):
        raise TypeError(f"values must be a Series, not {type(values).__name__}")
    if len(values) != len(y):
        raise ValueError(f"values ({len(values)}) and y ({len(y)}) must have the same length")
    if not (np.isin(y, [0, 1]).all() and 0 < y.sum() < len(y)):
        raise ValueError("y must be 0/1 with both classes present")
    best = 0.5
    if _is_number(values):
        # Ranks: the AUC only depends on the order, and ranks keep ±inf in it.
        rank = pd.Series(values.to_numpy(dtype=np.float64, na_value=np.nan)).rank().to_numpy()
        missing = np.isnan(rank)
        if missing.all():
            return 0.5
        for fill in (0.0, len(rank) + 1.0):
            auc = roc_auc_score(y, np.where(missing, fill, rank))
            best = max(best, auc, 1.0 - auc)
        if values.nunique(dropna=False) > LEVELS_AS_CATEGORIES:
            return float(best)
    codes, _ = pd.factorize(values, use_na_sentinel=False)
    auc = roc_auc_score(y, _out_of_fold_rate(codes, y, seed))
    return float(max(best, auc, 1.0 - auc))


def _check_inputs(X: pd.DataFrame, label: pd.Series, family: dict, config: Config,
                  outcome: pd.Series | None) -> None:
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"X must be a DataFrame, not {type(X).__name__}")
    if not X.columns.is_unique:
        raise ValueError(f"X has duplicate column names: {sorted(set(X.columns[X.columns.duplicated()]))}")
    if not isinstance(label, pd.Series):
        raise TypeError(f"label must be a Series, not {type(label).__name__}")
    if not label.index.equals(X.index):
        raise ValueError("label must have the same index as X (one label per lead, in the same order)")
    known = label.dropna()
    if not pd.api.types.is_numeric_dtype(label) or not known.isin([0, 1]).all():
        raise ValueError("label must hold 1.0 (won), 0.0 (not won) or NaN (excluded)")
    if not isinstance(family, dict):
        raise TypeError(f"family must be a dict of column -> family, not {type(family).__name__}")
    unassigned = [column for column in X.columns if family.get(column) not in FAMILIES]
    if unassigned:
        raise ValueError(f"family gives no valid family for {unassigned[:5]} "
                         f"(families: {', '.join(FAMILIES)})")
    if not isinstance(config, Config):
        raise TypeError(f"config must be an alignment.config.Config, not {type(config).__name__}")
    if outcome is not None:
        if not isinstance(outcome, pd.Series) or not outcome.index.equals(X.index):
            raise ValueError("outcome must be a Series with the same index as X")
        unknown = set(outcome.dropna().astype(str).unique()) - {"won", "lost", "open"}
        if unknown:
            raise ValueError(f"outcome must be won / lost / open, found {sorted(unknown)[:3]}")


def _is_number(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _same_information(first: pd.Series, second: pd.Series, n_levels: int) -> bool:
    """Whether two columns that split the leads the same way are the same attribute.

    Two id-like columns (nearly one level per lead) always split the leads alike, so for them only equal
    values, or numbers that are a monotone transform of each other, count as duplicates.
    """
    if n_levels <= len(first) // 2 or first.equals(second):
        return True
    if not all(_is_number(column) for column in (first, second)):
        return False
    ranks = [pd.factorize(c, sort=True, use_na_sentinel=False)[0] for c in (first, second)]
    return bool(np.array_equal(*ranks) or np.array_equal(ranks[0], ranks[1].max() - ranks[1]))


def _fill_rule(filled: np.ndarray, groups: list[tuple[str, np.ndarray, str, np.ndarray]]) -> str | None:
    """The reason a column is filled after the outcome, or None."""
    for name_in, inside, name_out, outside in groups:
        if inside.sum() < MIN_GROUP or outside.sum() < MIN_GROUP:
            continue
        rate_in, rate_out = filled[inside].mean(), filled[outside].mean()
        if rate_in >= FILLED_HIGH and rate_out <= FILLED_LOW:
            return (f"filled for {rate_in:.0%} of {name_in} leads but only {rate_out:.0%} of {name_out} "
                    "leads (recorded once the outcome is known)")
    return None


def screen_columns(
    X: pd.DataFrame,
    label: pd.Series,
    family: dict[str, str],
    config: Config,
    *,
    outcome: pd.Series | None = None,
) -> GuardResult:
    """Screen candidate features for leakage, constant values and duplicates.

    Parameters
    ----------
    X : pd.DataFrame
        Candidate features (``FeatureSet.X``).
    label : pd.Series
        ``FeatureSet.label``: 1.0, 0.0 or NaN, same index as ``X``.
    family : dict
        Column → family, for every column of ``X``.
    config : Config
        Reads ``scoring.after_outcome``, ``scoring.force_include`` and ``scoring.seed``.
    outcome : pd.Series, optional
        won / lost / open per lead (same index as ``X``); with it the fill-rate rule also compares closed
        with open leads. Without it, won (label 1) is compared with every other lead.

    Returns
    -------
    GuardResult
    """
    _check_inputs(X, label, family, config, outcome)
    result = GuardResult(kept=[])
    after_outcome = set(config.scoring.after_outcome)
    force = set(config.scoring.force_include)
    for name in sorted(after_outcome - set(X.columns)):
        result.warnings.append(f"scoring.after_outcome lists '{name}', which is not a feature column")

    label_values = label.to_numpy(dtype=np.float64)
    if outcome is not None:
        state = outcome.astype(object).to_numpy()
        won, closed, open_ = state == "won", np.isin(state, ["won", "lost"]), state == "open"
        groups = [("won", won, "lost or open", ~won), ("closed", closed, "open", open_)]
    else:
        won = label_values == 1
        groups = [("won", won, "other", ~won)]

    labelled = np.flatnonzero(~np.isnan(label_values))
    if len(labelled) > AUC_MAX_ROWS:
        rng = np.random.default_rng(config.scoring.seed)
        labelled = np.sort(rng.choice(labelled, AUC_MAX_ROWS, replace=False))
    y = label_values[labelled]
    can_auc = 0 < y.sum() < len(y)
    if not can_auc:
        result.warnings.append("the labelled leads are all won or all not won: the single-column AUC "
                               "leakage check was skipped")

    partitions: dict[int, list[tuple[str, np.ndarray]]] = {}
    leaky: dict[str, str] = {}
    for column in X.columns:
        values = X[column]
        if column in after_outcome:
            leaky[column] = "listed in scoring.after_outcome (recorded after the outcome)"
            continue
        codes, uniques = pd.factorize(values, use_na_sentinel=False)
        if len(uniques) <= 1:
            value = uniques[0] if len(uniques) else None
            if isinstance(value, np.generic):
                value = value.item()  # "0.0", not "np.float64(0.0)"
            only = "missing" if value is None or pd.isna(value) else repr(value)
            result.dropped.append({"column": column, "reason": f"constant (every lead: {only})"})
            continue
        key = hash(codes.tobytes())
        twin = next((name for name, other in partitions.get(key, []) if np.array_equal(other, codes)
                     and _same_information(X[name], values, len(uniques))), None)
        if twin is not None:
            result.dropped.append({"column": column, "reason": f"duplicate of '{twin}' (same values, or a "
                                                               "one-to-one relabelling of them)"})
            continue
        partitions.setdefault(key, []).append((column, codes))

        reason = _fill_rule(values.notna().to_numpy(), groups)
        if can_auc:
            auc = single_column_auc(values.iloc[labelled], y, config.scoring.seed)
            result.single_auc[column] = auc
            if reason is None and auc >= LEAKAGE_AUC:
                reason = (f"alone separates won from lost almost perfectly (single-column AUC {auc:.3f} "
                          f"≥ {LEAKAGE_AUC})")
        if reason is not None:
            leaky[column] = reason
            continue
        result.kept.append(column)

    for column, reason in leaky.items():
        if column in force:
            result.forced.append(column)
            result.warnings.append(
                f"LEAKAGE FORCED IN: '{column}' {reason}, yet it is kept because scoring.force_include lists "
                "it: hold-out figures will look better than the scale will do on new leads")
        else:
            result.leakage.append({"column": column, "reason": reason})
    for column in sorted(force - set(leaky)):
        where = "is not a feature column" if column not in X.columns else "was not flagged as leaky"
        result.warnings.append(f"scoring.force_include lists '{column}', which {where}: nothing to force")
    if result.forced:
        order = {column: i for i, column in enumerate(X.columns)}
        result.kept = sorted([*result.kept, *result.forced], key=order.__getitem__)
    return result


def check_minimum_data(n_leads: int, n_wins: int) -> list[str]:
    """Warnings when the labelled history is thin; a refusal when it is too thin to fit.

    Parameters
    ----------
    n_leads : int
        Labelled leads (won or not) available for fitting.
    n_wins : int
        Won leads among them.

    Returns
    -------
    list of str
        Below ~1,000 leads or ~120 wins, a warning each (the vendor floors of the design brief).

    Raises
    ------
    ModelError
        Fewer than 30 wins: no scale is fitted.
    """
    for name, value in (("n_leads", n_leads), ("n_wins", n_wins)):
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
        if value < 0:
            raise ValueError(f"{name} must be ≥ 0, got {value}")
    if n_wins > n_leads:
        raise ValueError(f"n_wins ({n_wins}) cannot exceed n_leads ({n_leads})")
    if n_wins < REFUSE_WINS:
        raise ModelError(f"only {n_wins} won leads to learn from; a scale needs at least {REFUSE_WINS}",
                         hint="use a longer history, a longer scoring.horizon_days, or an earlier scoring "
                              "moment")
    warnings = []
    if n_leads < MIN_LEADS:
        warnings.append(f"only {n_leads:,} labelled leads (fewer than ~{MIN_LEADS:,}): the points are coarse "
                        "and their intervals wide")
    if n_wins < MIN_WINS:
        warnings.append(f"only {n_wins:,} won leads (fewer than ~{MIN_WINS}): the points are coarse and "
                        "their intervals wide")
    return warnings
