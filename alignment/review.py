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

Verdict rules (documented in ``docs/monthly-review.md``)
--------------------------------------------------------
*recalibrate* when any of: score drift PSI >= 0.25 (beyond sampling noise, see :func:`score_drift`); sales
rejects more than 35 % of the decided MQLs; a mature cohort wins clearly fewer or more deals than the scale
promised (|z| >= 3 and a relative gap >= 25 %; never a cohort the scale was fitted or calibrated on).
*watch* when any of: PSI >= 0.1 (beyond sampling noise); rejection rate above 25 %; an early-stage gap (leads
accepted within 14 days against the validation window at the same scores, |z| >= 3 and >= 15 % apart); a new
(first MQL within 3 months) or worsened campaign or source whose MQLs sales accepts far less often than the
rest (Fisher exact p < 0.01 / channels tested, at least 15 points below); a mature calibration gap with
|z| >= 2; and, only when an agreement is in force, MQL volume below 80 % of the commitment, an expected win
rate of the MQLs below the agreed minimum, or fewer than 80 % of MQLs touched within the agreed hours.
Otherwise *keep*.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2, fisher_exact

from alignment.commitments import next_actions, score_commitments
from alignment.exceptions import DataError
from alignment.features import scoring_moments

PSI_WATCH = 0.1
PSI_RECALIBRATE = 0.25
REJECTION_WATCH = 0.25
REJECTION_RECALIBRATE = 0.35
CALIBRATION_Z_WATCH = 2.0
CALIBRATION_Z_RECALIBRATE = 3.0
CALIBRATION_RELATIVE_GAP = 0.25
EARLY_Z_WATCH = 3.0
EARLY_RELATIVE_GAP = 0.15
VOLUME_WATCH_SHARE = 0.8
SPEED_WATCH_SHARE = 0.8
CAMPAIGN_P_VALUE = 0.01
CAMPAIGN_ACCEPTANCE_GAP = 0.15
CAMPAIGN_MIN_MQLS = 10
NEW_CHANNEL_MONTHS = 3
"""A campaign or source whose first MQL falls within this many months (the month included) is new."""
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

VERDICT_ORDER = {"not judged": -1, "keep": 0, "watch": 1, "recalibrate": 2}
MIN_JUDGED_SIGNALS = 2
"""Of the score-truth and acceptance rules (drift, rejection, calibration, early acceptance), at least this
many must have been judged for a month without findings to be called *keep*; otherwise it is *not judged*."""

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


def _in_month(stamps: pd.Series, period: pd.Period) -> pd.Series:
    start = period.start_time
    end = (period + 1).start_time
    return (stamps >= start) & (stamps < end)


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


