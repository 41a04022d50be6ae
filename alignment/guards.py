"""Guards before a fit: leakage, constant and duplicate columns, and the minimum data to fit at all.

Pure functions: they return what they found (and warning strings) and print nothing.

Each candidate column is weighed on several kinds of evidence that it was recorded after the outcome, all
measured on the rows :func:`screen_columns` is given (``alignment fit`` passes the training window and the
unlabelled leads, never the calibration or hold-out windows):

- **listed** in ``scoring.after_outcome`` (strong);
- **filled after the outcome**: filled for ≥ 90% of won (closed) leads and ≤ 20% of the others (open leads),
  with ≥ 20 leads on each side (strong);
- **separates almost perfectly**: single-column ROC AUC ≥ 0.95 under a fair encoding (numbers: the value and
  its negation, missing placed at either end; categories, and numbers with at most 20 distinct values: each
  level's win rate learned on the other folds of a 5-fold split, so an id-like column cannot score itself)
  (strong);
- **relative strength**: alone it ranks the outcome at least as well as all the other columns together
  (cross-validated) and reaches AUC ≥ 0.70 (strong); within 0.03 of them and ≥ 0.65 (weak);
- **values that name an outcome or a sales disposition** ("Closed - won by …", "Lost to …", "Will call back",
  "Not interested", "Already a customer", "Wrong number"…) on ≥ 10% of its filled labelled leads, at least two
  such values: strong when the column carries signal (AUC ≥ 0.65), weak otherwise;
- **missingness that marks the outcome**: a missing band of ≥ 20 leads of which ≥ 50% are open at the export
  and at least twice the open share of the filled leads (strong); or filled for at least 40 points more of
  the won than of the not-won leads and at least twice as often (strong; 20 points: weak);
- **a name** that says status, stage, disposition, result, outcome, close, tag or reason (weak: a hint only).

One strong piece of evidence, or two weak ones, leave the column out (``leakage``, with its evidence); one
weak piece keeps it but lists it as suspected (``suspected``). ``scoring.force_include`` keeps any column
the user insists on, flagged or not, with a warning that starts ``FORCED IN``. Constant columns (one value,
missing included) and duplicates (the same partition of the leads as an earlier column: equal values, a
one-to-one relabelling of a column with repeated levels, or a monotone transform of a number) are dropped with
a note. See ``docs/features.md``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict

from alignment.config import FAMILIES, Config
from alignment.exceptions import ModelError
from alignment.labels import value_counts_as_text
from alignment.metrics import auc_from_ranks, auc_of_levels

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
RELATIVE_STRONG_AUC = 0.70
"""A column at least as strong as all the others together is left out from this single-column AUC."""
RELATIVE_WEAK_AUC = 0.65
"""... and suspected from this AUC when within ``RELATIVE_WEAK_MARGIN`` of all the others together."""
RELATIVE_WEAK_MARGIN = 0.03
RELATIVE_MAX_ROWS = 20_000
"""The all-the-others model is cross-validated on a seeded sample of at most this many labelled leads."""
RELATIVE_MAX_COLUMNS = 40
"""All the other columns together: at most this many of them, the strongest alone (the rest add little)."""
NUMBER_BINS = 10
"""Numbers enter the all-the-others model as this many quantile bins (and missing), each by its win rate."""
DISPOSITION_SHARE = 0.10
"""Share of a column's filled labelled leads whose value names an outcome, from which the values count."""
DISPOSITION_SIGNAL_AUC = 0.65
"""Outcome-naming values are strong evidence when the column reaches this single-column AUC."""
DISPOSITION = re.compile(
    r"\b(closed?|won|lost|lose|converted|conversion|call(?:ed)?[ -]?back|not interested|no interest|"
    r"interested in|junk|spam|wrong (?:number|contact|person)|already|disqualified|unqualified|no answer|"
    r"not reachable|unreachable|ringing|voice ?mail|do not call|dnc|switched off|invalid number|"
    r"lost to|won by|purchased|signed|opted out|bounced|not eligible|declined|rejected)\b",
    re.IGNORECASE)
