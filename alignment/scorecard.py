"""The points scale: banded attributes, a regularized logistic model, points that sum to 0-100.

How the scale is built (:class:`PointsScorecard`):

1. **Bands.** Each numeric attribute is cut at quantiles of the training window
   (at most ``max_bins`` bands); bands smaller than ``min_band_share`` of the
   rows are merged into a neighbour, and where the attribute carries a monotone
   constraint (``"increasing"`` / ``"decreasing"``) adjacent bands whose win
   rates go the wrong way are pooled until they do not (pool-adjacent-violators).
   Categorical attributes get one band per category; categories holding less
   than ``min_category_share`` of the rows (or fewer than ``min_category_count``)
   are pooled into ``"Other"``. A category first seen at scoring time goes to the
   band ``"New category"``, which holds no training lead and so gets the neutral
   weight of evidence 0 (the base-rate odds): a category nobody has seen is not
   given the points of a small pooled band that happened to convert. Missing is
   always a band of its own.
2. **Weight of evidence.** Each band is encoded by its smoothed weight of
   evidence, ``ln(share of wins in the band / share of non-wins in the band)``
   (0.5 added to each count); an empty band gets 0, the base-rate odds.
3. **Logistic model.** A logistic regression over the WoE columns, its L2
   strength chosen by stratified cross-validation (``LogisticRegressionCV``,
   log-loss) on the training window. Coefficients must be non-negative: with
   WoE inputs that is what keeps the points of monotone bands monotone and the
   points order equal to the win-rate order. An attribute that comes out negative
   (collinear with another) is dropped and the model refitted; the card lists it.
   Every fit is solved to the optimum (tolerance ``FIT_TOLERANCE``), not merely
   near it, so where it starts (the folds' weights, the fit before a drop)
   changes nothing but its speed.
4. **Points.** Attribute ``j`` contributes ``beta_j * WoE_j(band)`` to the logit.
   Shifting each attribute so its lowest band is 0 and scaling by
   ``100 / sum of the attributes' ranges`` gives points per band (rounded to
   whole points) that add up to a 0-100 score; the score is a linear function
   of the model's logit, so :meth:`PointsScorecard.predict_proba` is
   ``sigmoid(offset_ + slope_ * score)``.
5. **Sub-scores and grades.** The fit score rescales the demographics points to
   0-100 and the engagement score the behavioural families' points. Fit grades
   A-D and engagement grades 1-4 are cut at the quartiles of the training
   window's sub-scores (A and 1 best; a lead exactly on a cut-off gets the better
   grade). The grade is e.g. ``"A1"``.
6. **Reasons.** Per lead, the three attributes whose band points differ most
   from that attribute's average points on the training window, as
   ``"Industry = Software (+12)"``.
7. **Uncertainty.** ``n_boot`` Poisson-bootstrap replicates (bands fixed, WoE
   re-estimated, coefficients moved by one Newton step from the full fit at the
   chosen strength, on at most ``boot_max_rows`` rows) give a 95% interval for
   every band's points. On a
   subsample of m out of n rows the replicates' spread is narrowed by
   sqrt(m / n) and centred on the full fit's points (the m-out-of-n
   bootstrap), so the interval is the full data's, not the subsample's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from alignment.config import FAMILIES
from alignment.exceptions import ModelError
from alignment.labels import MISSING_BAND, NEW_BAND, OTHER_BAND, band_labels, value_counts_as_text

FIT_FAMILY = "demographics"
FIT_GRADES = ("A", "B", "C", "D")
ENGAGEMENT_GRADES = ("1", "2", "3", "4")
WOE_SMOOTHING = 0.5
# Newton's method converges quadratically: two or three steps more than scikit-learn's default tolerance
# (1e-4, which leaves the weights ~1e-3 off) reach the optimum itself, whatever the fit starts from.
FIT_TOLERANCE = 1e-8
CURVATURE_BLOCK_ROWS = 2048
"""Rows per block of the logistic fits' Hessian (see :func:`_curvature`)."""


@dataclass
class _Attribute:
    """The bands of one attribute, learned on the training window."""

    name: str
    kind: str  # "numeric" or "categorical"
    family: str
    monotone: str
    edges: np.ndarray = field(default_factory=lambda: np.empty(0))  # numeric: band i = [edges[i-1], edges[i])
    categories: list = field(default_factory=list)  # categorical: kept categories, band i = categories[i]
    pooled: list = field(default_factory=list)  # categorical: training categories pooled into Other
    labels: list = field(default_factory=list)  # readable band names (categorical: ..., Other, New, Missing)
    low: list = field(default_factory=list)
    high: list = field(default_factory=list)

    @property
    def n_bands(self) -> int:
        return len(self.labels)

    def band_codes(self, values: pd.Series) -> np.ndarray:
        """Band index per value (the missing band for missing values)."""
        missing = values.isna().to_numpy().copy()
        if self.kind == "numeric":
            numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            missing |= np.isnan(numbers)
            # The number of edges at or below each value (``searchsorted(edges, value, "right")``): a
            # comparison per edge, twice as fast as a search per value for the few edges a scale has.
            codes = np.zeros(numbers.size, dtype=np.int64)
            for edge in self.edges:
                codes += numbers >= edge
        else:
            # Factorize once (fast on Arrow strings), then look up only the distinct values.
            factorized = pd.Categorical(values)
            distinct = factorized.categories.astype("string").astype(object)
            lookup = pd.Index(self.categories, dtype=object).get_indexer(distinct)
            other, new = len(self.categories), len(self.categories) + 1
            pooled = pd.Index(self.pooled, dtype=object).get_indexer(distinct) >= 0
            lookup = np.where(lookup >= 0, lookup, np.where(pooled, other, new)).astype(np.int64)
            codes = np.full(len(values), self.n_bands - 1, dtype=np.int64)
            present = factorized.codes >= 0
            codes[present] = lookup[factorized.codes[present]]
        codes[missing] = self.n_bands - 1
        return codes