def funnel(leads: pd.DataFrame, month: str | pd.Period) -> list[dict]:
    """Funnel waterfall of the leads created in ``month``: inquiry -> MQL -> SAL -> SQL -> won.

    Returns
    -------
    list of dict
        One entry per stage: ``stage``, ``count``, ``share_of_inquiries`` and ``step_rate`` (share of the
        previous stage that reached this one).
    """
    period = month_period(month)
    cohort = leads[_in_month(_column(leads, "created_at"), period)]
    reached = {
        "inquiry": len(cohort),
        # A stage the export has no date for is not measured (None), not zero.
        **{stage: int(cohort[f"{stage}_at"].notna().sum()) if _has(leads, f"{stage}_at") else None
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
    return leads[_in_month(_column(leads, "mql_at"), month_period(month))]


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


def pseudonymous_owners(leads: pd.DataFrame) -> pd.Series:
    """Reps as ``Rep 01``, ``Rep 02``... numbered in the order of their names over the whole history.

    Used to break speed-to-lead down when the export has no team column: the report must not show names,
    and numbering over the whole history keeps a rep's number the same from month to month.
    """
    owners = _column(leads, "owner").astype("string")
    names = sorted(owners.dropna().unique())
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

    def summary(frame: pd.DataFrame) -> dict:
        hours = (_column(frame, "first_touch_at") - _column(frame, "mql_at")).dt.total_seconds() / 3600
        touched = hours.dropna()
        not_due = 0
        if as_of is not None:
            due_at = _column(frame, "mql_at") + pd.Timedelta(hours=follow_up_hours)
            not_due = int((hours.isna() & (due_at > pd.Timestamp(as_of))).sum())
        return {"mqls": len(frame), "touched": len(touched), "not_due": not_due,
                "median_hours": float(touched.median()) if len(touched) else None,
                "share_within": _rate(int((touched <= follow_up_hours).sum()), len(frame) - not_due)}

    result = {"follow_up_hours": follow_up_hours, "group_by": by, **summary(mqls), "groups": []}
    if by is not None:
        groups = mqls[by].astype("string").fillna(f"(no {by})")
        by_group = sorted(mqls.groupby(groups, sort=False), key=lambda kv: str(kv[0]))
        result["groups"] = [{"group": str(name), **summary(frame)} for name, frame in by_group]
    return result


def scoring_moment(leads: pd.DataFrame, moment: str = "mql", days_after_created: int = 0) -> pd.Series:
    """When each lead is scored: :func:`alignment.features.scoring_moments` (the same rule as the fit)."""
    return scoring_moments(leads, moment, days_after_created)[0]


def scored_cohort(leads: pd.DataFrame, scores: pd.DataFrame, month: str | pd.Period, *, moment: str = "mql",
                  days_after_created: int = 0, last_month: str | pd.Period | None = None) -> pd.DataFrame:
    """The leads whose scoring moment falls in ``month`` (through ``last_month``), joined with their scores.

    ``scores`` holds ``lead_id, score, probability`` (and optionally ``grade``), as returned by
    ``FittedModel.score``. Adds the column ``scored_at``.
    """
    at = scoring_moment(leads, moment, days_after_created)
    first = month_period(month)
    last = month_period(last_month) if last_month is not None else first
    in_month = (at >= first.start_time) & (at < (last + 1).start_time)
    cohort = leads[in_month].assign(scored_at=at[in_month])
    keep = [c for c in ("lead_id", "score", "probability", "grade", "fit_grade", "engagement_grade")
            if c in scores.columns]
    return cohort.merge(scores[keep], on="lead_id", how="inner", validate="one_to_one")


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
    status = "stable"
    if p_value < DRIFT_P_VALUE and value >= PSI_WATCH:
        status = "shifting" if value < PSI_RECALIBRATE else "drifted"
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
                    history_months: int = 6) -> list[dict]:
    """Volume, acceptance, win rate and mean score per campaign (or source) for the MQLs of ``month``.

    A channel is flagged ``poor`` when sales accepts its MQLs far less often than the rest of the month's
    MQLs: Fisher's exact test p < 0.01 / k (Bonferroni over the k channels with at least ``min_mqls`` MQLs
    this month: with a dozen campaigns a month, p < 0.01 alone would flag one by chance every few months)
    and an acceptance rate at least 15 points below the others. It is ``new`` when its first MQL falls within
    the last :data:`NEW_CHANNEL_MONTHS` months, and ``worse`` when its acceptance fell clearly below its own
    ``history_months`` before (same test). Only a poor channel that is
    new or worse is news for the verdict: a channel that was always poor is shown, not re-alarmed every month.
    ``win_rate`` is won / closed so far (a recent month is immature: see the band section).
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
    past_names = before[by].astype("string").fillna(f"(no {by})")
    all_names = leads[by].astype("string").fillna(f"(no {by})")
    first_mql = mql_at.groupby(all_names).min()
    new_since = (period - (NEW_CHANNEL_MONTHS - 1)).start_time
    past_accepted = _column(before, "sal_at").notna()
    mqls = mqls_of_month(leads, month)
    if scores is not None and "score" in scores.columns:
        mqls = mqls.merge(scores[["lead_id", "score"]], on="lead_id", how="left", validate="one_to_one")
    names = mqls[by].astype("string").fillna(f"(no {by})")
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
                     "mean_score": float(mqls.loc[own, "score"].mean()) if "score" in mqls and n else None,
                     "poor": poor})
    return sorted(rows, key=lambda r: (-r["mqls"], r[by]))


def crm_hygiene(leads: pd.DataFrame, month: str | pd.Period) -> dict:
    """Gaps in the CRM record of the leads created or handed over in ``month``.

    Counts: leads past a stage with the earlier stage's date missing (SAL/SQL without ``mql_at``, SQL without
    ``sal_at``, won without ``closed_at``), stage dates out of order, rejections without a reason and MQLs
    without an owner. Shares are of the leads in scope.
    """
    period = month_period(month)
    in_scope = _in_month(_column(leads, "created_at"), period) | _in_month(_column(leads, "mql_at"), period)
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


# --- verdict ----------------------------------------------------------------------------------


def _not_judged(metrics: Mapping[str, Any]) -> dict[str, str]:
    """The verdict's rules that could not be judged this month, each with why."""
    missing = {section: f"the export has no {' or '.join(columns)}"
               for section, columns in (metrics.get("not_measured_columns") or {}).items()}
    out: dict[str, str] = {}
    drift = metrics.get("drift") or {}
    if drift.get("psi") is None:
        out["score drift"] = "no scored leads this month to compare with the validation window"
    acc = metrics.get("acceptance") or {}
    if "acceptance" in missing:
        out["rejection rate"] = missing["acceptance"]
    elif acc.get("rejection_rate") is None:
        out["rejection rate"] = "sales decided on none of this month's MQLs yet"
    calibration = metrics.get("calibration") or {}
    if not calibration.get("leads"):
        out["calibration"] = "no scored leads this month"
    elif calibration.get("in_sample"):
        out["calibration"] = ("this month's leads are inside the period the scale was fitted on: their wins "
                              "are not a validation")
    elif not calibration.get("mature"):
        out["calibration"] = (f"this month's leads are not mature yet ({calibration.get('days_to_maturity')} "
                              "days until every lead's horizon has passed)")
    early = metrics.get("early_acceptance") or {}
    if early.get("z") is None:
        out["early acceptance"] = missing.get("acceptance") or ("too few scored leads old enough, or no "
                                                                "validation window to compare with")
    for channel in ("campaign", "source"):
        if f"{channel}_quality" in missing:
            out[f"{channel} quality"] = missing[f"{channel}_quality"]
    if not (metrics.get("agreement") or {}).get("in_force"):
        out["commitments"] = "no agreement is in force"
    else:
        for section, rule in (("mql_volume", "MQL volume commitment"), ("speed_to_lead", "follow-up time")):
            if section in missing:
                out[rule] = missing[section]
    return out