"""Values that name an outcome or a sales disposition, in their common spellings."""
OPEN_MISSING_SHARE = 0.5
"""A missing band made at least this much of leads open at the export..."""
OPEN_MISSING_RATIO = 2.0
"""... and at least this many times the open share of the filled leads, marks the open leads."""
FILL_GAP_STRONG, FILL_GAP_WEAK, FILL_RATIO = 0.40, 0.20, 2.0
"""Fill-rate gaps (won minus not won) that are strong / weak evidence, when also ``FILL_RATIO`` times."""
SUSPECT_NAME = re.compile(r"(^|_)(status|stage|disposition|result|outcome|close|closed|closing|tags?|reason)"
                          r"($|_)")
"""Column names that hint at a value set after the outcome (a weak hint: names are not evidence alone)."""

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
        ``{"column", "reason", "evidence"}`` for each leaky column left out (``evidence``: one line each).
    suspected : list of dict
        ``{"column", "reason", "evidence"}`` for each column kept on weak evidence of leakage.
    dropped : list of dict
        ``{"column", "reason"}`` for each constant or duplicate column.
    forced : list of str
        Flagged or suspected columns kept because ``scoring.force_include`` lists them.
    warnings : list of str
        One line each, for the model card and the notebook.
    single_auc : dict
        Column → its single-column AUC under the fair encoding (on the labelled leads).
    """

    kept: list[str]
    leakage: list[dict] = field(default_factory=list)
    suspected: list[dict] = field(default_factory=list)
    dropped: list[dict[str, str]] = field(default_factory=list)
    forced: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    single_auc: dict[str, float] = field(default_factory=dict)


@functools.lru_cache(maxsize=4)
def _fold_of_row(n_rows: int, seed: int) -> np.ndarray:
    """Each row's fold in the level encoding's split: the same for every column of one screen, so it is
    drawn once (read-only)."""
    fold_of_row = np.empty(n_rows, dtype=np.intp)
    split = KFold(TARGET_FOLDS, shuffle=True, random_state=seed).split(np.empty((n_rows, 0)))
    for fold, (_, rows) in enumerate(split):
        fold_of_row[rows] = fold
    fold_of_row.flags.writeable = False
    return fold_of_row


def _out_of_fold_rate(codes: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Each row's level win rate learned on the other folds (the overall rate there for a level unseen
    there). Wins and rows are counted per fold and level in one pass: counts of 0/1 labels are exact in
    floats, so each rate is the very number counted fold by fold."""
    n_levels = int(codes.max()) + 1
    fold = _fold_of_row(len(y), seed)
    cell = fold * n_levels + codes
    wins_in = np.bincount(cell, weights=y, minlength=TARGET_FOLDS * n_levels).reshape(TARGET_FOLDS, n_levels)
    rows_in = np.bincount(cell, minlength=TARGET_FOLDS * n_levels).reshape(TARGET_FOLDS, n_levels)
    wins, rows = wins_in.sum(axis=0) - wins_in, rows_in.sum(axis=0) - rows_in
    rows_outside, wins_outside = len(y) - rows_in.sum(axis=1), wins_in.sum() - wins_in.sum(axis=1)
    prior = np.where(rows_outside > 0, wins_outside / np.maximum(rows_outside, 1), 0.5)
    level_rate = np.where(rows > 0, wins / np.maximum(rows, 1), prior[:, None])
    return level_rate[fold, codes]


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
        # Missing values tied below every number, then above: their average rank, the others' shifted.
        n_missing, n_known = int(missing.sum()), int((~missing).sum())
        below = np.where(missing, (n_missing + 1) / 2, rank + n_missing)
        above = np.where(missing, n_known + (n_missing + 1) / 2, rank)
        for combined in (below, above):
            auc = auc_from_ranks(y, combined)
            best = max(best, auc, 1.0 - auc)
        if values.nunique(dropna=False) > LEVELS_AS_CATEGORIES:
            return float(best)
    codes, _ = pd.factorize(values, use_na_sentinel=False)
    auc = auc_of_levels(y, _out_of_fold_rate(codes, y, seed))
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
    known = label.reset_index(drop=True).dropna()  # by position: lead ids as labels cost a hash of them
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
        unknown = set(pd.Series(outcome.reset_index(drop=True).dropna().unique()).astype(str)) - {
            "won", "lost", "open"}
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