def _fmt(value: float) -> str:
    """A band edge as people write numbers: ``5,100``, ``1,350``, ``0.25`` (never ``5.1e+03``)."""
    value = float(value)
    if value.is_integer() or abs(value) >= 100:
        return f"{round(value):,}"
    return np.format_float_positional(value, precision=3, unique=True, fractional=False, trim="-")


def _merge(edges: list, n: list, wins: list, i: int) -> None:
    """Merge band ``i`` with band ``i + 1`` (drop the edge between them)."""
    n[i] += n.pop(i + 1)
    wins[i] += wins.pop(i + 1)
    edges.pop(i)


def _band_counts(ordered: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Rows per band (band ``i`` = ``[edges[i-1], edges[i])``) of sorted values: a search per edge, not
    per value."""
    return np.diff(np.searchsorted(ordered, edges, side="left"), prepend=0, append=ordered.size)


def _numeric_bands(ordered: np.ndarray, ordered_won: np.ndarray, max_bins: int, min_count: int,
                   monotone: str) -> np.ndarray:
    """Quantile edges, small and empty bands merged, monotone violators pooled.

    ``ordered`` holds the training values sorted, ``ordered_won`` those of the won leads (sorted too):
    every count below is a search in them, so the values are sorted once per attribute.
    """
    lowest = ordered[0]
    at_lowest = int(np.searchsorted(ordered, lowest, side="right"))
    if at_lowest / ordered.size > 1 / max_bins and at_lowest < ordered.size:
        # A heap at the minimum (no events: a count of 0) gets a band of its own, and the quantiles
        # of the rest cut the others, so a rare but telling action (a demo request) is not swallowed.
        rest = ordered[at_lowest:]
        edges = list(np.unique([rest[0], *np.quantile(rest, np.linspace(0, 1, max_bins)[1:-1])]))
    else:
        edges = list(np.unique(np.quantile(ordered, np.linspace(0, 1, max_bins + 1)[1:-1])))
    # Counts of rows are exact in floats: the same numbers a bincount of the band codes gives.
    n = list(_band_counts(ordered, np.asarray(edges)).astype(float))
    wins = list(_band_counts(ordered_won, np.asarray(edges)).astype(float))
    while len(n) > 1 and min(n) < min_count:
        i = int(np.argmin(n))
        if i == len(n) - 1 or (i > 0 and n[i - 1] < n[i + 1]):
            i -= 1  # merge into the smaller neighbour
        _merge(edges, n, wins, i)
    if monotone in ("increasing", "decreasing"):
        sign = 1 if monotone == "increasing" else -1
        changed = True
        while changed and len(n) > 1:
            changed = False
            for i in range(len(n) - 1):
                if sign * (wins[i] / n[i]) > sign * (wins[i + 1] / n[i + 1]):
                    _merge(edges, n, wins, i)
                    changed = True
                    break
    return _edges_between(np.asarray(edges, dtype=float), _distinct(ordered))


def _distinct(ordered: np.ndarray) -> np.ndarray:
    """The distinct values of a sorted array (``np.unique`` without its sort)."""
    if ordered.size == 0:
        return ordered
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


def _edges_between(edges: np.ndarray, distinct: np.ndarray) -> np.ndarray:
    """Each edge that sits on a fractional training value moved just below it, into the gap to the next
    value down, written with the fewest significant digits that stay in the top tenth of that gap.

    The training leads keep their bands and none sits on such an edge: a feature that differs in its last
    digit (another engine's ``pow``, another order of summation) cannot move a lead across one, so the scale
    gives the same points in DuckDB, Spark or the warehouse's SQL. Whole numbers are exact everywhere and
    keep their edges (``4`` stays ``4``, so "4–6 active days" reads as before). ``distinct``: the training
    values, distinct and sorted."""
    moved = []
    for edge in edges:
        above = int(np.searchsorted(distinct, edge, side="left"))  # the first training value ≥ edge
        if float(edge).is_integer() or above == 0 or above == len(distinct):
            moved.append(float(edge))
            continue
        moved.append(_short_number_below(float(distinct[above - 1]), float(distinct[above])))
    return np.asarray(moved, dtype=float)


def _short_number_below(low: float, high: float) -> float:
    """The shortest decimal in the top tenth of the gap (low, high), strictly below ``high``."""
    floor = high - (high - low) / 10
    if high != 0:
        for digits in range(1, 17):
            step = 10.0 ** (math.floor(math.log10(abs(high))) - digits + 1)
            candidate = float(f"{(math.ceil(high / step) - 1) * step:.{digits + 1}g}")
            if floor < candidate < high:
                return candidate
    return low + (high - low) / 2


def _numeric_labels(edges: np.ndarray, ordered: np.ndarray) -> tuple[list, list, list]:
    """Readable band names; a band that holds a single training value is named by that value.
    ``ordered``: the training values, sorted."""
    labels, low, high = [], [], []
    bounds = [-np.inf, *edges, np.inf]
    integer_valued = bool(ordered.size) and bool(np.all(np.mod(_distinct(ordered), 1) == 0))
    # Each band's lowest and highest training value: its first and last row in the sorted values.
    ends = np.searchsorted(ordered, edges, side="left")
    starts, stops = np.concatenate(([0], ends)), np.concatenate((ends, [ordered.size]))
    filled = stops > starts
    smallest, largest = np.full(len(bounds) - 1, np.inf), np.full(len(bounds) - 1, -np.inf)
    smallest[filled], largest[filled] = ordered[starts[filled]], ordered[stops[filled] - 1]
    for band, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        low.append(float(lo) if np.isfinite(lo) else np.nan)
        high.append(float(hi) if np.isfinite(hi) else np.nan)
        if smallest[band] == largest[band]:  # one value (never true of a band without any: inf ≠ -inf)
            labels.append(_fmt(smallest[band]))
        elif not np.isfinite(lo) and not np.isfinite(hi):
            labels.append("any")
        elif integer_valued and np.isfinite(lo) and np.isfinite(hi) and float(lo).is_integer() \
                and float(hi).is_integer():
            labels.append(_fmt(lo) if hi - lo == 1 else f"{_fmt(lo)}–{_fmt(hi - 1)}")
        elif not np.isfinite(lo):
            labels.append(f"< {_fmt(hi)}")
        elif not np.isfinite(hi):
            labels.append(f"≥ {_fmt(lo)}")
        else:
            labels.append(f"{_fmt(lo)} to < {_fmt(hi)}")
    return labels, low, high


def _woe(codes: np.ndarray, y: np.ndarray, n_bands: int) -> np.ndarray:
    """Smoothed weight of evidence per band; 0 for a band without rows."""
    return _woe_of_bands(_outcome_codes(codes, y, 1), np.array([0, n_bands]))


def _outcome_codes(codes: np.ndarray, y: np.ndarray, n_attributes: int) -> np.ndarray:
    """Each row's band and outcome as one index, ``2 * band + won``: one count gives the wins and the
    losses of every band (``codes`` holds each attribute's rows in turn, as :func:`_woe_of_bands` reads)."""
    return 2 * codes + np.tile(y, n_attributes).astype(np.intp)


def _woe_of_bands(outcome_codes: np.ndarray, offsets: np.ndarray,
                  weights: np.ndarray | None = None) -> np.ndarray:
    """:func:`_woe` of several attributes at once, from :func:`_outcome_codes`: attribute ``j`` owns bands
    ``offsets[j]:offsets[j + 1]``; ``weights`` (one per row) weigh the rows of every attribute alike.

    Each band's wins add the same weights in the same order as a sum of ``weight * won`` over all its rows
    (adding a loss's 0.0 changes no float), so the counts are those of two weighted counts, in one pass."""
    n_attributes = len(offsets) - 1
    per_row = None if weights is None else np.tile(weights, n_attributes)
    counts = np.bincount(outcome_codes, weights=per_row, minlength=2 * offsets[-1])
    neg, pos = counts[0::2], counts[1::2]
    n_bands = np.diff(offsets)
    starts = offsets[:-1]
    total_pos = np.repeat([pos[a:b].sum() for a, b in zip(starts, offsets[1:], strict=True)], n_bands)
    total_neg = np.repeat([neg[a:b].sum() for a, b in zip(starts, offsets[1:], strict=True)], n_bands)
    bands = np.repeat(n_bands, n_bands)
    woe = (np.log((pos + WOE_SMOOTHING) / (total_pos + WOE_SMOOTHING * bands))
           - np.log((neg + WOE_SMOOTHING) / (total_neg + WOE_SMOOTHING * bands)))
    woe[(pos + neg) == 0] = 0.0
    return woe


def _neg_log_loss(estimator, X: np.ndarray, y: np.ndarray) -> float:
    """scikit-learn's ``neg_log_loss`` scorer, the same numbers without its input checks: the
    cross-validation scores 40 fold fits on rows it split itself, and the checks cost a third of it."""
    won = estimator.predict_proba(X)[:, 1]
    likelihood = np.where(y == 1, won, 1 - won)
    eps = np.finfo(likelihood.dtype).eps
    return float(np.mean(np.log(np.clip(likelihood, eps, 1 - eps))))


def _design(columns: list[np.ndarray]) -> np.ndarray:
    """The logistic fits' design: the attributes' columns and the intercept's column of ones, last."""
    return np.column_stack([*columns, np.ones(columns[0].size)])


def _curvature(design: np.ndarray, curvature: np.ndarray, penalty: np.ndarray) -> np.ndarray:
    """The Hessian of a logistic loss plus ``0.5 * sum(penalty * theta**2)``: ``design' diag(curvature)
    design + diag(penalty)``, ``curvature`` being each row's (weighted) ``p * (1 - p)``.

    Summed over blocks of :data:`CURVATURE_BLOCK_ROWS` rows: a block and its weighted copy stay in the
    processor's cache, where the whole weighted copy (56 MB at 400k rows) would go out to memory and back;
    half the time on 400k rows."""
    hessian = np.diag(penalty).astype(float)
    for start in range(0, design.shape[0], CURVATURE_BLOCK_ROWS):
        block = design[start:start + CURVATURE_BLOCK_ROWS]
        hessian += (block * curvature[start:start + CURVATURE_BLOCK_ROWS, None]).T @ block
    return hessian


def _newton_step(design: np.ndarray, y: np.ndarray, weights: np.ndarray, start: np.ndarray,
                 penalty: np.ndarray) -> np.ndarray:
    """One Newton step of the weighted logistic loss plus ``0.5 * sum(penalty * theta**2)`` from ``start``
    (``design`` carries the intercept's column of ones)."""
    probability = expit(design @ start)
    gradient = design.T @ (weights * (probability - y)) + penalty * start
    hessian = _curvature(design, weights * probability * (1.0 - probability), penalty)
    return start - np.linalg.solve(hessian, gradient)


def _penalized_loss(logit: np.ndarray, y: np.ndarray, theta: np.ndarray, penalty: np.ndarray) -> float:
    """The summed logistic loss of the rows' logits plus ``0.5 * sum(penalty * theta**2)``
    (``log(1 + e^z)`` written so that it neither overflows nor loses small values)."""
    softplus = np.log1p(np.exp(-np.abs(logit))) + np.maximum(logit, 0.0)
    return float(softplus.sum() - y @ logit + 0.5 * np.sum(penalty * theta**2))


def _fit_logistic(design: np.ndarray, y: np.ndarray, penalty: np.ndarray, start: np.ndarray,
                  max_iter: int = 100) -> np.ndarray:
    """The optimum of the logistic loss plus ``0.5 * sum(penalty * theta**2)``, by Newton's method from
    ``start``, to :data:`FIT_TOLERANCE` on the gradient per row (a step that does not lower the loss
    enough is halved). The optimum scikit-learn's ``newton-cholesky`` reaches at that tolerance, without
    its per-fit checks and set-up, which cost as much as the steps on 400k rows.

    ``design`` carries the intercept's column of ones (see :func:`_design`).
    """
    theta = np.asarray(start, dtype=float).copy()
    logit = design @ theta
    loss = _penalized_loss(logit, y, theta, penalty)
    for _ in range(max_iter):
        probability = expit(logit)
        gradient = design.T @ (probability - y) + penalty * theta
        if np.abs(gradient).max() <= FIT_TOLERANCE * y.size:
            return theta
        step = -np.linalg.solve(_curvature(design, probability * (1.0 - probability), penalty), gradient)
        for _ in range(50):
            candidate = theta + step
            candidate_logit = design @ candidate
            candidate_loss = _penalized_loss(candidate_logit, y, candidate, penalty)
            if candidate_loss <= loss + 1e-4 * float(gradient @ step):
                break
            step = step / 2
        theta, logit, loss = candidate, candidate_logit, candidate_loss
    raise ModelError(f"the logistic fit did not reach the optimum in {max_iter} Newton steps",
                     hint="check the training window for attributes that repeat one another")


class PointsScorecard(ClassifierMixin, BaseEstimator):
    """A points scale over banded attributes, fitted as a WoE logistic regression.

    Parameters
    ----------
    families : dict of {str: str}, optional
        Family of each attribute (one of ``alignment.config.FAMILIES``). The fit
        score uses ``"demographics"``, the engagement score the other families.
        Attributes not listed are treated as demographics.
    monotone : dict of {str: {"increasing", "decreasing", "none"}}, optional
        Monotone constraint per numeric attribute (default ``"none"``).
    max_bins : int, default 8
        Most bands per numeric attribute (before pooling).
    min_band_share : float, default 0.01
        Numeric bands smaller than this share of the training rows (or than
        ``min_category_count`` rows) are merged into a neighbour.
    min_category_share : float, default 0.01
        Categories rarer than this share are pooled into ``"Other"``.
    min_category_count : int, default 30
        Categories with fewer training rows are pooled into ``"Other"``.
    Cs : int, default 8
        Number of regularization strengths tried by cross-validation.
    cv : int, default 5
        Cross-validation folds (stratified, shuffled with ``random_state``).
    cv_max_rows : int, default 50_000
        The strength is chosen on a seeded stratified subsample of at most this
        many rows; the final model is refitted on all rows at that strength.
    n_boot : int, default 50
        Bootstrap replicates for the points intervals (0 = none).
    boot_max_rows : int, default 20_000
        Rows per bootstrap replicate (a seeded subsample above this).
    random_state : int, default 0
    progress : bool, default False
        Show a progress bar over the bootstrap replicates.

    Attributes
    ----------
    attributes_ : list of str
        The attributes used (with at least two bands).
    dropped_ : dict of {str: str}
        Attributes left out of the scale, with the reason.
    C_ : float
        The regularization strength chosen by cross-validation.
    coef_ : ndarray
        Logistic coefficient per attribute in ``attributes_`` (on the WoE scale).
    intercept_ : float
    offset_, slope_ : float
        ``logit = offset_ + slope_ * score`` (the uncalibrated probability of a score).
    points_ : DataFrame
        The points table: ``attribute, family, band, points, low, high, n_train,
        win_rate_train, points_ci_low, points_ci_high``.
    fit_cutoffs_, engagement_cutoffs_ : ndarray
        Sub-score quartiles of the training window (grade cut-offs, worst to best).
    classes_ : ndarray
        ``[0, 1]``.
    """

    def __init__(self, families: dict | None = None, monotone: dict | None = None, max_bins: int = 8,
                 min_band_share: float = 0.01, min_category_share: float = 0.01,
                 min_category_count: int = 30, Cs: int = 8, cv: int = 5, cv_max_rows: int = 50_000,
                 n_boot: int = 50, boot_max_rows: int = 20_000, random_state: int = 0,
                 progress: bool = False) -> None:
        self.families = families
        self.monotone = monotone
        self.max_bins = max_bins
        self.min_band_share = min_band_share
        self.min_category_share = min_category_share
        self.min_category_count = min_category_count
        self.Cs = Cs
        self.cv = cv
        self.cv_max_rows = cv_max_rows
        self.n_boot = n_boot
        self.boot_max_rows = boot_max_rows
        self.random_state = random_state
        self.progress = progress

    # --- parameter and input checks ----------------------------------------------------------

    def _check_params(self) -> None:
        def positive_int(name: str, value, minimum: int) -> None:
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
                raise ModelError(f"PointsScorecard: {name} must be an integer ≥ {minimum}, got {value!r}")

        positive_int("max_bins", self.max_bins, 2)
        positive_int("min_category_count", self.min_category_count, 1)
        positive_int("Cs", self.Cs, 1)
        positive_int("cv", self.cv, 2)
        positive_int("cv_max_rows", self.cv_max_rows, 100)
        positive_int("n_boot", self.n_boot, 0)
        positive_int("boot_max_rows", self.boot_max_rows, 100)
        for name in ("min_band_share", "min_category_share"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value < 0.5:
                raise ModelError(f"PointsScorecard: {name} must be a share in [0, 0.5), got {value!r}")
        for name, allowed in (("families", FAMILIES), ("monotone", ("increasing", "decreasing", "none"))):
            mapping = getattr(self, name)
            if mapping is None:
                continue
            if not isinstance(mapping, dict):
                raise ModelError(f"PointsScorecard: {name} must be a dict of column -> value")
            bad = {k: v for k, v in mapping.items() if v not in allowed}
            if bad:
                column, value = next(iter(bad.items()))
                raise ModelError(f"PointsScorecard: {name}['{column}'] is {value!r}",
                                 hint=f"use one of {', '.join(allowed)}")

    @staticmethod
    def _check_X(X) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise ModelError("PointsScorecard needs a pandas DataFrame with one column per attribute")
        if X.shape[1] == 0:
            raise ModelError("PointsScorecard got no attribute columns", hint="check the feature families")
        if X.columns.duplicated().any():
            raise ModelError("duplicate attribute column", column=str(X.columns[X.columns.duplicated()][0]))
        return X

    # --- fitting -----------------------------------------------------------------------------

    def fit(self, X: pd.DataFrame, y) -> PointsScorecard:
        """Learn the bands, the logistic model, the points and the grade cut-offs.

        Parameters
        ----------
        X : DataFrame
            One row per lead, one column per attribute (numbers as numbers,
            categories as strings; missing as NaN).
        y : array-like of {0, 1}
            1 = won within the horizon.

        Returns
        -------
        self
        """
        self._check_params()
        X = self._check_X(X)
        y = np.asarray(y, dtype=float).ravel()
        if y.size != len(X):
            raise ModelError(f"X has {len(X)} rows but y has {y.size} labels")
        if np.isnan(y).any() or not np.isin(y, (0.0, 1.0)).all():
            raise ModelError("labels must be 0 or 1", hint="drop unlabelled (open) leads before fitting")
        if y.min() == y.max():
            raise ModelError("the training window holds only one outcome; a scale needs wins and losses")
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        families = self.families or {}
        monotone = self.monotone or {}
        min_count = max(self.min_category_count, int(np.ceil(self.min_band_share * y.size)))

        self.dropped_ = {}
        bands, codes = self._learn_bands(X, y, families, monotone, min_count)
        if not bands:
            raise ModelError("no attribute separates leads on the training window",
                             hint="check the feature families and the data")
        woe = {name: _woe(codes[name], y, attr.n_bands) for name, attr in bands.items()}

        rng = np.random.default_rng(self.random_state)
        names = list(bands)
        design = _design([woe[n][codes[n]] for n in names])
        self.C_, start = self._choose_strength(design[:, :-1], y, rng)
        self.coef_, self.intercept_, names = self._fit_positive(design, y, names, start)
        self.attributes_ = names
        self._bands = {n: bands[n] for n in names}
        self._woe = {n: woe[n] for n in names}
        raw = self._raw_points(self.coef_, self._woe)
        self._points = {n: np.round(p).astype(int) for n, p in raw.items()}
        contribution_min = sum(float(b * self._woe[n].min()) for n, b in zip(names, self.coef_, strict=True))
        total_range = sum(float(b * np.ptp(self._woe[n])) for n, b in zip(names, self.coef_, strict=True))
        self.offset_ = self.intercept_ + contribution_min
        self.slope_ = total_range / 100.0 if total_range > 0 else 0.0

        train_points = self._points_matrix(codes)
        self._average = {n: float(train_points[:, j].mean()) for j, n in enumerate(names)}
        fit_score, engagement_score = self._sub_scores(train_points)
        self.fit_cutoffs_ = np.quantile(fit_score, [0.25, 0.5, 0.75])
        self.engagement_cutoffs_ = np.quantile(engagement_score, [0.25, 0.5, 0.75])
        ci = self._bootstrap_points(codes, y, rng)
        self.points_ = self._points_table(codes, y, ci)
        return self

    def _learn_bands(self, X: pd.DataFrame, y: np.ndarray, families: dict, monotone: dict,
                     min_count: int) -> tuple[dict[str, _Attribute], dict[str, np.ndarray]]:
        """The bands of every attribute on the training window and each lead's band; constant ones dropped."""
        bands: dict[str, _Attribute] = {}
        codes: dict[str, np.ndarray] = {}
        for column in X.columns:
            values = X[column]
            attr = _Attribute(name=str(column), kind="categorical",
                              family=families.get(column, FIT_FAMILY),
                              monotone=monotone.get(column, "none"))
            if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
                attr.kind = "numeric"
                numbers = values.to_numpy(dtype=float, na_value=np.nan)
                seen = ~np.isnan(numbers)
                ordered = np.sort(numbers[seen])
                if seen.any():
                    ordered_won = np.sort(numbers[seen & (y == 1)])
                    attr.edges = _numeric_bands(ordered, ordered_won, self.max_bins, min_count,
                                                attr.monotone)
                labels, low, high = _numeric_labels(attr.edges, ordered)
                attr.labels, attr.low, attr.high = labels, low, high
            else:
                counts = value_counts_as_text(values)
                keep = counts[(counts >= self.min_category_count)
                              & (counts >= self.min_category_share * y.size)]
                attr.categories = sorted(str(c) for c in keep.index if str(c) not in (OTHER_BAND, NEW_BAND))
                attr.pooled = sorted(str(c) for c in counts.index if str(c) not in attr.categories)
                attr.labels = [*attr.categories, OTHER_BAND, NEW_BAND]
                attr.low = attr.high = [np.nan] * len(attr.labels)
            attr.labels = [*attr.labels, MISSING_BAND]
            attr.low = [*attr.low, np.nan]
            attr.high = [*attr.high, np.nan]
            attr_codes = attr.band_codes(values)
            if np.count_nonzero(np.bincount(attr_codes, minlength=attr.n_bands)) < 2:
                self.dropped_[attr.name] = "a single band on the training window (constant)"
                continue
            bands[attr.name] = attr
            codes[attr.name] = attr_codes
        return bands, codes

    def _fit_positive(self, design: np.ndarray, y: np.ndarray, names: list[str],
                      start: np.ndarray) -> tuple[np.ndarray, float, list[str]]:
        """The logistic fit, refitted without an attribute whose weight comes out negative, until none is.

        Each fit is solved to :data:`FIT_TOLERANCE`, i.e. to the optimum whatever it starts from, so it can
        start near it: the first from the cross-validation's coefficients (``start``: weights, then the
        intercept), each refit from the fit before it without the dropped attribute.

        Returns
        -------
        coef : ndarray
            The weight of each attribute in ``names``.
        intercept : float
        names : list of str
            The attributes kept.
        """
        theta = np.asarray(start, dtype=float)
        while True:
            penalty = np.append(np.full(len(names), 1.0 / self.C_), 0.0)  # the intercept is not penalized
            theta = _fit_logistic(design, y, penalty, theta)
            if (theta[:-1] >= 0).all():
                return theta[:-1].copy(), float(theta[-1]), names
            worst = int(np.argmin(theta[:-1]))
            self.dropped_[names[worst]] = ("its weight came out negative next to correlated attributes "
                                           "(it adds nothing once they are known)")
            design = np.delete(design, worst, axis=1)
            theta = np.delete(theta, worst)
            names.pop(worst)
            if not names:
                raise ModelError("no attribute keeps a positive weight", hint="check the data")

    def _choose_strength(self, design: np.ndarray, y: np.ndarray,
                         rng: np.random.Generator) -> tuple[float, np.ndarray]:
        """Regularization strength by stratified CV (log-loss) on at most ``cv_max_rows`` rows, and the
        folds' mean coefficients at that strength (weights, then the intercept) to start the full fit from."""
        rows = np.arange(y.size)
        if y.size > self.cv_max_rows:
            keep = []
            for label in (0.0, 1.0):
                members = rows[y == label]
                size = max(self.cv, int(round(self.cv_max_rows * members.size / y.size)))
                keep.append(rng.choice(members, size=min(size, members.size), replace=False))
            rows = np.sort(np.concatenate(keep))
        if min(np.sum(y[rows] == 1), np.sum(y[rows] == 0)) < self.cv:
            raise ModelError(f"fewer than {self.cv} wins or losses in the training window; "
                             "cross-validation cannot choose the regularization")
        folds = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
        # Newton steps suit many rows and few (WoE) columns: a handful of iterations per fit. No refit on
        # the subsample: the strength is chosen as LogisticRegressionCV's refit chooses it (the best
        # summed fold score), and the model is fitted on all rows anyway.
        search = LogisticRegressionCV(Cs=self.Cs, cv=folds, scoring=_neg_log_loss, solver="newton-cholesky",
                                      max_iter=200, l1_ratios=(0.0,), use_legacy_attributes=False,
                                      refit=False)
        search.fit(design[rows], y[rows])
        best = int(np.argmax(search.scores_[:, 0, :].sum(axis=0)))  # scores_: folds x l1_ratios x Cs
        start = search.coefs_paths_[:, 0, best, 0, :].mean(axis=0)  # folds x l1 x Cs x classes x weights
        return float(search.Cs_[best]), start

    def _raw_points(self, coef: np.ndarray, woe: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Unrounded points per band: shifted so each attribute's lowest band is 0, summing to 100."""
        contribution = {n: b * woe[n] for n, b in zip(self.attributes_, np.maximum(coef, 0), strict=True)}
        total = sum(float(np.ptp(c)) for c in contribution.values())
        if total <= 0:
            return {n: np.zeros_like(c) for n, c in contribution.items()}
        return {n: 100.0 * (c - c.min()) / total for n, c in contribution.items()}

    def _points_matrix(self, codes: dict[str, np.ndarray]) -> np.ndarray:
        return np.column_stack([self._points[n][codes[n]] for n in self.attributes_])

    def _family_mask(self, fit: bool) -> np.ndarray:
        return np.array([(self._bands[n].family == FIT_FAMILY) == fit for n in self.attributes_])

    def _sub_scores(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fit and engagement sub-scores (0-100) from a leads x attributes points matrix."""
        out = []
        for fit in (True, False):
            mask = self._family_mask(fit)
            top = sum(int(self._points[n].max()) for n, m in zip(self.attributes_, mask, strict=True) if m)
            out.append(np.round(100.0 * points[:, mask].sum(axis=1) / top) if top > 0
                       else np.zeros(points.shape[0]))
        return out[0], out[1]

    def _bootstrap_points(self, codes: dict[str, np.ndarray], y: np.ndarray,
                          rng: np.random.Generator) -> dict[str, np.ndarray]:
        """2.5% and 97.5% points per band over Poisson-bootstrap replicates (bands fixed).

        Each replicate re-estimates the WoE on its weights and takes one Newton step of the weighted,
        penalized logistic loss from the full fit's coefficients: the refit to convergence starts there
        and moves on by less than the step's own error, so the step is the refit to first order
        (the one-step bootstrap) at a fraction of its cost.
        """
        if self.n_boot == 0:
            return {}
        rows = np.arange(y.size)
        if y.size > self.boot_max_rows:
            rows = np.sort(rng.choice(y.size, size=self.boot_max_rows, replace=False))
        sub_y = y[rows]
        # Every attribute's bands in one flat table (attribute offset + band code), so a replicate's WoE of
        # all attributes is one bincount; each band sums the same rows in the same order as alone.
        n_bands = [self._bands[n].n_bands for n in self.attributes_]
        offsets = np.cumsum([0, *n_bands])
        flat_codes = np.column_stack([codes[n][rows] + offsets[j] for j, n in enumerate(self.attributes_)])
        outcome_codes = _outcome_codes(flat_codes.T.ravel(), sub_y, len(self.attributes_))
        start = np.append(self.coef_, self.intercept_)
        penalty = np.append(np.full(self.coef_.size, 1.0 / self.C_), 0.0)  # the intercept is not penalized
        replicates = {n: [] for n in self.attributes_}
        for _ in tqdm(range(self.n_boot), desc="bootstrap points", disable=None if self.progress else True,
                      leave=False):
            weights = rng.poisson(1.0, size=sub_y.size).astype(float)
            flat_woe = _woe_of_bands(outcome_codes, offsets, weights)
            woe = {n: flat_woe[offsets[j]:offsets[j + 1]] for j, n in enumerate(self.attributes_)}
            design = np.column_stack([flat_woe[flat_codes], np.ones(sub_y.size)])
            step = _newton_step(design, sub_y, weights, start, penalty)
            for n, p in self._raw_points(step[:-1], woe).items():
                replicates[n].append(p)
        # m-out-of-n bootstrap: a subsample's spread is sqrt(n / m) too wide for the full fit.
        shrink = np.sqrt(rows.size / y.size)
        full = self._raw_points(self.coef_, self._woe)
        intervals = {}
        for n, r in replicates.items():
            stacked = np.vstack(r)
            spread = np.quantile(stacked, [0.025, 0.975], axis=0) - stacked.mean(axis=0)
            intervals[n] = full[n] + shrink * spread
        return intervals

    def _points_table(self, codes: dict[str, np.ndarray], y: np.ndarray,
                      ci: dict[str, np.ndarray]) -> pd.DataFrame:
        frames = []
        for n in self.attributes_:
            attr = self._bands[n]
            count = np.bincount(codes[n], minlength=attr.n_bands)
            wins = np.bincount(codes[n], weights=y, minlength=attr.n_bands)
            with np.errstate(invalid="ignore", divide="ignore"):
                rate = np.where(count > 0, wins / np.maximum(count, 1), np.nan)
            frames.append(pd.DataFrame({
                "attribute": n, "family": attr.family, "band": attr.labels, "points": self._points[n],
                "low": attr.low, "high": attr.high,
                "label": band_labels(n, attr.labels, attr.low, attr.high, attr.kind == "numeric"),
                "n_train": count.astype(int), "win_rate_train": rate,
                "points_ci_low": ci[n][0] if ci else np.nan, "points_ci_high": ci[n][1] if ci else np.nan,
            }))
        return pd.concat(frames, ignore_index=True)

    # --- scoring -----------------------------------------------------------------------------

    def _codes(self, X) -> dict[str, np.ndarray]:
        check_is_fitted(self, "attributes_")
        X = self._check_X(X)
        missing = [n for n in self.attributes_ if n not in X.columns]
        if missing:
            raise ModelError("the leads to score lack an attribute the scale uses", column=missing[0],
                             hint="score leads with the same columns the scale was fitted on")
        return {n: self._bands[n].band_codes(X[n]) for n in self.attributes_}

    def unknown_category_mask(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """Per categorical attribute of the scale: whether each lead's value is pooled (Other) or new.

        Parameters
        ----------
        X : DataFrame

        Returns
        -------
        dict of str to np.ndarray of bool
        """
        codes = self._codes(X)
        out = {}
        for name in self.attributes_:
            attr = self._bands[name]
            if attr.kind == "categorical":
                out[name] = np.isin(codes[name], (len(attr.categories), len(attr.categories) + 1))
        return out

    def points_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """Points per attribute for each lead (one column per attribute in ``attributes_``)."""
        return pd.DataFrame(self._points_matrix(self._codes(X)), index=X.index, columns=self.attributes_)

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """The 0-100 score of each lead (the sum of its points), as float."""
        return np.clip(self._points_matrix(self._codes(X)).sum(axis=1), 0, 100).astype(float)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Uncalibrated win probability implied by the score, columns ``[P(0), P(1)]``."""
        p = 1.0 / (1.0 + np.exp(-(self.offset_ + self.slope_ * self.decision_function(X))))
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 where the uncalibrated win probability is at least one half."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def grade(self, fit_score, engagement_score) -> tuple[np.ndarray, np.ndarray]:
        """Fit grades A-D and engagement grades 1-4 from sub-scores (training quartiles as cut-offs)."""
        check_is_fitted(self, "fit_cutoffs_")
        fit_rank = np.searchsorted(self.fit_cutoffs_, np.asarray(fit_score, dtype=float), side="right")
        eng_rank = np.searchsorted(self.engagement_cutoffs_, np.asarray(engagement_score, dtype=float),
                                   side="right")
        fit_grade = np.array(FIT_GRADES[::-1], dtype=object)[fit_rank]
        engagement_grade = np.array(ENGAGEMENT_GRADES[::-1], dtype=object)[eng_rank]
        return fit_grade, engagement_grade

    def score_frame(self, X: pd.DataFrame, n_reasons: int = 3) -> pd.DataFrame:
        """Score, sub-scores, grades and the top reasons of each lead.

        Parameters
        ----------
        X : DataFrame
        n_reasons : int, default 3

        Returns
        -------
        DataFrame
            Indexed like ``X``: ``score, fit_score, engagement_score, grade, fit_grade,
            engagement_grade, reason_1 .. reason_<n_reasons>`` (a reason is empty when
            fewer attributes move the score by at least one point).
        """
        if not isinstance(n_reasons, (int, np.integer)) or n_reasons < 0:
            raise ModelError(f"n_reasons must be a non-negative integer, got {n_reasons!r}")
        codes = self._codes(X)
        points = self._points_matrix(codes)
        fit_score, engagement_score = self._sub_scores(points)
        fit_grade, engagement_grade = self.grade(fit_score, engagement_score)
        out = pd.DataFrame({
            "score": np.clip(points.sum(axis=1), 0, 100).astype(int),
            "fit_score": fit_score.astype(int), "engagement_score": engagement_score.astype(int),
            "grade": fit_grade + engagement_grade,
            "fit_grade": fit_grade, "engagement_grade": engagement_grade,
        }, index=X.index)
        for k, column in enumerate(self._reasons(codes, points, n_reasons)):
            out[f"reason_{k + 1}"] = column
        return out

    def _reasons(self, codes: dict[str, np.ndarray], points: np.ndarray, n_reasons: int) -> list[np.ndarray]:
        """The ``n_reasons`` largest |points - attribute average| per lead, as readable strings."""
        if n_reasons == 0:
            return []
        average = np.array([self._average[n] for n in self.attributes_])
        delta = np.rint(points - average).astype(int)
        order = np.argsort(-np.abs(delta), axis=1, kind="stable")[:, :n_reasons]
        # One flat table of the bands' plain labels, addressed by attribute offset + band code.
        offsets = np.cumsum([0] + [self._bands[n].n_bands for n in self.attributes_])[:-1]
        names = np.array([label for n in self.attributes_ for label in band_labels(
            n, self._bands[n].labels, self._bands[n].low, self._bands[n].high,
            self._bands[n].kind == "numeric")], dtype=object)
        flat_codes = np.column_stack([codes[n] for n in self.attributes_]) + offsets
        rows = np.arange(points.shape[0])
        columns = []
        for k in range(min(n_reasons, len(self.attributes_))):
            j = order[:, k]
            d = delta[rows, j]
            text = names[flat_codes[rows, j]] + np.char.add(" (", np.char.add(
                np.char.mod("%+d", d).astype(object), ")")).astype(object)
            columns.append(np.where(d != 0, text, ""))
        while len(columns) < n_reasons:
            columns.append(np.full(points.shape[0], "", dtype=object))
        return columns