def verdict(metrics: Mapping[str, Any]) -> dict:
    """Keep / watch / recalibrate, with reasons in plain words (rules in the module docstring).

    Parameters
    ----------
    metrics : Mapping
        The sections computed by :func:`monthly_metrics` (before rounding).
    """
    reasons: list[tuple[str, str]] = []

    def add(level: str, text: str) -> None:
        reasons.append((level, text))

    drift = metrics.get("drift") or {}
    if drift.get("psi") is not None and drift.get("status") in ("shifting", "drifted"):
        if drift["status"] == "drifted":
            add("recalibrate", "This month's scores have drifted far from those of the leads the scale "
                               f"was checked on (drift index {drift['psi']:.2f}; {PSI_RECALIBRATE:g} or "
                               "more, beyond chance, means drifted): the leads coming in are not the ones it "
                               "was fitted on.")
        else:
            add("watch", "This month's scores are moving away from those of the leads the scale was checked "
                         f"on (drift index {drift['psi']:.2f}; {PSI_WATCH:g} or more, beyond chance, means "
                         "moving).")
    acc = metrics.get("acceptance") or {}
    rejection = acc.get("rejection_rate")
    if rejection is not None:
        if rejection > REJECTION_RECALIBRATE:
            add("recalibrate", f"Sales rejected {rejection:.1%} of the MQLs it decided on (above "
                               f"{REJECTION_RECALIBRATE:.0%}): the MQL threshold no longer matches what "
                               "sales calls a good lead.")
        elif rejection > REJECTION_WATCH:
            add("watch", f"Sales rejected {rejection:.1%} of the MQLs it decided on (above "
                         f"{REJECTION_WATCH:.0%}).")
    calibration = metrics.get("calibration") or {}
    z, gap = calibration.get("z"), calibration.get("relative_gap")
    if calibration.get("mature") and not calibration.get("in_sample") and z is not None and gap is not None:
        direction = "fewer" if gap < 0 else "more"
        text = (f"The {calibration.get('cohort', 'mature')} cohort won {calibration['observed_wins']} deals "
                f"where the scale expected {calibration['expected_wins']:.0f} ({abs(gap):.0%} {direction}).")
        if abs(z) >= CALIBRATION_Z_RECALIBRATE and abs(gap) >= CALIBRATION_RELATIVE_GAP:
            add("recalibrate", text)
        elif abs(z) >= CALIBRATION_Z_WATCH:
            add("watch", text)
    early = metrics.get("early_acceptance") or {}
    if early.get("z") is not None and early.get("relative_gap") is not None and \
            abs(early["z"]) >= EARLY_Z_WATCH and abs(early["relative_gap"]) >= EARLY_RELATIVE_GAP:
        direction = "less" if early["relative_gap"] < 0 else "more"
        add("watch", f"Sales accepted {early['observed']} of this month's leads within {early['days']} days "
                     f"where leads of the same scores used to give {early['expected']:.0f} "
                     f"({abs(early['relative_gap']):.0%} {direction}, far more than chance): an early sign "
                     "that the scores no longer mean what they did.")
    for channel in ("campaign", "source"):
        for row in metrics.get(f"{channel}_quality") or []:
            if row["poor"] and (row.get("new") or row.get("worse")):
                news = "new " if row.get("new") else ""
                add("watch", f"Sales accepted only {row['acceptance_rate']:.0%} of the {row['mqls']} MQLs "
                             f"from {news}{channel} '{row[channel]}' "
                             f"(others: {row['others_acceptance_rate']:.0%}).")
    if metrics.get("agreement", {}).get("in_force"):
        volume = metrics.get("mql_volume") or {}
        share = volume.get("share_of_commitment")
        if share is not None and share < VOLUME_WATCH_SHARE:
            add("watch", f"Marketing delivered {volume['mqls']} MQLs against the {volume['commitment']} "
                         f"agreed ({share:.0%}).")
        expected, floor = volume.get("expected_win_rate"), volume.get("min_win_rate")
        if expected is not None and floor is not None and expected < floor:
            add("watch", f"The month's MQLs are expected to win {expected:.1%}, below the agreed "
                         f"{floor:.1%}.")
        speed = metrics.get("speed_to_lead") or {}
        within = speed.get("share_within")
        if within is not None and within < SPEED_WATCH_SHARE:
            add("watch", f"Sales touched {within:.0%} of the MQLs within the agreed "
                         f"{speed['follow_up_hours']:g} hours (target {SPEED_WATCH_SHARE:.0%}).")
    not_judged = _not_judged(metrics)
    signals = ("score drift", "rejection rate", "calibration", "early acceptance")
    judged = [rule for rule in signals if rule not in not_judged]
    level = max((lvl for lvl, _ in reasons), key=VERDICT_ORDER.__getitem__, default="keep")
    ordered = [text for lvl, text in sorted(reasons, key=lambda r: -VERDICT_ORDER[r[0]])]
    if not ordered and len(judged) < MIN_JUDGED_SIGNALS:
        level = "not judged"
        ordered = [f"Too little could be measured this month to say the scale and the agreement still hold: "
                   f"{len(judged)} of the {len(signals)} checks of score truth and acceptance could be "
                   f"judged ({', '.join(judged) or 'none'}). See what was not judged, and why, below."]
    elif not ordered:
        ordered = ["Nothing judged this month calls for a change: " + ", ".join(judged) + " hold."]
    return {"verdict": level, "reasons": ordered,
            "not_judged": [{"rule": rule, "why": why} for rule, why in not_judged.items()]}