@dataclass
class _Evidence:
    """One piece of evidence that a column was recorded after the outcome."""

    strong: bool
    text: str


def _fill_rule(filled: np.ndarray, groups: list[tuple[str, np.ndarray, str, np.ndarray]]) -> _Evidence | None:
    """Filled almost only for won (closed) leads."""
    for name_in, inside, name_out, outside in groups:
        if inside.sum() < MIN_GROUP or outside.sum() < MIN_GROUP:
            continue
        rate_in, rate_out = filled[inside].mean(), filled[outside].mean()
        if rate_in >= FILLED_HIGH and rate_out <= FILLED_LOW:
            return _Evidence(True, f"filled for {rate_in:.0%} of {name_in} leads but only {rate_out:.0%} of "
                                   f"{name_out} leads (recorded once the outcome is known)")
    return None


def _missingness_rule(filled: np.ndarray, label: np.ndarray, open_: np.ndarray | None) -> _Evidence | None:
    """A missing band made of the open leads, or a column filled far more often for won than not-won leads."""
    missing = ~filled
    if open_ is not None and missing.sum() >= MIN_GROUP and filled.sum() >= MIN_GROUP:
        open_missing, open_filled = open_[missing].mean(), open_[filled].mean()
        if open_missing >= OPEN_MISSING_SHARE and open_missing >= OPEN_MISSING_RATIO * open_filled:
            return _Evidence(True, f"missing for {int(missing.sum()):,} leads of which {open_missing:.0%} "
                                   f"are still open at the export (of the filled leads: {open_filled:.0%}): "
                                   "the export fills it as deals progress, so 'missing' stands for 'not "
                                   "closed yet'")
    won, not_won = label == 1, label == 0
    if won.sum() < MIN_GROUP or not_won.sum() < MIN_GROUP:
        return None
    rate_won, rate_other = filled[won].mean(), filled[not_won].mean()
    gap = rate_won - rate_other
    if gap >= FILL_GAP_WEAK and rate_won >= FILL_RATIO * rate_other:
        return _Evidence(gap >= FILL_GAP_STRONG,
                         f"filled for {rate_won:.0%} of won leads but {rate_other:.0%} of the others (as if "
                         "filled in once a lead converted)")
    return None


def _disposition_rule(values: pd.Series, labelled: np.ndarray, auc: float | None) -> _Evidence | None:
    """Values that name an outcome or a sales disposition."""
    if _is_number(values) or pd.api.types.is_bool_dtype(values):
        return None
    levels = value_counts_as_text(values.iloc[labelled])
    if levels.empty:
        return None
    shown = levels.sum()
    naming = [level for level in levels.index if DISPOSITION.search(level)]
    share = float(levels[naming].sum() / shown) if naming else 0.0
    if len(naming) < 2 or share < DISPOSITION_SHARE:
        return None
    examples = ", ".join(f"'{level}'" for level in naming[:3])
    strong = auc is not None and auc >= DISPOSITION_SIGNAL_AUC
    return _Evidence(strong, f"{share:.0%} of its values name an outcome or a sales disposition ({examples})")


def _name_rule(column: str) -> _Evidence | None:
    name = re.sub(r"[^0-9a-z]+", "_", str(column).lower()).strip("_")
    if SUSPECT_NAME.search(name):
        return _Evidence(False, "its name reads like a status or result set by sales")
    return None


