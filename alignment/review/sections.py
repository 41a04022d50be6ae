"""The numbers of the monthly review: one month held against the agreement in force.

Every function takes the canonical leads table (see ``docs/architecture.md``) and a month, and returns plain
Python values; :func:`monthly_metrics` gathers them into the deterministic, JSON-ready dict that becomes
``metrics.json``. Nothing here reads files or draws: the report notebook and the analysts' notebook call these
functions and plot what they return.

Which leads belong to a month
-----------------------------
* the **funnel** follows the leads *created* in the month (inquiries) through MQL, SAL, SQL and won,
  each stage counted by its timestamp (a won deal counts when the outcome is won);
* **MQL volume, acceptance, rejection reasons and speed-to-lead** follow the leads *handed over* (``mql_at``)
  in the month;
* **conversion by score band, drift and campaign scores** follow the leads whose *scoring moment*
  (MQL hand-off or creation, from the config) falls in the month.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2, fisher_exact

from alignment.exceptions import DataError
from alignment.features import scoring_moments
from alignment.metrics import psi_band

CAMPAIGN_P_VALUE = 0.01
CAMPAIGN_ACCEPTANCE_GAP = 0.15
CAMPAIGN_MIN_MQLS = 10
NEW_CHANNEL_MONTHS = 3
"""A campaign or source whose first MQL falls within this many months (the month included) is new."""
CHANNEL_HISTORY_MONTHS = 6
"""A channel's acceptance this month is held against its own over this many months before (``worse``)."""
DRIFT_P_VALUE = 0.001
"""PSI counts as drift only beyond sampling noise: see :func:`score_drift`. The review runs every month, so
false alarms add up: resampling the demo's validation scores, 1.25 % of unchanged months pass p < 0.01
(a false alarm in about one year of seven) and 0.2 % pass p < 0.001 (about one year in forty)."""
DEFAULT_BAND_EDGES = (0, 20, 40, 60, 80, 101)
GROUP_COLUMNS = ("owner_group", "team", "sales_team", "region")
"""Columns tried, in order, to group speed-to-lead by team (never by rep: rep names are personal data)."""
DECIMALS = 4
NO_REASON = "(no reason given)"
STAGES = ("inquiry", "mql", "sal", "sql", "won")
MONTHLY_REVIEW_NEEDS_DATES = ("a monthly review needs created_at (the date each lead was created): this "
                              "export has no dates")
MONTHLY_REVIEW_DATES_HINT = "map the export's creation date onto created_at in the config [mapping]"


SECTION_COLUMNS = {
    "mql_volume": (("mql_at",), "MQL volume"),
    "acceptance": (("mql_at", ("sal_at", "rejected_at")), "sales acceptance and rejection"),
    "speed_to_lead": (("mql_at", "first_touch_at"), "speed of follow-up"),
    "campaign_quality": (("mql_at", "campaign"), "campaign quality"),
    "source_quality": (("mql_at", "source"), "source quality"),
}
"""The contract columns each review section needs (a tuple inside: any one of them), and what it measures."""
COLUMN_MEANING = {
    "mql_at": "the date a lead was handed over to sales as an MQL",
    "sal_at": "the date sales accepted it",
    "rejected_at": "the date sales rejected it",
    "first_touch_at": "the date of sales's first call or e-mail",
    "campaign": "the campaign a lead came from",
    "source": "the channel a lead came from",
    "created_at": "the date a lead was created",
}


# --- small helpers ----------------------------------------------------------------------------



def month_period(month: str | pd.Period) -> pd.Period:
    """Parse ``"YYYY-MM"`` into a monthly :class:`pandas.Period`.

    Raises
    ------
    DataError
        When ``month`` is not a valid ``YYYY-MM`` string.
    """
    if isinstance(month, pd.Period):
        return month.asfreq("M")
    try:
        if not isinstance(month, str) or len(month) != 7 or month[4] != "-":
            raise ValueError
        return pd.Period(month, freq="M")
    except (ValueError, TypeError):
        raise DataError(f"month '{month}' is not of the form YYYY-MM", hint="e.g. --month 2025-03") from None


def in_months(stamps: pd.Series, first: pd.Period, last: pd.Period | None = None) -> pd.Series:
    """True where a timestamp falls in month ``first`` through month ``last`` (default: ``first`` alone).

    The one month window of the review: its sections, its scored cohorts and the report's scoring."""
    last = first if last is None else last
    return (stamps >= first.start_time) & (stamps < (last + 1).start_time)