# --- the whole month --------------------------------------------------------------------------


def _speed_by_group(leads: pd.DataFrame, period: pd.Period, follow_up: float,
                    as_of: pd.Timestamp | None = None) -> dict:
    """Speed-to-lead by team when the export has a team column, else by pseudonymous rep."""
    by = group_column(leads)
    if by is None and "owner" in leads.columns and leads["owner"].notna().any():
        mqls = mqls_of_month(leads, period)
        mqls = mqls.assign(rep=pseudonymous_owners(leads).loc[mqls.index])
        return speed_to_lead(mqls, period, follow_up, by="rep", as_of=as_of)
    return speed_to_lead(leads, period, follow_up, by=by, as_of=as_of)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _agreement_fields(agreement: Any) -> dict:
    """Read thresholds and service levels from an Agreement object or a plain mapping."""
    if agreement is None:
        return {}
    if isinstance(agreement, Mapping):
        data = dict(agreement)
    elif hasattr(agreement, "model_dump"):
        data = agreement.model_dump()
    elif hasattr(agreement, "__dataclass_fields__"):
        import dataclasses

        data = dataclasses.asdict(agreement)
    else:
        data = {k: getattr(agreement, k) for k in ("version", "signed_at", "effective_from", "model_version",
                                                   "thresholds", "service_levels", "signed_by")
                if hasattr(agreement, k)}
    return data