def _encoded(values: pd.Series, y: np.ndarray, seed: int) -> np.ndarray:
    """A column as each row's out-of-fold level win rate (numbers by quantile bins), on the logit scale."""
    if _is_number(values) and values.nunique() > LEVELS_AS_CATEGORIES:
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
        codes = np.full(len(numbers), NUMBER_BINS, dtype=np.int64)
        seen = ~np.isnan(numbers)
        ranks = pd.Series(numbers[seen]).rank(pct=True, method="average").to_numpy()
        codes[seen] = np.minimum((ranks * NUMBER_BINS).astype(np.int64), NUMBER_BINS - 1)
    else:
        codes, _ = pd.factorize(values, use_na_sentinel=False)
    rate = np.clip(_out_of_fold_rate(codes, y, seed), 1e-3, 1 - 1e-3)
    return np.log(rate / (1 - rate))


def _others_auc(encoded: dict[str, np.ndarray], column: str, y: np.ndarray, seed: int) -> float | None:
    """Cross-validated AUC of a logistic model on every other column (None with fewer than two others)."""
    others = [name for name in encoded if name != column]
    if len(others) < 2:
        return None
    design = np.column_stack([encoded[name] for name in others])
    folds = StratifiedKFold(TARGET_FOLDS, shuffle=True, random_state=seed)
    # Newton steps suit many rows and few columns: a handful of steps where L-BFGS took ~130 (5x the time).
    predicted = cross_val_predict(LogisticRegression(solver="newton-cholesky", max_iter=500), design, y,
                                  cv=folds, method="predict_proba")[:, 1]
    auc = roc_auc_score(y, predicted)
    return float(max(auc, 1.0 - auc))


def _strength_rule(auc: float, others: float | None) -> _Evidence | None:
    """Alone as strong as all the other columns together."""
    if others is None:
        return None
    if auc >= RELATIVE_STRONG_AUC and auc >= others:
        return _Evidence(True, f"alone it ranks the outcome as well as all the other columns together "
                               f"(AUC {auc:.3f} against {others:.3f}, cross-validated): an attribute known "
                               "before the outcome rarely does")
    if auc >= RELATIVE_WEAK_AUC and auc >= others - RELATIVE_WEAK_MARGIN:
        return _Evidence(False, "alone it ranks the outcome almost as well as all the other columns "
                                f"together (AUC {auc:.3f} against {others:.3f})")
    return None


def _verdict(evidence: list[_Evidence]) -> str | None:
    """``"leaky"`` (one strong or two weak pieces), ``"suspected"`` (one weak piece) or None."""
    if any(piece.strong for piece in evidence) or len(evidence) >= 2:
        return "leaky"
    return "suspected" if evidence else None


def _finding(column: str, evidence: list[_Evidence]) -> dict:
    ordered = sorted(evidence, key=lambda piece: not piece.strong)
    return {"column": column, "reason": "; ".join(piece.text for piece in ordered),
            "evidence": [piece.text for piece in ordered]}


def _labelled_sample(label_values: np.ndarray, config: Config) -> np.ndarray:
    labelled = np.flatnonzero(~np.isnan(label_values))
    if len(labelled) > AUC_MAX_ROWS:
        rng = np.random.default_rng(config.scoring.seed)
        labelled = np.sort(rng.choice(labelled, AUC_MAX_ROWS, replace=False))
    return labelled


def _drop_constant_and_duplicates(X: pd.DataFrame, result: GuardResult, skip: set[str]) -> list[str]:
    """Columns left after constant and duplicate ones are dropped (with a note each)."""
    # Columns by the digest of their codes; a match is confirmed by factorizing the other column again
    # (holding every column's codes took 8 bytes per lead per column: 1 GB at 7M leads).
    partitions: dict[int, list[str]] = {}
    id_like: dict[int, list[str]] = {}
    left = []
    for column in X.columns:
        if column in skip:
            left.append(column)
            continue
        values = X[column]
        codes, uniques = pd.factorize(values, use_na_sentinel=False)
        if len(uniques) <= 1:
            value = uniques[0] if len(uniques) else None
            if isinstance(value, np.generic):
                value = value.item()  # "0.0", not "np.float64(0.0)"
            only = "missing" if value is None or pd.isna(value) else repr(value)
            result.dropped.append({"column": column, "reason": f"constant (every lead: {only})"})
            continue
        if len(uniques) > len(values) // 2:
            twin = _id_like_twin(X, values, len(uniques), id_like)
        else:
            key = hash(codes.tobytes())
            twin = next((name for name in partitions.get(key, [])
                         if np.array_equal(pd.factorize(X[name], use_na_sentinel=False)[0], codes)
                         and _same_information(X[name], values, len(uniques))), None)
            if twin is None:
                partitions.setdefault(key, []).append(column)
        if twin is not None:
            result.dropped.append({"column": column, "reason": f"duplicate of '{twin}' (same values, or a "
                                                               "one-to-one relabelling of them)"})
            continue
        if len(uniques) > len(values) // 2:
            _remember_id_like(column, values, id_like)
        left.append(column)
    return left


