"""The threshold engine: what a score threshold means, answered in O(log n).

The engine is fitted once on the scored hold-out leads of a model folder
(``scored_validation.parquet``). It sorts the scores and keeps cumulative sums
of the calibrated probability, the observed wins and the lead count, overall
and per grade. Any question about a threshold is then a binary search
(:func:`numpy.searchsorted`) plus a few subtractions, so a full update of the
workshop (MQL, fast-track and recycle thresholds, the table by grade, the
feasible zone and the expected-value optimum) stays far below the 50 ms budget
at a million leads (``benchmarks/bench_thresholds.py``).

Conventions
-----------
* A lead is *above* a threshold ``t`` when ``score >= t`` (an MQL at ``t``).
* Volumes are per month of the validation window: the span of ``scored_at``
  (first to last scoring moment) in average months of 30.44 days.
* The expected win rate is the mean calibrated probability of the leads above;
  its 95% interval is the Wilson score interval on the *observed* wins above
  the threshold, i.e. the win rates compatible with what actually happened in
  the hold-out.
* Workload is MQLs per week (MQLs per month x 12 / 52) against the capacity
  ``reps x leads_per_rep_per_week``.
* The deal value is ``sales.won_deal_value`` from the config, else the median
  amount of the won hold-out leads. Pipeline = MQLs x deal value (what is handed
  to sales); expected revenue = expected wins (sum of probabilities) x deal value;
  expected value = expected revenue - MQLs x ``cost_per_lead``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from alignment.config import Config, ServiceLevelsConfig
from alignment.exceptions import ModelError

DAYS_PER_MONTH = 365.25 / 12
WEEKS_PER_MONTH = 52 / 12
Z_95 = 1.959963984540054  # two-sided 95% normal quantile

REQUIRED_COLUMNS = ("lead_id", "scored_at", "score", "grade", "probability", "won", "amount")


def threshold_order_problem(recycle: float, mql: float, fast_track: float) -> str | None:
    """The one rule of the thresholds' order (recycle <= mql <= fast_track): None when it holds, else why.

    The engine's proposals, the signed agreement and the workshop's signing form all ask it.
    """
    if recycle <= mql <= fast_track:
        return None
    return (f"thresholds must satisfy recycle <= mql <= fast_track (got recycle {recycle:g}, mql {mql:g}, "
            f"fast-track {fast_track:g})")


@dataclass(frozen=True)
class Proposal:
    """One team's proposal: three thresholds and the service levels it asks for.

    ``recycle <= mql <= fast_track`` is required: leads below ``recycle`` go back
    to nurture, leads at or above ``mql`` go to sales, at or above ``fast_track``
    at once.
    """

    mql: float
    fast_track: float
    recycle: float
    follow_up_hours: float = ServiceLevelsConfig().follow_up_hours
    accept_within_days: float = ServiceLevelsConfig().accept_within_days
    mql_per_month: float = 0.0
    min_win_rate: float = 0.0

    def __post_init__(self) -> None:
        problem = threshold_order_problem(self.recycle, self.mql, self.fast_track)
        if problem:
            raise ValueError(problem)
        if self.mql_per_month < 0 or not 0 <= self.min_win_rate <= 1:
            raise ValueError("mql_per_month must be >= 0 and min_win_rate within [0, 1]")


@dataclass(frozen=True)
class ThresholdMetrics:
    """Everything a threshold means, on the validation window."""

    threshold: float
    leads: int
    """Hold-out leads at or above the threshold."""
    leads_per_month: float
    share_of_leads: float
    expected_win_rate: float
    """Mean calibrated probability above the threshold (NaN when no lead is above)."""
    observed_win_rate: float
    win_rate_low: float
    win_rate_high: float
    """Wilson 95% interval on the observed wins above the threshold."""
    wins_captured: int
    wins_captured_share: float
    wins_missed: int
    """Won hold-out leads below the threshold (deals the threshold would not have handed over)."""
    wins_missed_per_month: float
    below_per_month: float
    below_expected_win_rate: float
    workload_per_week: float
    capacity_per_week: float
    capacity_used: float
    """Workload divided by capacity (above 1 = sales cannot work every MQL)."""
    expected_wins_per_month: float
    pipeline_per_month: float
    expected_revenue_per_month: float
    expected_value_per_month: float


@dataclass(frozen=True)
class FeasibleZone:
    """The thresholds both teams' constraints allow (on the engine's threshold grid)."""

    min_mql_per_month: float
    min_win_rate: float
    capacity_per_week: float
    intervals: list[tuple[float, float]]
    """Contiguous runs of feasible grid thresholds, as (lowest, highest)."""
    reason: str
    """Empty when feasible; else which constraints cannot be met together."""

    @property
    def empty(self) -> bool:
        return not self.intervals

    @property
    def low(self) -> float:
        return self.intervals[0][0] if self.intervals else math.nan

    @property
    def high(self) -> float:
        return self.intervals[-1][1] if self.intervals else math.nan

    def contains(self, threshold: float) -> bool:
        """True when ``threshold`` lies inside one of the feasible intervals."""
        return any(lo <= threshold <= hi for lo, hi in self.intervals)


@dataclass(frozen=True)
class ProposalView:
    """All the numbers the workshop shows for one proposal."""

    proposal: Proposal
    mql: ThresholdMetrics
    fast_track: ThresholdMetrics
    recycle: ThresholdMetrics
    by_grade: pd.DataFrame
    zone: FeasibleZone
    optimum: ThresholdMetrics | None
    in_zone: bool
    notes: list[str] = field(default_factory=list)


def wilson_interval(successes: np.ndarray | float, trials: np.ndarray | float,
                    z: float = Z_95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion (NaN where ``trials == 0``).

    Parameters
    ----------
    successes, trials : array-like
        Observed successes and trials.
    z : float
        Normal quantile (1.96 for 95%).

    Returns
    -------
    (low, high) : tuple of ndarray
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return centre - half, centre + half


def _safe_div(a: float, b: float) -> float:
    return a / b if b else math.nan


def _grade_cutoffs(validation: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Lowest fit / engagement sub-score seen in each fit / engagement grade.

    An agreement records them so the review can tell when the model's grade grid moved.
    """
    cutoffs: dict[str, dict[str, float]] = {}
    for kind in ("fit", "engagement"):
        grade_col, score_col = f"{kind}_grade", f"{kind}_score"
        if grade_col in validation.columns and score_col in validation.columns:
            lows = validation.groupby(validation[grade_col].astype("string"))[score_col].min()
            cutoffs[kind] = {str(g): float(v) for g, v in lows.sort_index().items()}
    return cutoffs