def month_numbers(leads: pd.DataFrame, month: str | pd.Period, *, scores: pd.DataFrame | None,
                  baseline_scores: pd.Series | None, follow_up_hours: float,
                  as_of: pd.Timestamp | None = None,
                  missing: Mapping[str, tuple[str, ...]] | None = None) -> dict:
    """The few key numbers of one month, for the trend lines (MQLs, acceptance, speed, drift, mean score).

    ``missing`` is :func:`missing_columns` of ``leads`` when the caller has it already (one scan of the
    history for the whole trend, not one per month)."""
    missing = missing_columns(leads) if missing is None else missing
    acc = {} if "acceptance" in missing else acceptance(leads, month)
    speed = {} if "speed_to_lead" in missing else speed_to_lead(leads, month, follow_up_hours, as_of=as_of)
    row = {"month": str(month_period(month)), "inquiries": funnel(leads, month)[0]["count"],
           "mqls": None if "mql_volume" in missing else len(mqls_of_month(leads, month)),
           "acceptance_rate": acc.get("acceptance_rate"), "rejection_rate": acc.get("rejection_rate"),
           "median_hours_to_touch": speed.get("median_hours"),
           "share_touched_in_time": speed.get("share_within"),
           "psi": None, "mean_score": None}
    if scores is not None:
        month_scores = scores["score"]
        row["mean_score"] = float(month_scores.mean()) if len(month_scores) else None
        if baseline_scores is not None:
            row["psi"] = score_drift(month_scores, baseline_scores)["psi"]
    return row