ID_LIKE_FINGERPRINT = 2_000
"""Rows whose order (numbers) or values (text) fingerprint an id-like column before the exact comparison."""


def _id_like_keys(values: pd.Series) -> list[int]:
    """Fingerprints of what makes two id-like columns (about one level per lead) duplicates: numbers in the
    same or the reverse order, or equal values. Keyed on these, a wide export of continuous numbers is
    screened in linear time (the leads' partition alone would make every such pair a candidate)."""
    head = values.iloc[:ID_LIKE_FINGERPRINT]
    if _is_number(values):
        numbers = head.to_numpy(dtype=np.float64, na_value=np.nan)
        return [hash(np.argsort(numbers, kind="stable").tobytes()),
                hash(np.argsort(-numbers, kind="stable").tobytes())]
    return [hash(pd.util.hash_pandas_object(head, index=False).to_numpy().tobytes())]


def _id_like_twin(X: pd.DataFrame, values: pd.Series, n_levels: int,
                  id_like: dict[int, list[str]]) -> str | None:
    for key in _id_like_keys(values):
        for name in id_like.get(key, []):
            if _same_information(X[name], values, n_levels):
                return name
    return None


def _remember_id_like(column: str, values: pd.Series, id_like: dict[int, list[str]]) -> None:
    id_like.setdefault(_id_like_keys(values)[0], []).append(column)