FAST_TRACK_QUANTILE, RECYCLE_QUANTILE = 0.9, 0.25
"""A proposal's starting fast-track and recycle thresholds: these quantiles of the scores on the curve."""


def companion_thresholds(engine: ThresholdEngine, mql: float) -> tuple[float, float]:
    """The fast-track and recycle thresholds that go with an MQL threshold when none is proposed yet."""
    thresholds = engine.curve_["threshold"].to_numpy()
    fast_track = max(mql, float(round(np.quantile(thresholds, FAST_TRACK_QUANTILE))))
    recycle = min(mql, float(round(np.quantile(thresholds, RECYCLE_QUANTILE))))
    return fast_track, recycle


def card_cautions(card: dict) -> list[str]:
    """What the room must know about the scale before trusting it: the card's warnings and leakage."""
    lines = [f"Left out as leakage: '{item['column']}' ({item['reason']})"
             for item in card.get("leakage", [])]
    lines += [f"Suspected leakage, kept: '{item['column']}' ({item['reason']})"
              for item in card.get("suspected_leakage", [])]
    return [*card.get("warnings", []), *lines]


class ThresholdEngine:
    """Answer threshold questions on a model's scored hold-out leads.

    Parameters
    ----------
    reps : int
        Sales reps working MQLs.
    leads_per_rep_per_week : float
        MQLs one rep can work per week.
    won_deal_value : float or None
        Value of a won deal; None = the median amount of the won hold-out leads.
    cost_per_lead : float
        Cost of sales working one MQL (for the expected-value optimum).
    grid_size : int
        Most thresholds on the grid used for the trade-off curve, the feasible
        zone and the optimum (all distinct scores when there are fewer).

    Attributes
    ----------
    n_leads_ : int
    n_wins_ : int
    months_ : float
        Length of the validation window in months.
    deal_value_ : float
        NaN when neither the config nor the data gives one.
    capacity_per_week_ : float
    grid_ : ndarray
        Candidate thresholds (ascending).
    curve_ : pandas.DataFrame
        Volume, win rates, workload and expected value at every grid threshold.
    grades_ : list of str
    grade_cutoffs_ : dict
        Lowest sub-score of each grade, ``{"fit": {"A": 67.0, ..., "D": 0.0}, "engagement": {"1": ...}}``:
        from the model card (``scale.grade_cutoffs``) with :meth:`from_model_dir`, else the lowest
        sub-score seen in each grade of the hold-out.
    model_version_ : str or None
    """

    def __init__(self, reps: int = 10, leads_per_rep_per_week: float = 25.0,
                 won_deal_value: float | None = None, cost_per_lead: float = 100.0,
                 grid_size: int = 1001) -> None:
        self.reps = reps
        self.leads_per_rep_per_week = leads_per_rep_per_week
        self.won_deal_value = won_deal_value
        self.cost_per_lead = cost_per_lead
        self.grid_size = grid_size

    # --- construction ---------------------------------------------------------------------------

    @classmethod
    def from_model_dir(cls, model_dir: str | Path, config: Config) -> ThresholdEngine:
        """Build and fit an engine from a model folder written by ``alignment fit``.

        Parameters
        ----------
        model_dir : str or Path
            Folder with ``model.json`` and ``scored_validation.parquet``.
        config : Config
            The workspace config (``sales`` section: capacity, deal value, cost per lead).

        Returns
        -------
        ThresholdEngine
            Fitted, with ``model_version_`` from ``model.json``.
        """
        model_dir = Path(model_dir)
        scored = model_dir / "scored_validation.parquet"
        card_path = model_dir / "model.json"
        for path in (card_path, scored):
            if not path.is_file():
                raise ModelError("model folder is incomplete: file missing", file=str(path),
                                 hint="run `alignment fit` to write the model folder")
        try:
            card = json.loads(card_path.read_text(encoding="utf-8"))
            version = card.get("version")
        except (json.JSONDecodeError, AttributeError) as exc:
            raise ModelError(f"model card is not valid JSON ({exc})", file=str(card_path),
                             hint="run `alignment fit` again") from None
        try:
            validation = pd.read_parquet(scored)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise ModelError(f"cannot read the scored hold-out ({type(exc).__name__})", file=str(scored),
                             hint="run `alignment fit` again") from None
        sales = config.sales
        engine = cls(reps=sales.reps, leads_per_rep_per_week=sales.leads_per_rep_per_week,
                     won_deal_value=sales.won_deal_value, cost_per_lead=sales.cost_per_lead)
        engine.fit(validation, source=str(scored))
        engine.model_version_ = None if version is None else str(version)
        engine.cautions_ = card_cautions(card)
        card_cutoffs = _card_grade_cutoffs(card)
        if card_cutoffs:
            engine.grade_cutoffs_ = card_cutoffs
        return engine

    def _check_params(self) -> None:
        if not isinstance(self.reps, (int, np.integer)) or self.reps <= 0:
            raise ValueError(f"reps must be a positive integer, got {self.reps!r}")
        if not self.leads_per_rep_per_week > 0:
            raise ValueError(f"leads_per_rep_per_week must be > 0, got {self.leads_per_rep_per_week!r}")
        if self.won_deal_value is not None and not self.won_deal_value > 0:
            raise ValueError(f"won_deal_value must be > 0 or None, got {self.won_deal_value!r}")
        if not self.cost_per_lead >= 0:
            raise ValueError(f"cost_per_lead must be >= 0, got {self.cost_per_lead!r}")
        if not isinstance(self.grid_size, (int, np.integer)) or self.grid_size < 2:
            raise ValueError(f"grid_size must be an integer >= 2, got {self.grid_size!r}")

    def fit(self, validation: pd.DataFrame, source: str = "scored_validation") -> ThresholdEngine:
        """Precompute sorted scores and cumulative sums.

        Parameters
        ----------
        validation : pandas.DataFrame
            Scored hold-out leads with at least ``lead_id, scored_at, score, grade,
            probability, won, amount``.
        source : str
            Name used in error messages (the file the frame came from).

        Returns
        -------
        self
        """
        self._check_params()
        missing = [c for c in REQUIRED_COLUMNS if c not in validation.columns]
        if missing:
            raise ModelError("scored hold-out lacks a required column", file=source, column=missing[0],
                             hint="run `alignment fit` again with this version of alignment")
        if len(validation) == 0:
            raise ModelError("scored hold-out has no leads", file=source,
                             hint="the validation window is empty; fit on a longer history")
        score = pd.to_numeric(validation["score"], errors="coerce").to_numpy(dtype=float)
        prob = pd.to_numeric(validation["probability"], errors="coerce").to_numpy(dtype=float)
        won = pd.to_numeric(validation["won"], errors="coerce").to_numpy(dtype=float)
        for name, values in (("score", score), ("probability", prob), ("won", won)):
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                raise ModelError("missing or non-numeric value", file=source, column=name, row=int(bad[0]),
                                 hint="run `alignment fit` again")
        if ((prob < 0) | (prob > 1)).any():
            row = int(np.flatnonzero((prob < 0) | (prob > 1))[0])
            raise ModelError("probability outside [0, 1]", file=source, column="probability", row=row)
        if not np.isin(won, (0.0, 1.0)).all():
            row = int(np.flatnonzero(~np.isin(won, (0.0, 1.0)))[0])
            raise ModelError("won must be 0 or 1", file=source, column="won", row=row)
        scored_at = pd.to_datetime(validation["scored_at"], errors="coerce")
        if scored_at.notna().sum() == 0:
            raise ModelError("scored hold-out has no scoring dates, so volumes per month are unknown",
                             file=source, column="scored_at", hint="give the leads a created_at column")
        span_days = (scored_at.max() - scored_at.min()) / pd.Timedelta(days=1)
        self.months_ = max(float(span_days), 1.0) / DAYS_PER_MONTH

        order = np.argsort(score, kind="stable")
        self._scores = score[order]
        self._cum_prob = np.concatenate(([0.0], np.cumsum(prob[order])))
        self._cum_won = np.concatenate(([0], np.cumsum(won[order].astype(np.int64))))
        self.n_leads_ = int(len(score))
        self.n_wins_ = int(self._cum_won[-1])

        amount = pd.to_numeric(validation["amount"], errors="coerce").to_numpy(dtype=float)
        won_amounts = amount[(won == 1) & np.isfinite(amount) & (amount > 0)]
        if self.won_deal_value is not None:
            self.deal_value_ = float(self.won_deal_value)
        elif won_amounts.size:
            self.deal_value_ = float(np.median(won_amounts))
        else:
            self.deal_value_ = math.nan
        self.capacity_per_week_ = float(self.reps * self.leads_per_rep_per_week)

        codes, uniques = pd.factorize(validation["grade"].astype("string").fillna("?"), sort=True)
        self.grades_ = [str(g) for g in uniques]
        codes, prob_sorted, won_sorted = codes[order], prob[order], won[order].astype(np.int64)
        self._by_grade = {}
        for k, g in enumerate(self.grades_):
            mask = codes == k
            self._by_grade[g] = (self._scores[mask],
                                 np.concatenate(([0.0], np.cumsum(prob_sorted[mask]))),
                                 np.concatenate(([0], np.cumsum(won_sorted[mask]))))

        distinct = np.unique(self._scores)
        if distinct.size > self.grid_size:
            distinct = np.unique(np.quantile(self._scores, np.linspace(0, 1, self.grid_size)))
        self.grid_ = distinct
        self.curve_ = self._curve(self.grid_)
        self.grade_cutoffs_ = _grade_cutoffs(validation)
        self.model_version_ = getattr(self, "model_version_", None)
        return self

    # --- queries ----------------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "_scores"):
            raise RuntimeError("ThresholdEngine is not fitted: call fit() or from_model_dir() first")

    def _curve(self, thresholds: np.ndarray) -> pd.DataFrame:
        """Vectorised summary at many thresholds (the trade-off curve)."""
        idx = np.searchsorted(self._scores, thresholds, side="left")
        n_above = self.n_leads_ - idx
        prob_above = self._cum_prob[-1] - self._cum_prob[idx]
        wins_above = self._cum_won[-1] - self._cum_won[idx]
        with np.errstate(invalid="ignore", divide="ignore"):
            expected_win_rate = np.where(n_above > 0, prob_above / np.maximum(n_above, 1), np.nan)
        per_month = n_above / self.months_
        return pd.DataFrame({
            "threshold": thresholds,
            "leads_per_month": per_month,
            "expected_win_rate": expected_win_rate,
            "wins_captured_share": wins_above / self.n_wins_ if self.n_wins_ else np.nan,
            "workload_per_week": per_month / WEEKS_PER_MONTH,
            "expected_value_per_month": (self.deal_value_ * prob_above - self.cost_per_lead * n_above)
            / self.months_,
        })

    def metrics(self, threshold: float, capacity_per_week: float | None = None) -> ThresholdMetrics:
        """All the numbers for one threshold (leads with ``score >= threshold`` are above).

        Parameters
        ----------
        threshold : float
        capacity_per_week : float, optional
            Sales's capacity for ``capacity_used``; default: the config's.

        Returns
        -------
        ThresholdMetrics
        """
        self._check_fitted()
        threshold = float(threshold)
        capacity = self._capacity(capacity_per_week)
        if not math.isfinite(threshold):
            raise ValueError(f"threshold must be a finite number, got {threshold!r}")
        idx = int(np.searchsorted(self._scores, threshold, side="left"))
        n_above = self.n_leads_ - idx
        prob_above = float(self._cum_prob[-1] - self._cum_prob[idx])
        prob_below = float(self._cum_prob[idx])
        wins_above = int(self._cum_won[-1] - self._cum_won[idx])
        wins_below = self.n_wins_ - wins_above
        low, high = wilson_interval(wins_above, n_above)
        per_month = n_above / self.months_
        workload = per_month / WEEKS_PER_MONTH
        expected_wins = prob_above / self.months_
        return ThresholdMetrics(
            threshold=threshold,
            leads=n_above,
            leads_per_month=per_month,
            share_of_leads=n_above / self.n_leads_,
            expected_win_rate=_safe_div(prob_above, n_above),
            observed_win_rate=_safe_div(wins_above, n_above),
            win_rate_low=float(low),
            win_rate_high=float(high),
            wins_captured=wins_above,
            wins_captured_share=_safe_div(wins_above, self.n_wins_),
            wins_missed=wins_below,
            wins_missed_per_month=wins_below / self.months_,
            below_per_month=idx / self.months_,
            below_expected_win_rate=_safe_div(prob_below, idx),
            workload_per_week=workload,
            capacity_per_week=capacity,
            capacity_used=workload / capacity,
            expected_wins_per_month=expected_wins,
            pipeline_per_month=per_month * self.deal_value_,
            expected_revenue_per_month=expected_wins * self.deal_value_,
            expected_value_per_month=expected_wins * self.deal_value_ - per_month * self.cost_per_lead,
        )

    def by_grade(self, threshold: float) -> pd.DataFrame:
        """Per grade: leads at or above ``threshold`` per month, their share of the grade,
        expected and observed win rate, wins captured and missed.

        Returns
        -------
        pandas.DataFrame
            Indexed by grade (sorted, e.g. A1 ... D4).
        """
        self._check_fitted()
        rows = []
        for g in self.grades_:
            scores, cum_prob, cum_won = self._by_grade[g]
            idx = int(np.searchsorted(scores, threshold, side="left"))
            n = scores.size
            above = n - idx
            wins_above = int(cum_won[-1] - cum_won[idx])
            rows.append((above / self.months_, _safe_div(above, n),
                         _safe_div(float(cum_prob[-1] - cum_prob[idx]), above),
                         _safe_div(wins_above, above), wins_above, int(cum_won[idx])))
        return pd.DataFrame(rows, index=pd.Index(self.grades_, name="grade"),
                            columns=["leads_per_month", "share_of_grade", "expected_win_rate",
                                     "observed_win_rate", "wins_captured", "wins_missed"])

    def feasible_zone(self, min_mql_per_month: float, min_win_rate: float,
                      capacity_per_week: float | None = None) -> FeasibleZone:
        """Grid thresholds giving at least ``min_mql_per_month`` MQLs a month, an expected win
        rate of at least ``min_win_rate``, and a workload within sales capacity.

        Parameters
        ----------
        min_mql_per_month : float
            Marketing's volume commitment (its floor).
        min_win_rate : float
            Sales's quality floor.
        capacity_per_week : float, optional
            MQLs sales can work a week; default: the config's (``capacity_per_week_``).

        Returns
        -------
        FeasibleZone
        """
        self._check_fitted()
        if not min_mql_per_month >= 0:
            raise ValueError(f"min_mql_per_month must be >= 0, got {min_mql_per_month!r}")
        if not 0 <= min_win_rate <= 1:
            raise ValueError(f"min_win_rate must be within [0, 1], got {min_win_rate!r}")
        capacity = self._capacity(capacity_per_week)
        ok_volume, ok_rate, ok_capacity = self._constraint_masks(min_mql_per_month, min_win_rate, capacity)
        mask = ok_volume & ok_rate & ok_capacity
        intervals = []
        if mask.any():
            # Split the feasible grid points into contiguous runs.
            edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
            for start, stop in zip(edges[::2], edges[1::2], strict=True):
                intervals.append((float(self.grid_[start]), float(self.grid_[stop - 1])))
        reason = ""
        if not intervals:
            failing = []
            if not (ok_volume & ok_rate).any():
                failing.append(f"no threshold gives {min_mql_per_month:,.0f} MQLs a month at a "
                               f"{min_win_rate:.1%} win rate")
            if not (ok_volume & ok_capacity).any():
                failing.append(f"{min_mql_per_month:,.0f} MQLs a month exceed sales capacity "
                               f"({capacity:,.0f} a week)")
            reason = "; ".join(failing) or "the volume, win-rate and capacity constraints do not overlap"
        return FeasibleZone(min_mql_per_month=float(min_mql_per_month), min_win_rate=float(min_win_rate),
                            capacity_per_week=capacity, intervals=intervals, reason=reason)

    def _capacity(self, capacity_per_week: float | None) -> float:
        """The capacity asked about (sales may propose another than the config's), checked."""
        if capacity_per_week is None:
            return self.capacity_per_week_
        if not capacity_per_week > 0:
            raise ValueError(f"capacity_per_week must be > 0, got {capacity_per_week!r}")
        return float(capacity_per_week)

    def _constraint_masks(self, min_mql_per_month: float, min_win_rate: float, capacity_per_week: float):
        curve = self.curve_
        ok_volume = curve["leads_per_month"].to_numpy() >= min_mql_per_month
        rate = curve["expected_win_rate"].to_numpy()
        ok_rate = np.nan_to_num(rate, nan=-1.0) >= min_win_rate
        ok_capacity = curve["workload_per_week"].to_numpy() <= capacity_per_week
        return ok_volume & (curve["leads_per_month"].to_numpy() > 0), ok_rate, ok_capacity

    def optimum(self, min_mql_per_month: float = 0.0, min_win_rate: float = 0.0,
                capacity_per_week: float | None = None) -> ThresholdMetrics | None:
        """The grid threshold with the highest expected value per month inside the feasible zone.

        Expected value = deal value x expected wins - cost per lead x MQLs. Ties go to the
        higher threshold (the same value for less sales work). None when the zone is empty or
        the deal value is unknown.
        """
        self._check_fitted()
        if not math.isfinite(self.deal_value_):
            return None
        capacity = self._capacity(capacity_per_week)
        ok_volume, ok_rate, ok_capacity = self._constraint_masks(min_mql_per_month, min_win_rate, capacity)
        mask = ok_volume & ok_rate & ok_capacity
        if not mask.any():
            return None
        value = np.where(mask, self.curve_["expected_value_per_month"].to_numpy(), -np.inf)
        best = len(value) - 1 - int(np.argmax(value[::-1]))
        return self.metrics(float(self.grid_[best]), capacity)

    def evaluate(self, proposal: Proposal, *, min_mql_per_month: float | None = None,
                 min_win_rate: float | None = None, capacity_per_week: float | None = None) -> ProposalView:
        """A full update: every number the workshop shows for one proposal.

        Parameters
        ----------
        proposal : Proposal
        min_mql_per_month, min_win_rate : float, optional
            Constraints of the feasible zone; default: the proposal's own service levels.
            The workshop passes marketing's volume floor and sales's win-rate floor.
        capacity_per_week : float, optional
            Sales's capacity; default: the config's.

        Returns
        -------
        ProposalView
        """
        self._check_fitted()
        volume = proposal.mql_per_month if min_mql_per_month is None else min_mql_per_month
        rate = proposal.min_win_rate if min_win_rate is None else min_win_rate
        capacity = self._capacity(capacity_per_week)
        zone = self.feasible_zone(volume, rate, capacity)
        mql = self.metrics(proposal.mql, capacity)
        notes = []
        if not math.isfinite(self.deal_value_):
            notes.append("no deal value: set sales.won_deal_value in the config for revenue and the optimum")
        return ProposalView(
            proposal=proposal, mql=mql, fast_track=self.metrics(proposal.fast_track, capacity),
            recycle=self.metrics(proposal.recycle, capacity), by_grade=self.by_grade(proposal.mql), zone=zone,
            optimum=self.optimum(volume, rate, capacity), in_zone=self._meets(mql, volume, rate), notes=notes)

    def _meets(self, m: ThresholdMetrics, min_mql_per_month: float, min_win_rate: float) -> bool:
        return not broken_constraints(m, min_mql_per_month, min_win_rate)