def monthly_metrics(leads: pd.DataFrame, month: str | pd.Period, *, as_of: pd.Timestamp,
                    scores: pd.DataFrame | None = None, baseline_scores: pd.Series | None = None,
                    agreement: Any = None, service_levels: Mapping[str, float] | None = None,
                    horizon_days: int = 180, moment: str = "mql", days_after_created: int = 0,
                    trend_months: int = 6, model_version: str | None = None,
                    fitted_until: pd.Timestamp | None = None, validation: pd.DataFrame | None = None,
                    agreement_record: Mapping[str, Any] | None = None) -> dict:
    """Every number of the monthly review, as the plain dict written to ``metrics.json``.

    Parameters
    ----------
    leads : DataFrame
        Canonical leads (the whole history: the trend needs the months before).
    month : str or Period
        The month under review, ``YYYY-MM``.
    as_of : Timestamp
        The export date: decides which cohorts are mature.
    scores : DataFrame, optional
        ``lead_id, score, probability[, grade]`` for (at least) the leads scored in the month and the trend
        window. Without scores, the score sections are left empty.
    baseline_scores : Series, optional
        The model's validation-window scores (the drift baseline).
    agreement : Agreement or mapping, optional
        The agreement in force; ``None`` when none was signed (the report says so and judges no commitment).
    service_levels : mapping, optional
        Fallback service levels (the workspace config) when no agreement is in force; shown, not judged.
    horizon_days, moment, days_after_created : int, str, int
        The scoring moment and horizon of the config.
    trend_months : int
        How many months before ``month`` the trend covers.
    model_version : str, optional
        The version of the scale that produced ``scores``.
    fitted_until : Timestamp, optional
        The last scoring moment the scale was trained or calibrated on. A cohort scored before it is
        in-sample: its calibration is shown but never judged (it is not a validation).
    validation : DataFrame, optional
        The model's hold-out (``lead_id, score, scored_at``): the reference of :func:`early_acceptance`.
    agreement_record : mapping, optional
        What the agreements folder says of the agreement: ``sha256`` of its file, ``history`` ("intact" or
        the problem), ``taking_effect`` (a sentence naming a version that takes effect inside the month).

    Returns
    -------
    dict
        JSON-ready, sorted keys, floats rounded to four decimals; ``verdict`` and ``reasons`` at the top
        level.
    """
    if trend_months < 0:
        raise ValueError(f"trend_months must be >= 0, got {trend_months}")
    required = {"lead_id", "outcome"}
    if missing := required - set(leads.columns):
        raise DataError(f"the leads lack the column(s) {sorted(missing)}", column=sorted(missing)[0])
    require_dates(leads)
    period = month_period(month)
    missing = missing_columns(leads)
    commitment = None
    terms = _agreement_fields(agreement)
    levels = dict(service_levels or {})
    levels.update({k: v for k, v in (terms.get("service_levels") or {}).items() if v is not None})
    follow_up = float(levels.get("follow_up_hours", 24.0))
    in_force = bool(terms)
    if in_force and levels.get("mql_per_month") is not None:
        commitment = int(levels["mql_per_month"])
    edges = band_edges(terms.get("thresholds"))

    cohorts: dict[pd.Period, pd.DataFrame] = {}
    if scores is not None:  # one join for the whole trend window, then a cheap split by month
        window = scored_cohort(leads, scores, period - trend_months, moment=moment,
                               days_after_created=days_after_created, last_month=period)
        month_of = window["scored_at"].dt.to_period("M")
        cohorts = {m: window[month_of == m] for m in pd.period_range(period - trend_months, period, freq="M")}

    def cohort_scores(m: pd.Period) -> pd.DataFrame | None:
        return cohorts.get(m) if scores is not None else None

    cohort = cohort_scores(period)
    metrics: dict[str, Any] = {
        "month": str(period),
        "as_of": str(pd.Timestamp(as_of)),
        "model_version": model_version,
        "agreement": {"in_force": in_force, "version": terms.get("version"),
                      "effective_from": _text(terms.get("effective_from")),
                      "signed_at": _text(terms.get("signed_at")), "signed_by": terms.get("signed_by"),
                      "model_version": terms.get("model_version"), "thresholds": terms.get("thresholds"),
                      "service_levels": levels, **dict(agreement_record or {}),
                      "note": None if in_force else "No agreement is in force: service levels shown are the "
                                                    "workspace defaults and are not judged."},
        "not_measured": not_measured(missing),
        "not_measured_columns": {section: list(columns) for section, columns in missing.items()},
        "funnel": funnel(leads, period),
        "mql_volume": None if "mql_volume" in missing else mql_volume(leads, period, commitment),
        "acceptance": None if "acceptance" in missing else acceptance(leads, period,
                                                                      levels.get("accept_within_days")),
        "speed_to_lead": None if "speed_to_lead" in missing else _speed_by_group(leads, period, follow_up,
                                                                                 pd.Timestamp(as_of)),
        # every MQL of the month with its score, also one scored in an earlier month (then handed over)
        **{f"{channel}_quality": [] if f"{channel}_quality" in missing
           else channel_quality(leads, period, channel, scores) for channel in ("campaign", "source")},
        "hygiene": crm_hygiene(leads, period),
        "calibration": None,
        "drift": None,
        "early_acceptance": None,
    }
    if cohort is not None:
        calibration = conversion_by_band(cohort, as_of=pd.Timestamp(as_of), horizon_days=horizon_days,
                                         edges=edges)
        calibration["cohort"] = str(period)
        calibration["band_edges"] = [float(e) for e in edges]
        calibration["in_sample"] = _in_sample(period, fitted_until)
        metrics["calibration"] = calibration
        if baseline_scores is not None:
            metrics["drift"] = score_drift(cohort["score"], baseline_scores)
        if validation is not None and {"lead_id", "score", "scored_at"} <= set(validation.columns):
            reference = validation[["lead_id", "score", "scored_at"]].merge(
                leads[["lead_id", "sal_at"]] if "sal_at" in leads else leads[["lead_id"]], on="lead_id")
            metrics["early_acceptance"] = early_acceptance(cohort, reference, as_of=pd.Timestamp(as_of),
                                                           edges=edges)
    volume = metrics["mql_volume"] or {}
    volume["min_win_rate"] = levels.get("min_win_rate") if in_force else None
    volume["expected_win_rate"] = None
    # the calibrated win rate of what marketing handed over, against the agreed floor
    if scores is not None and metrics["mql_volume"] is not None:
        handed = mqls_of_month(leads, period)[["lead_id"]].merge(scores[["lead_id", "probability"]],
                                                                 on="lead_id", how="inner")
        volume["expected_win_rate"] = float(handed["probability"].mean()) if len(handed) else None
    metrics.update(verdict(metrics))
    metrics["commitments"] = score_commitments(metrics)
    metrics["actions"] = next_actions(metrics, metrics["commitments"])
    trend = []
    for offset in range(trend_months, -1, -1):
        m = period - offset
        trend.append(month_numbers(leads, m, scores=cohort_scores(m), baseline_scores=baseline_scores,
                                   follow_up_hours=follow_up, as_of=pd.Timestamp(as_of), missing=missing))
    metrics["trend"] = trend
    metrics["mature_cohorts"] = _mature_cohorts(cohorts, fitted_until, as_of=pd.Timestamp(as_of),
                                                horizon_days=horizon_days, edges=edges)
    return to_plain(metrics)