def _relative_strengths(X: pd.DataFrame, columns: list[str], single: dict[str, float], y_full: np.ndarray,
                        labelled: np.ndarray, seed: int) -> dict[str, float | None]:
    """The all-the-others AUC of each column strong enough alone for the relative rule to matter."""
    candidates = [c for c in columns if single.get(c, 0.0) >= RELATIVE_WEAK_AUC]
    if not candidates:
        return {}
    rows = labelled
    if len(rows) > RELATIVE_MAX_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(rows, RELATIVE_MAX_ROWS, replace=False))
    y = y_full[rows]
    if min(int(y.sum()), int(len(y) - y.sum())) < TARGET_FOLDS:
        return {}
    # The strongest columns carry what "all the others together" know; on a wide export the weak tail adds
    # little and would cost a model per candidate over thousands of columns.
    strongest = sorted(columns, key=lambda c: -single.get(c, 0.5))[:RELATIVE_MAX_COLUMNS + 1]
    encoded = {c: _encoded(X[c].iloc[rows], y, seed) for c in strongest}
    result = {}
    for column in candidates:
        others = {name: values for name, values in encoded.items() if name != column}
        others = dict(list(others.items())[:RELATIVE_MAX_COLUMNS])
        result[column] = _others_auc(others, column, y, seed)
    return result


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
        with open leads, and a missing band made of open leads is evidence. Without it, won (label 1) is
        compared with every other lead.

    Returns
    -------
    GuardResult
    """
    _check_inputs(X, label, family, config, outcome)
    # The rules read rows by position. With the lead ids as labels, pandas hashes a million of them each
    # time it checks a mask or a missing value against the index (0.35 s at 1M leads).
    X, label = X.reset_index(drop=True), label.reset_index(drop=True)
    outcome = None if outcome is None else outcome.reset_index(drop=True)
    result = GuardResult(kept=[])
    after_outcome = set(config.scoring.after_outcome)
    force = set(config.scoring.force_include)
    seed = config.scoring.seed
    for name in sorted(after_outcome - set(X.columns)):
        result.warnings.append(f"scoring.after_outcome lists '{name}', which is not a feature column")

    label_values = label.to_numpy(dtype=np.float64)
    open_ = None
    if outcome is not None:
        state = outcome.astype("category")  # a byte per lead, not a Python object
        won = (state == "won").to_numpy()
        open_ = (state == "open").to_numpy()
        closed = state.isin(["won", "lost"]).to_numpy()
        groups = [("won", won, "lost or open", ~won), ("closed", closed, "open", open_)]
    else:
        won = label_values == 1
        groups = [("won", won, "other", ~won)]

    labelled = _labelled_sample(label_values, config)
    y = label_values[labelled]
    can_auc = 0 < y.sum() < len(y)
    if not can_auc:
        result.warnings.append("the labelled leads are all won or all not won: the single-column AUC "
                               "leakage check was skipped")

    columns = _drop_constant_and_duplicates(X, result, skip=after_outcome & set(X.columns))
    candidates = [c for c in columns if c not in after_outcome]
    if can_auc:
        result.single_auc = {c: single_column_auc(X[c].iloc[labelled], y, seed) for c in candidates}
        others = _relative_strengths(X, candidates, result.single_auc, label_values, labelled, seed)
    else:
        others = {}

    findings: dict[str, tuple[str, dict]] = {}
    for column in columns:
        if column in after_outcome:
            evidence = [_Evidence(True, "listed in scoring.after_outcome (recorded after the outcome)")]
        else:
            values = X[column]
            filled = values.notna().to_numpy()
            auc = result.single_auc.get(column)
            evidence = [piece for piece in (
                _fill_rule(filled, groups),
                _Evidence(True, "alone separates won from lost almost perfectly (single-column AUC "
                                f"{auc:.3f} ≥ {LEAKAGE_AUC})")
                if auc is not None and auc >= LEAKAGE_AUC else None,
                _strength_rule(auc, others.get(column)) if auc is not None else None,
                _disposition_rule(values, labelled, auc),
                _missingness_rule(filled, label_values, open_),
                _name_rule(column),
            ) if piece is not None]
        kind = _verdict(evidence)
        if kind is not None:
            findings[column] = (kind, _finding(column, evidence))
        if kind != "leaky":
            result.kept.append(column)

    _apply_force(result, findings, force, X.columns)
    return result


def _apply_force(result: GuardResult, findings: dict[str, tuple[str, dict]], force: set[str],
                 columns: pd.Index) -> None:
    """Sort findings into leakage / suspected, keep what ``force_include`` lists, and say so loudly."""
    for column, (kind, finding) in findings.items():
        if column in force:
            result.forced.append(column)
            word = "LEAKAGE" if kind == "leaky" else "SUSPECTED LEAKAGE"
            result.warnings.append(
                f"{word} FORCED IN: '{column}' {finding['reason']}, yet it is kept because "
                "scoring.force_include lists it: hold-out figures will look better than the scale will do on "
                "new leads")
        (result.leakage if kind == "leaky" else result.suspected).append(finding)
    result.leakage = [item for item in result.leakage if item["column"] not in force]
    dropped = {item["column"] for item in result.dropped}
    for column in sorted(force - set(findings)):
        if column not in columns:
            result.warnings.append(f"scoring.force_include lists '{column}', which is not a feature column: "
                                   "nothing to force")
        elif column in dropped:
            result.warnings.append(f"scoring.force_include lists '{column}', which was dropped as constant "
                                   "or a duplicate: nothing to force")
        else:
            result.warnings.append(
                f"FORCED IN: '{column}' is kept because scoring.force_include lists it. The guard found no "
                "evidence that it is recorded after the outcome, which is not proof that it is known when a "
                "lead is scored: check where the export fills it")
    if result.forced:
        order = {column: i for i, column in enumerate(columns)}
        result.kept = sorted({*result.kept, *result.forced}, key=order.__getitem__)


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