CONSTRAINTS = ("no_leads", "commitment", "win_rate", "capacity")
"""What a threshold can break: no lead above it, marketing's volume commitment, sales's minimum win
rate, sales's capacity (the feasible zone is where none is broken)."""


def broken_constraints(m: ThresholdMetrics, min_mql_per_month: float, min_win_rate: float) -> list[str]:
    """The constraints (names from :data:`CONSTRAINTS`) that threshold metrics ``m`` break.

    Parameters
    ----------
    m : ThresholdMetrics
        With the capacity asked about (``capacity_used``).
    min_mql_per_month, min_win_rate : float
        Marketing's commitment and sales's minimum.

    Returns
    -------
    list of str
        Empty when the threshold is inside the zone both teams accept.
    """
    if m.leads == 0:
        return ["no_leads"]
    broken = []
    if m.leads_per_month < min_mql_per_month:
        broken.append("commitment")
    if not m.expected_win_rate >= min_win_rate:
        broken.append("win_rate")
    if m.capacity_used > 1:
        broken.append("capacity")
    return broken


def _card_grade_cutoffs(card: dict) -> dict[str, dict[str, float]]:
    """The model card's grade cut-offs (``scale.grade_cutoffs``: lists, worst to best) as the lowest
    sub-score of each grade, best grade first; empty when the card has none."""
    raw = (card.get("scale") or {}).get("grade_cutoffs") or {}
    cutoffs: dict[str, dict[str, float]] = {}
    for kind, names in (("fit", "ABCD"), ("engagement", "1234")):
        edges = raw.get(kind)
        if isinstance(edges, list) and len(edges) == len(names) - 1:
            lows = [float(e) for e in reversed(edges)] + [0.0]
            cutoffs[kind] = dict(zip(names, lows, strict=True))
    return cutoffs