def _in_sample(period: pd.Period, fitted_until: pd.Timestamp | None) -> bool:
    return fitted_until is not None and period.start_time <= pd.Timestamp(fitted_until)


def _mature_cohorts(cohorts: Mapping[pd.Period, pd.DataFrame], fitted_until: pd.Timestamp | None, *,
                    as_of: pd.Timestamp, horizon_days: int, edges: Sequence[float]) -> list[dict]:
    """Calibration of the scored cohorts of the trend window, with their maturity."""
    rows = []
    for m, cohort in sorted(cohorts.items()):
        result = conversion_by_band(cohort, as_of=as_of, horizon_days=horizon_days, edges=edges)
        rows.append({"month": str(m), "mature": result["mature"], "in_sample": _in_sample(m, fitted_until),
                     "leads": result["leads"],
                     "expected_wins": result["expected_wins"], "observed_wins": result["observed_wins"],
                     "relative_gap": result["relative_gap"], "z": result["z"]})
    return rows


# --- for analysts (notebook 04) ---------------------------------------------------------------


def segment_quality(leads: pd.DataFrame, by: str, scores: pd.DataFrame | None = None) -> list[dict]:
    """Lead quality per value of ``by`` over whatever leads are given (a window, a cohort).

    Returns
    -------
    list of dict
        Per value: ``leads``, ``mqls``, ``mql_rate``, ``acceptance_rate`` (SAL / MQL), ``won``, ``closed``,
        ``win_rate`` (won / closed: lost and won only, open leads are not counted as lost), ``mean_score``;
        largest segments first.
    """
    if by not in leads.columns:
        raise DataError(f"no column '{by}' in the leads", column=by)
    frame = leads
    if scores is not None and "score" in scores.columns:
        frame = frame.merge(scores[["lead_id", "score"]], on="lead_id", how="left", validate="one_to_one")
    names = frame[by].astype("string").fillna(f"(no {by})")
    table = pd.DataFrame({
        "segment": names,
        "mql": _column(frame, "mql_at").notna(),
        "sal": _column(frame, "sal_at").notna(),
        "won": _is_won(frame),
        "closed": frame["outcome"].astype("string").isin(["won", "lost"]).fillna(False).astype(bool),
        "score": frame["score"] if "score" in frame else np.nan,
    })
    rows = []
    for name, part in table.groupby("segment", sort=True):
        n, mqls, closed = len(part), int(part["mql"].sum()), int(part["closed"].sum())
        rows.append({by: str(name), "leads": n, "mqls": mqls, "mql_rate": _rate(mqls, n),
                     "acceptance_rate": _rate(int(part["sal"].sum()), mqls), "won": int(part["won"].sum()),
                     "closed": closed, "win_rate": _rate(int(part["won"].sum()), closed),
                     "mean_score": float(part["score"].mean()) if part["score"].notna().any() else None})
    return sorted(rows, key=lambda r: (-r["leads"], r[by]))