def no_value(column: str) -> str:
    """How a lead without a value in ``column`` is grouped and shown: ``(no rep)``, ``(no campaign)``."""
    return f"(no {column})"


def _or(history: pd.DataFrame | None, leads: pd.DataFrame) -> pd.DataFrame:
    """The whole history where a caller passed it beside a window of it, else the leads themselves."""
    return leads if history is None else history


def _column(leads: pd.DataFrame, name: str) -> pd.Series:
    """A column, or an all-missing one of the right length when the export lacks it."""
    if name in leads.columns:
        return leads[name]
    return pd.Series(pd.NaT if name.endswith("_at") else pd.NA, index=leads.index, dtype=object
                     if not name.endswith("_at") else "datetime64[ns]")


def _rate(numerator: float, denominator: float) -> float | None:
    return float(numerator) / float(denominator) if denominator else None


def _is_won(leads: pd.DataFrame) -> pd.Series:
    return (leads["outcome"].astype("string") == "won").fillna(False).astype(bool)


def to_plain(value: Any, decimals: int = DECIMALS) -> Any:
    """Turn numpy/pandas values into JSON-ready ones: rounded floats, ``None`` for missing, sorted dict keys.

    Parameters
    ----------
    value : Any
        A nested structure of dicts, lists, numbers, strings and timestamps.
    decimals : int
        Floats are rounded to this many decimals so reruns give byte-identical JSON.
    """
    if isinstance(value, Mapping):
        return {str(k): to_plain(v, decimals) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [to_plain(v, decimals) for v in value]
    if isinstance(value, (pd.Timestamp, pd.Period)):
        return str(value)
    if value is None or value is pd.NaT or (not isinstance(value, str) and pd.api.types.is_scalar(value)
                                            and pd.isna(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return None if not math.isfinite(value) else round(value, decimals) + 0.0
    return value if isinstance(value, str) else str(value)


# --- the sections -----------------------------------------------------------------------------


def funnel(leads: pd.DataFrame, month: str | pd.Period, history: pd.DataFrame | None = None) -> list[dict]:
    """Funnel waterfall of the leads created in ``month``: inquiry -> MQL -> SAL -> SQL -> won.

    A stage is measured when ``history`` (default ``leads``: the whole export) has any date for it.

    Returns
    -------
    list of dict
        One entry per stage: ``stage``, ``count``, ``share_of_inquiries`` and ``step_rate`` (share of the
        previous stage that reached this one).
    """
    period = month_period(month)
    cohort = leads[in_months(_column(leads, "created_at"), period)]
    reached = {
        "inquiry": len(cohort),
        # A stage the export has no date for is not measured (None), not zero.
        **{stage: int(cohort[f"{stage}_at"].notna().sum()) if _has(_or(history, leads), f"{stage}_at")
           else None
           for stage in ("mql", "sal", "sql")},
        "won": int(_is_won(cohort).sum()),
    }
    rows, previous = [], None
    for stage in STAGES:
        count = reached[stage]
        rows.append({"stage": stage, "count": count,
                     "share_of_inquiries": None if count is None else _rate(count, reached["inquiry"]),
                     "step_rate": None if previous is None or count is None else _rate(count, previous)})
        previous = count if count is not None else previous
    return rows


def mqls_of_month(leads: pd.DataFrame, month: str | pd.Period) -> pd.DataFrame:
    """The leads handed over to sales (``mql_at``) in ``month``."""
    return leads[in_months(_column(leads, "mql_at"), month_period(month))]


def mql_volume(leads: pd.DataFrame, month: str | pd.Period, commitment: int | None = None) -> dict:
    """MQLs handed over in ``month`` against the agreed monthly commitment (``None``: no commitment)."""
    if commitment is not None and commitment < 0:
        raise ValueError(f"commitment must be >= 0, got {commitment}")
    count = len(mqls_of_month(leads, month))
    return {"mqls": count, "commitment": commitment,
            "share_of_commitment": _rate(count, commitment) if commitment else None,
            "met": None if commitment is None else count >= commitment}


def acceptance(leads: pd.DataFrame, month: str | pd.Period, accept_within_days: float | None = None) -> dict:
    """Sales's answer to the MQLs of ``month``: accepted (SAL), rejected and why, still pending.

    ``acceptance_rate`` is SAL / MQL; ``rejection_rate`` is rejected / (accepted + rejected), the share of the
    MQLs sales has decided on that it turned down (pending MQLs would otherwise dilute it in a recent month).
    ``decided_in_time`` is the share of decided MQLs answered within ``accept_within_days`` of the hand-off.
    """
    if accept_within_days is not None and accept_within_days <= 0:
        raise ValueError(f"accept_within_days must be > 0, got {accept_within_days}")
    mqls = mqls_of_month(leads, month)
    sal_at, rejected_at = _column(mqls, "sal_at"), _column(mqls, "rejected_at")
    accepted = sal_at.notna()
    rejected = rejected_at.notna() & ~accepted
    decided = accepted | rejected
    reasons = _column(mqls, "rejection_reason")[rejected].astype("string").fillna(NO_REASON)
    counts = reasons.value_counts()
    reason_rows = [{"reason": str(reason), "count": int(n), "share": _rate(n, int(rejected.sum()))}
                   for reason, n in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))]
    in_time = None
    if accept_within_days is not None and decided.any():
        answered_at = sal_at.where(accepted, rejected_at)
        delay_days = (answered_at - _column(mqls, "mql_at")).dt.total_seconds() / 86400
        in_time = _rate(int((delay_days[decided] <= accept_within_days).sum()), int(decided.sum()))
    return {"mqls": len(mqls), "accepted": int(accepted.sum()), "rejected": int(rejected.sum()),
            "pending": int((~decided).sum()), "acceptance_rate": _rate(int(accepted.sum()), len(mqls)),
            "rejection_rate": _rate(int(rejected.sum()), int(decided.sum())),
            "accept_within_days": accept_within_days, "decided_in_time": in_time, "reasons": reason_rows}


def group_column(leads: pd.DataFrame) -> str | None:
    """The team-like column to group speed-to-lead by (see :data:`GROUP_COLUMNS`), or ``None``."""
    return next((c for c in GROUP_COLUMNS if c in leads.columns and leads[c].notna().any()), None)


def pseudonymous_owners(leads: pd.DataFrame, history: pd.DataFrame | None = None) -> pd.Series:
    """Reps as ``Rep 01``, ``Rep 02``... numbered in the order of their names over the whole history.

    Used to break speed-to-lead down when the export has no team column: the report must not show names,
    and numbering over the whole history (``history``, default ``leads``) keeps a rep's number the same
    from month to month.
    """
    owners = _column(leads, "owner").astype("string")
    names = sorted(_column(_or(history, leads), "owner").astype("string").dropna().unique())
    width = len(str(len(names)))
    codes = {name: f"Rep {i + 1:0{width}d}" for i, name in enumerate(names)}
    return owners.map(codes).astype("string")


def speed_to_lead(leads: pd.DataFrame, month: str | pd.Period, follow_up_hours: float,
                  by: str | None = None, as_of: pd.Timestamp | None = None) -> dict:
    """Hours from hand-off (``mql_at``) to the first sales touch for the MQLs of ``month``.

    Parameters
    ----------
    leads : DataFrame
        Canonical leads.
    month : str or Period
        ``YYYY-MM``.
    follow_up_hours : float
        The agreed follow-up time; ``share_within`` counts MQLs touched within it
        (untouched ones count as late).
    by : str, optional
        A team-like column to break the numbers down by.
    as_of : Timestamp, optional
        The export moment. An untouched MQL handed over less than ``follow_up_hours`` before it is not late
        yet: it is counted in ``not_due`` and left out of ``share_within`` (else the last day of a month
        just ended would always look late).
    """
    if not follow_up_hours > 0:
        raise ValueError(f"follow_up_hours must be > 0, got {follow_up_hours}")
    mqls = mqls_of_month(leads, month)
    if by is not None and by not in leads.columns:
        raise DataError(f"no column '{by}' to group speed-to-lead by", column=by)

    hours = (_column(mqls, "first_touch_at") - _column(mqls, "mql_at")).dt.total_seconds() / 3600
    not_due = pd.Series(False, index=mqls.index)
    if as_of is not None:
        due_at = _column(mqls, "mql_at") + pd.Timedelta(hours=follow_up_hours)
        not_due = hours.isna() & (due_at > pd.Timestamp(as_of))
    rows = pd.DataFrame({"hours": hours, "within": hours <= follow_up_hours, "not_due": not_due})
    overall = _speed_numbers(len(rows), rows["hours"].count(), rows["not_due"].sum(), rows["within"].sum(),
                             rows["hours"].median())
    result = {"follow_up_hours": follow_up_hours, "group_by": by, **overall, "groups": []}
    if by is not None:
        # One grouped pass, not a summary per group: a month of a large team has hundreds of reps.
        groups = mqls[by].astype("string").fillna(no_value(by))
        stats = rows.groupby(groups, sort=True).agg(
            mqls=("hours", "size"), touched=("hours", "count"), not_due=("not_due", "sum"),
            within=("within", "sum"), median_hours=("hours", "median"))
        result["groups"] = [{"group": str(group), **_speed_numbers(*numbers)}
                            for group, *numbers in stats.itertuples(name=None)]
    return result


def _speed_numbers(mqls: int, touched: int, not_due: int, within: int, median_hours: float) -> dict:
    """Speed-to-lead of a set of MQLs: ``share_within`` counts the untouched as late, leaves out those not
    due yet."""
    return {"mqls": int(mqls), "touched": int(touched), "not_due": int(not_due),
            "median_hours": float(median_hours) if touched else None,
            "share_within": _rate(int(within), int(mqls) - int(not_due))}


def scoring_moment(leads: pd.DataFrame, moment: str = "mql", days_after_created: int = 0) -> pd.Series:
    """When each lead is scored: :func:`alignment.features.scoring_moments` (the same rule as the fit)."""
    return scoring_moments(leads, moment, days_after_created)[0]


SCORE_COLUMNS = ("score", "probability", "grade", "fit_grade", "engagement_grade")
"""What a scored lead carries from ``FittedModel.score`` into a review (those the scores hold)."""


def join_scores(leads: pd.DataFrame, scores: pd.DataFrame, columns: Sequence[str], *,
                how: str = "inner") -> pd.DataFrame:
    """``leads`` with the ``columns`` of ``scores`` joined on ``lead_id``, one score per lead.

    A lead id on two rows of either side would join a lead twice: that is refused in one line. The check
    is a hash of each side's ids (pandas' ``validate="one_to_one"`` costs ten times as much: a million-lead
    review joins its scores four times).
    """
    for name, frame in (("leads", leads), ("scores", scores)):
        ids = pd.Index(frame["lead_id"])
        if not ids.is_unique:
            repeated = ids[ids.duplicated()][0]
            raise DataError(f"lead_id '{repeated}' is on more than one row of the {name}",
                            column="lead_id", hint="a lead is scored once: drop the repeated rows first")
    keep = ["lead_id", *(c for c in columns if c != "lead_id")]
    return leads.merge(scores[keep], on="lead_id", how=how)


def scored_cohort(leads: pd.DataFrame, scores: pd.DataFrame, month: str | pd.Period, *, moment: str = "mql",
                  days_after_created: int = 0, last_month: str | pd.Period | None = None) -> pd.DataFrame:
    """The leads whose scoring moment falls in ``month`` (through ``last_month``), joined with their scores.

    ``scores`` holds ``lead_id, score, probability`` (and optionally ``grade``), as returned by
    ``FittedModel.score``. Adds the column ``scored_at``.
    """
    at = scoring_moment(leads, moment, days_after_created)
    first = month_period(month)
    last = month_period(last_month) if last_month is not None else first
    in_month = in_months(at, first, last)
    cohort = leads[in_month].assign(scored_at=at[in_month])
    return join_scores(cohort, scores, [c for c in SCORE_COLUMNS if c in scores.columns])


def band_labels(edges: Sequence[float]) -> list[str]:
    """Readable labels for score bands: ``[0, 40, 101]`` -> ``["0-39", "40-100"]``."""
    return [f"{int(lo)}-{int(min(hi, 101)) - 1}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]


def band_edges(thresholds: Mapping[str, float] | None) -> list[float]:
    """Score band edges: the agreement's recycle / MQL / fast-track thresholds, else steps of 20."""
    cuts = sorted({float(v) for v in (thresholds or {}).values() if v is not None and 0 < float(v) <= 100})
    return [0.0, *cuts, 101.0] if cuts else [float(e) for e in DEFAULT_BAND_EDGES]


def conversion_by_band(cohort: pd.DataFrame, *, as_of: pd.Timestamp, horizon_days: int,
                       edges: Sequence[float] = DEFAULT_BAND_EDGES) -> dict:
    """Wins within the horizon against the calibrated expectation, by score band.

    A cohort is *mature* when the horizon has passed for every lead in it (latest scoring moment + horizon
    <= ``as_of``): only then is the observed win rate comparable with the calibrated probability. For an
    immature cohort the wins so far are a lower bound, reported as such, and no gap is judged. Leads closed
    before their scoring moment are left out, as the fit leaves them out of its labels.

    Returns
    -------
    dict
        ``mature``, ``days_to_maturity``, ``bands`` (``band, leads, expected_win_rate, observed_win_rate,
        wins``), the overall ``expected_wins``, ``observed_wins``, ``relative_gap`` and ``z`` (observed minus
        expected wins over their binomial standard deviation; only for a mature cohort).
    """
    if horizon_days <= 0:
        raise ValueError(f"horizon_days must be > 0, got {horizon_days}")
    if len(edges) < 2 or any(b <= a for a, b in zip(edges[:-1], edges[1:], strict=True)):
        raise ValueError(f"edges must be increasing with at least two values, got {list(edges)}")
    horizon = pd.Timedelta(days=horizon_days)
    # As in fitting, a lead closed before its scoring moment has no label: it is left out, not a non-win.
    closed = _column(cohort, "outcome").astype("string").isin(["won", "lost"]).fillna(False).astype(bool)
    cohort = cohort[~(closed & (_column(cohort, "closed_at") < cohort["scored_at"]).fillna(False)).to_numpy()]
    latest = cohort["scored_at"].max() if len(cohort) else pd.NaT
    mature = bool(len(cohort)) and latest + horizon <= as_of
    won = _is_won(cohort) & (_column(cohort, "closed_at") <= cohort["scored_at"] + horizon).fillna(False)
    labels = band_labels(edges)
    band = pd.cut(cohort["score"], bins=list(edges), right=False, labels=labels)
    bands = []
    for label in labels:
        members = band == label
        n = int(members.sum())
        bands.append({"band": label, "leads": n,
                      "expected_win_rate": float(cohort.loc[members, "probability"].mean()) if n else None,
                      "observed_win_rate": _rate(int(won[members].sum()), n),
                      "wins": int(won[members].sum())})
    expected = float(cohort["probability"].sum())
    observed = int(won.sum())
    spread = float((cohort["probability"] * (1 - cohort["probability"])).sum())
    days_left = None
    if len(cohort) and not mature:
        days_left = int(math.ceil((latest + horizon - as_of) / pd.Timedelta(days=1)))
    reached = int((cohort["scored_at"] + horizon <= as_of).sum()) if len(cohort) else 0
    return {"mature": mature, "days_to_maturity": days_left, "leads": len(cohort),
            "leads_past_horizon": reached, "bands": bands,
            "expected_wins": expected, "observed_wins": observed,
            "relative_gap": (observed - expected) / expected if mature and expected > 0 else None,
            "z": (observed - expected) / math.sqrt(spread) if mature and spread > 0 else None}


def early_acceptance(cohort: pd.DataFrame, reference: pd.DataFrame, *, as_of: pd.Timestamp, days: int = 14,
                     edges: Sequence[float] = DEFAULT_BAND_EDGES, stage: str = "sal_at") -> dict:
    """Early-stage calibration: leads reaching ``stage`` within ``days`` of scoring, against the reference.

    A young cohort cannot be held against win probabilities yet, but sales's acceptance comes within days.
    Per score band, the share of the cohort's leads accepted within ``days`` of their scoring moment is held
    against the same share among the reference leads (the model's validation window) of that band. Only leads
    scored at least ``days`` before ``as_of`` count, so every lead had the same time.

    Parameters
    ----------
    cohort : DataFrame
        ``score, scored_at`` and the ``stage`` timestamp (e.g. from :func:`scored_cohort`).
    reference : DataFrame
        The same columns for the reference leads.
    as_of : Timestamp
        The export moment.
    days : int
        Days after the scoring moment.
    edges : sequence of float
        Score band edges.
    stage : str
        The stage timestamp column (``sal_at``: accepted by sales).

    Returns
    -------
    dict
        ``leads`` (old enough and in a band the reference covers), ``bands`` (``band, leads, expected_rate,
        observed_rate``), ``expected``, ``observed``, ``relative_gap`` and ``z`` (observed minus expected over
        its standard deviation, counting the sampling noise of the reference rates too).
    """
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    labels = band_labels(edges)
    window = pd.Timedelta(days=days)

    def reached(frame: pd.DataFrame) -> pd.Series:
        return ((_column(frame, stage) - frame["scored_at"]) <= window).fillna(False).astype(bool)

    old_enough = cohort[(cohort["scored_at"] + window <= as_of).fillna(False).to_numpy()]
    ref_band = pd.cut(reference["score"], bins=list(edges), right=False, labels=labels)
    ref = pd.DataFrame({"band": ref_band, "hit": reached(reference)}).groupby("band", observed=False)["hit"]
    ref_rate, ref_n = ref.mean(), ref.size()
    band = pd.cut(old_enough["score"], bins=list(edges), right=False, labels=labels)
    hit = reached(old_enough)
    rows, expected, observed, variance, counted = [], 0.0, 0, 0.0, 0
    for label in labels:
        members = (band == label).to_numpy()
        n, p, n_ref = int(members.sum()), ref_rate.get(label), int(ref_n.get(label, 0))
        covered = n and n_ref and p is not None and not pd.isna(p)
        rows.append({"band": label, "leads": n, "expected_rate": float(p) if covered else None,
                     "observed_rate": _rate(int(hit[members].sum()), n)})
        if covered:
            counted += n
            expected += n * p
            observed += int(hit[members].sum())
            variance += n * p * (1 - p) + n * n * p * (1 - p) / n_ref
    return {"stage": stage.removesuffix("_at"), "days": days, "leads": counted, "bands": rows,
            "expected": expected, "observed": observed,
            "relative_gap": (observed - expected) / expected if expected > 0 else None,
            "z": (observed - expected) / math.sqrt(variance) if variance > 0 else None}


def score_drift(month_scores: pd.Series, baseline_scores: pd.Series, bins: int = 10) -> dict:
    """Population stability (PSI) of the month's scores against the model's validation-window scores.

    With a few hundred leads a month, PSI is noisy: two samples of the *same* distribution give on average
    about ``(bins - 1) * (1/n + 1/m)`` (0.06 for 200 leads against 700), and often more than 0.1. So a PSI
    above the customary cut-offs counts as drift only when it is also beyond sampling noise:
    ``PSI * n*m/(n+m)`` is approximately chi-square with ``bins - 1`` degrees of freedom under no change,
    and its p-value (``noise_p_value``) must be below :data:`DRIFT_P_VALUE`.

    Returns
    -------
    dict
        ``psi``, ``status`` (stable / shifting / drifted), ``noise_p_value``, ``noise_level`` (the PSI
        expected from sampling alone), the means and sizes of both samples.
    """
    from alignment.metrics import psi

    if bins < 2:
        raise ValueError(f"bins must be >= 2, got {bins}")
    month_scores, baseline_scores = month_scores.dropna(), baseline_scores.dropna()
    if not len(month_scores) or not len(baseline_scores):
        return {"psi": None, "status": "no scores", "month_mean": None, "baseline_mean": None}
    n, m = len(month_scores), len(baseline_scores)
    value = float(psi(baseline_scores.to_numpy(float), month_scores.to_numpy(float), bins=bins))
    p_value = float(chi2.sf(value * n * m / (n + m), df=bins - 1))
    status = psi_band(value) if p_value < DRIFT_P_VALUE else "stable"
    return {"psi": value, "status": status, "noise_p_value": p_value,
            "noise_level": (bins - 1) * (1 / n + 1 / m), "month_mean": float(month_scores.mean()),
            "baseline_mean": float(baseline_scores.mean()), "month_leads": n, "baseline_leads": m}


def _less_often(hits: int, n: int, other_hits: int, other_n: int) -> float | None:
    """One-sided Fisher exact p-value that ``hits / n`` is below ``other_hits / other_n``."""
    if not n or not other_n:
        return None
    table = [[hits, n - hits], [other_hits, other_n - other_hits]]
    return float(fisher_exact(table, alternative="less").pvalue)


def _clearly_below(rate: float | None, other: float | None, p_value: float | None, alpha: float) -> bool:
    return (rate is not None and other is not None and p_value is not None and p_value < alpha
            and rate <= other - CAMPAIGN_ACCEPTANCE_GAP)


def channel_quality(leads: pd.DataFrame, month: str | pd.Period, by: str = "campaign",
                    scores: pd.DataFrame | None = None, min_mqls: int = CAMPAIGN_MIN_MQLS,
                    history_months: int = CHANNEL_HISTORY_MONTHS, history: pd.DataFrame | None = None
                    ) -> list[dict]:
    """Volume, acceptance, win rate and mean score per campaign (or source) for the MQLs of ``month``.

    A channel is flagged ``poor`` when sales accepts its MQLs far less often than the rest of the month's
    MQLs: Fisher's exact test p < 0.01 / k (Bonferroni over the k channels with at least ``min_mqls`` MQLs
    this month: with a dozen campaigns a month, p < 0.01 alone would flag one by chance every few months)
    and an acceptance rate at least 15 points below the others. It is ``new`` when its first MQL falls within
    the last :data:`NEW_CHANNEL_MONTHS` months, and ``worse`` when its acceptance fell clearly below its own
    ``history_months`` before (same test). Only a poor channel that is
    new or worse is news for the verdict: a channel that was always poor is shown, not re-alarmed every month.
    ``win_rate`` is won / closed so far (a recent month is immature: see the band section). A channel's
    first MQL is looked up in ``history`` (default ``leads``: the whole export).
    """
    if by not in leads.columns:
        raise DataError(f"no column '{by}' in the leads", column=by)
    if min_mqls < 1:
        raise ValueError(f"min_mqls must be >= 1, got {min_mqls}")
    if history_months < 1:
        raise ValueError(f"history_months must be >= 1, got {history_months}")
    period = month_period(month)
    mql_at = _column(leads, "mql_at")
    before = leads[(mql_at >= (period - history_months).start_time) & (mql_at < period.start_time)]
    past_names = before[by].astype("string").fillna(no_value(by))
    whole = _or(history, leads)
    all_names = whole[by].astype("string").fillna(no_value(by))
    first_mql = _column(whole, "mql_at").groupby(all_names).min()
    new_since = (period - (NEW_CHANNEL_MONTHS - 1)).start_time
    past_accepted = _column(before, "sal_at").notna()
    mqls = mqls_of_month(leads, month)
    mean_scores = channel_mean_scores(leads, month, by, scores)
    names = mqls[by].astype("string").fillna(no_value(by))
    accepted = _column(mqls, "sal_at").notna()
    won = _is_won(mqls)
    closed = mqls["outcome"].astype("string").isin(["won", "lost"]).fillna(False).astype(bool)
    counts = names.value_counts()
    alpha = CAMPAIGN_P_VALUE / max(1, int((counts >= min_mqls).sum()))
    rows = []
    for name in sorted(names.unique()):
        own = (names == name).to_numpy()
        n, n_acc = int(own.sum()), int(accepted[own].sum())
        rest_n, rest_acc = len(mqls) - n, int(accepted[~own].sum())
        rate, rest_rate = _rate(n_acc, n), _rate(rest_acc, rest_n)
        p_value = _less_often(n_acc, n, rest_acc, rest_n)
        poor = n >= min_mqls and _clearly_below(rate, rest_rate, p_value, alpha)
        mine = (past_names == name).to_numpy()
        past_n, past_acc = int(mine.sum()), int(past_accepted[mine].sum())
        past_rate = _rate(past_acc, past_n)
        worse = n >= min_mqls and _clearly_below(rate, past_rate, _less_often(n_acc, n, past_acc, past_n),
                                                 alpha)
        rows.append({by: str(name), "mqls": n, "accepted": n_acc, "acceptance_rate": rate,
                     "others_acceptance_rate": rest_rate, "p_value": p_value,
                     "new": bool(first_mql.get(name, pd.NaT) >= new_since),
                     "history_mqls": past_n, "history_acceptance_rate": past_rate, "worse": worse,
                     "won": int(won[own].sum()), "closed": int(closed[own].sum()),
                     "win_rate": _rate(int(won[own].sum()), int(closed[own].sum())),
                     "mean_score": mean_scores.get(str(name)),
                     "poor": poor})
    return sorted(rows, key=lambda r: (-r["mqls"], r[by]))


def channel_mean_scores(leads: pd.DataFrame, month: str | pd.Period, by: str,
                        scores: pd.DataFrame | None) -> dict[str, float]:
    """Mean score of the MQLs of ``month`` per campaign (or source), every MQL with its score, also one
    scored in an earlier month (empty without scores): the one part of :func:`channel_quality` that needs
    them, so the rest can be computed while the window is scored."""
    if scores is None or "score" not in scores.columns:
        return {}
    mqls = join_scores(mqls_of_month(leads, month), scores, ["score"], how="left")
    names = mqls[by].astype("string").fillna(no_value(by))
    return {str(name): float(mqls.loc[(names == name).to_numpy(), "score"].mean()) for name in names.unique()}


def crm_hygiene(leads: pd.DataFrame, month: str | pd.Period) -> dict:
    """Gaps in the CRM record of the leads created or handed over in ``month``.

    Counts: leads past a stage with the earlier stage's date missing (SAL/SQL without ``mql_at``, SQL without
    ``sal_at``, won without ``closed_at``), stage dates out of order, rejections without a reason and MQLs
    without an owner. Shares are of the leads in scope.
    """
    period = month_period(month)
    in_scope = in_months(_column(leads, "created_at"), period) | in_months(_column(leads, "mql_at"), period)
    scope = leads[in_scope]
    mql_at, sal_at, sql_at = _column(scope, "mql_at"), _column(scope, "sal_at"), _column(scope, "sql_at")
    rejected = _column(scope, "rejected_at").notna()
    reason = _column(scope, "rejection_reason").astype("string")
    checks = {
        "missing_mql_date": int(((sal_at.notna() | sql_at.notna()) & mql_at.isna()).sum()),
        "missing_sal_date": int((sql_at.notna() & sal_at.isna()).sum()),
        "missing_close_date": int((_is_won(scope) & _column(scope, "closed_at").isna()).sum()),
        "stage_dates_out_of_order": int(((sal_at < mql_at) | (sql_at < sal_at)).fillna(False).sum()),
        "rejected_without_reason": int((rejected & (reason.isna() | (reason.str.strip() == ""))).fillna(False)
                                       .sum()),
        "mqls_without_owner": int((mql_at.notna() & _column(scope, "owner").isna()).sum()),
    }
    total = sum(checks.values())
    return {"leads": len(scope), "issues": checks, "leads_with_issues_share": _rate(total, len(scope)),
            "clean": total == 0}


# --- what the export allows ------------------------------------------------------------------


def _has(leads: pd.DataFrame, column: str) -> bool:
    return column in leads.columns and bool(leads[column].notna().any())


def require_dates(leads: pd.DataFrame, source: Any = None) -> None:
    """Refuse, in one line, a history without creation (or MQL) dates: there are no months to review."""
    if not _has(leads, "created_at") and not _has(leads, "mql_at"):
        raise DataError(MONTHLY_REVIEW_NEEDS_DATES, file=str(source) if source else None, column="created_at",
                        hint=MONTHLY_REVIEW_DATES_HINT)


def missing_columns(leads: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    """The review sections the export cannot measure, each with the contract column(s) it lacks.

    Returns
    -------
    dict
        Section (a key of :data:`SECTION_COLUMNS`) → the missing column, or the alternatives none of which is
        there (``("sal_at", "rejected_at")``); sections the export allows are absent.
    """
    out = {}
    for section, (needs, _) in SECTION_COLUMNS.items():
        for need in needs:
            options = need if isinstance(need, tuple) else (need,)
            if not any(_has(leads, column) for column in options):
                out[section] = options
                break
    return out


def not_measured(missing: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """One plain sentence per section :func:`missing_columns` found, saying what to map."""
    out = {}
    for section, options in missing.items():
        columns = " or ".join(options)
        meaning = " or ".join(COLUMN_MEANING[column] for column in options)
        out[section] = (f"Not measured: the export has no {columns} ({meaning}), so "
                        f"{SECTION_COLUMNS[section][1]} cannot be measured. Map the export's column holding "
                        f"it onto {options[0]} in the config [mapping].")
    return out