def synthetic_scored_validation(n_leads: int, seed: int = 0, months: int = 6) -> pd.DataFrame:
    """A scored hold-out with the model folder's columns, for benchmarks at scale.

    Scores, sub-scores and grades follow the points-scale conventions (0-100, A-D x 1-4); the
    probability is a logistic curve of the score and ``won`` is drawn from it, so it is
    calibrated by construction. It is not a fitted model: use a real model folder for anything
    that is reported as a result.
    """
    if n_leads < 1:
        raise ValueError(f"n_leads must be >= 1, got {n_leads}")
    rng = np.random.default_rng(seed)
    fit_score = rng.integers(0, 101, n_leads)
    engagement_score = np.clip(rng.normal(40, 22, n_leads).round(), 0, 100).astype(int)
    score = ((fit_score + engagement_score) / 2).round().astype(int)
    probability = 1 / (1 + np.exp(-(score - 70) / 9))
    won = (rng.random(n_leads) < probability).astype(int)
    fit_grade = np.array(list("DCBA"))[np.minimum(fit_score // 25, 3)]
    engagement_grade = np.array(list("4321"))[np.minimum(engagement_score // 25, 3)]
    start = pd.Timestamp("2025-01-01")
    created = start + pd.to_timedelta(rng.uniform(0, months * DAYS_PER_MONTH, n_leads), unit="D")
    return pd.DataFrame({
        "lead_id": pd.Series(np.arange(n_leads)).astype(str).radd("L"),
        "created_at": created,
        "scored_at": created + pd.to_timedelta(rng.uniform(0, 3, n_leads), unit="D"),
        "score": score,
        "fit_score": fit_score,
        "engagement_score": engagement_score,
        "grade": np.char.add(fit_grade.astype(str), engagement_grade.astype(str)),
        "fit_grade": fit_grade,
        "engagement_grade": engagement_grade,
        "probability": probability,
        "won": won,
        "amount": np.where(won == 1, rng.lognormal(9.5, 0.6, n_leads).round(2), np.nan),
        "source": rng.choice(["web", "event", "partner", "paid"], n_leads),
        "campaign": rng.choice(["spring", "summer", "webinar", "ebook"], n_leads),
        "reason_1": "fit",
        "reason_2": "engagement",
        "reason_3": "activity",
    })


def write_synthetic_model_dir(out: str | Path, n_leads: int = 3000, seed: int = 0) -> Path:
    """Write a model folder holding only what the threshold engine reads (synthetic hold-out).

    For benchmarks and tests that must not depend on fitting; the workshop reads it like a
    real one.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    synthetic_scored_validation(n_leads, seed).to_parquet(out / "scored_validation.parquet", index=False)
    (out / "model.json").write_text(json.dumps({"version": f"synthetic-{seed}"}), encoding="utf-8")
    return out