def buyer_personas(leads: pd.DataFrame, attributes: Sequence[str], *, max_depth: int = 3,
                   min_leaf_share: float = 0.03, seed: int = 0) -> list[dict]:
    """Which combinations of attributes make up won deals: the leaves of a shallow decision tree.

    A :class:`~sklearn.tree.DecisionTreeClassifier` is fitted on the closed leads (won against lost), one-hot
    on ``attributes``; each leaf is a persona described in words ("industry is Software and company_size is
    not 1-10"). This describes the history; it is not a validated model.

    Parameters
    ----------
    leads : DataFrame
        Canonical leads; only closed ones (won / lost) are used.
    attributes : sequence of str
        Categorical attributes (e.g. the demographics family).
    max_depth : int
        Conditions per persona at most.
    min_leaf_share : float
        Smallest persona, as a share of the closed leads (0 < share <= 0.5).
    seed : int
        Random state of the tree (ties between equally good splits).

    Returns
    -------
    list of dict
        Per persona: ``persona`` (words), ``leads``, ``won``, ``win_rate``, ``share_of_wins``,
        ``share_of_leads``; best win rate first.
    """
    from sklearn.tree import DecisionTreeClassifier

    if max_depth < 1:
        raise ValueError(f"max_depth must be >= 1, got {max_depth}")
    if not 0 < min_leaf_share <= 0.5:
        raise ValueError(f"min_leaf_share must be in (0, 0.5], got {min_leaf_share}")
    if not attributes:
        raise ValueError("attributes must name at least one column")
    if missing := [a for a in attributes if a not in leads.columns]:
        raise DataError(f"no column '{missing[0]}' in the leads", column=missing[0])
    outcome = leads["outcome"].astype("string")
    closed = leads[outcome.isin(["won", "lost"]).fillna(False).to_numpy()]
    won = _is_won(closed).to_numpy()
    if not won.any() or won.all():
        raise DataError("buyer personas need both won and lost leads", column="outcome")
    values = closed[list(attributes)].astype("string").fillna("(missing)")
    X = pd.get_dummies(values, prefix_sep="\x00").astype(np.uint8)
    tree = DecisionTreeClassifier(max_depth=max_depth, min_samples_leaf=max(1, int(min_leaf_share * len(X))),
                                  random_state=seed).fit(X.to_numpy(), won)
    structure = tree.tree_
    levels = {a: sorted(values[a].unique()) for a in attributes}
    conditions: dict[int, list[tuple[str, str, bool]]] = {0: []}
    for node in range(structure.node_count):  # parents come before children in sklearn's node order
        left, right = structure.children_left[node], structure.children_right[node]
        if left == -1:
            continue
        attribute, value = X.columns[structure.feature[node]].split("\x00", 1)
        conditions[left] = [*conditions[node], (attribute, value, False)]
        conditions[right] = [*conditions[node], (attribute, value, True)]
    leaf = tree.apply(X.to_numpy())
    total_wins = int(won.sum())
    rows = []
    for node in np.unique(leaf):
        members = leaf == node
        wins = int(won[members].sum())
        rows.append({"persona": _describe_path(conditions[node], levels),
                     "leads": int(members.sum()), "won": wins, "win_rate": wins / int(members.sum()),
                     "share_of_wins": wins / total_wins, "share_of_leads": int(members.sum()) / len(X)})
    return sorted(rows, key=lambda r: (-r["win_rate"], -r["leads"], r["persona"]))


def _describe_path(conditions: list[tuple[str, str, bool]], levels: dict[str, list[str]]) -> str:
    """A tree path in words, one clause per attribute: "industry is Software and company_size is not 1-10"."""
    clauses = []
    for attribute in dict.fromkeys(a for a, _, _ in conditions):
        own = [(value, is_value) for a, value, is_value in conditions if a == attribute]
        chosen = next((value for value, is_value in own if is_value), None)
        excluded = sorted({value for value, is_value in own if not is_value})
        remaining = [v for v in levels[attribute] if v not in excluded]
        if chosen is not None or len(remaining) == 1:
            clauses.append(f"{attribute} is {chosen if chosen is not None else remaining[0]}")
        elif len(remaining) < len(excluded):
            clauses.append(f"{attribute} is one of {', '.join(remaining)}")
        else:
            clauses.append(f"{attribute} is not {' or '.join(excluded)}")
    return " and ".join(clauses) or "everyone"


def grade_grid(scored: pd.DataFrame) -> pd.DataFrame:
    """Leads, wins and win rate per fit grade (A-D) x engagement grade (1-4), from scored closed leads.

    ``scored`` holds ``fit_grade``, ``engagement_grade`` and ``outcome``; open leads are left out.
    """
    for column in ("fit_grade", "engagement_grade", "outcome"):
        if column not in scored.columns:
            raise DataError(f"no column '{column}' in the scored leads", column=column)
    outcome = scored["outcome"].astype("string")
    closed = scored[outcome.isin(["won", "lost"]).fillna(False).to_numpy()]
    frame = pd.DataFrame({"fit_grade": closed["fit_grade"].astype("string"),
                          "engagement_grade": closed["engagement_grade"].astype("string"),
                          "won": _is_won(closed).astype(int)})
    grid = frame.groupby(["fit_grade", "engagement_grade"]).agg(leads=("won", "size"), won=("won", "sum"))
    grid["win_rate"] = grid["won"] / grid["leads"]
    return grid.reset_index()
