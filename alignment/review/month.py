"""The whole month: every section of the review gathered into the deterministic dict of ``metrics.json``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from alignment.commitments import next_actions, score_commitments
from alignment.config import ScoringConfig, ServiceLevelsConfig
from alignment.exceptions import DataError
from alignment.features import scoring_moments
from alignment.review.sections import (
    CHANNEL_HISTORY_MONTHS,
    acceptance,
    band_edges,
    channel_mean_scores,
    channel_quality,
    conversion_by_band,
    crm_hygiene,
    early_acceptance,
    funnel,
    group_column,
    in_months,
    missing_columns,
    month_period,
    mql_volume,
    mqls_of_month,
    not_measured,
    pseudonymous_owners,
    require_dates,
    score_drift,
    scored_cohort,
    speed_to_lead,
    to_plain,
)
from alignment.review.verdict import verdict


def _speed_by_group(leads: pd.DataFrame, period: pd.Period, follow_up: float,
                    as_of: pd.Timestamp | None = None, history: pd.DataFrame | None = None) -> dict:
    """Speed-to-lead by team when the export (``history``, default ``leads``) has a team column, else by
    pseudonymous rep."""
    history = leads if history is None else history
    by = group_column(history)
    if by is None and "owner" in history.columns and history["owner"].notna().any():
        mqls = mqls_of_month(leads, period)
        mqls = mqls.assign(rep=pseudonymous_owners(mqls, history))
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
                  missing: Mapping[str, tuple[str, ...]] | None = None,
                  history: pd.DataFrame | None = None) -> dict:
    """The few key numbers of one month, for the trend lines (MQLs, acceptance, speed, drift, mean score).

    ``missing`` is :func:`missing_columns` of ``leads`` when the caller has it already (one scan of the
    history for the whole trend, not one per month); ``history`` is the whole export when ``leads`` is a
    window of it (see :func:`funnel`)."""
    missing = missing_columns(leads) if missing is None else missing
    acc = {} if "acceptance" in missing else acceptance(leads, month)
    speed = {} if "speed_to_lead" in missing else speed_to_lead(leads, month, follow_up_hours, as_of=as_of)
    row = {"month": str(month_period(month)), "inquiries": funnel(leads, month, history)[0]["count"],
           "mqls": None if "mql_volume" in missing else len(mqls_of_month(leads, month)),
           "acceptance_rate": acc.get("acceptance_rate"), "rejection_rate": acc.get("rejection_rate"),
           "median_hours_to_touch": speed.get("median_hours"),
           "share_touched_in_time": speed.get("share_within"),
           "psi": None, "mean_score": None}
    if scores is not None:
        _score_numbers(row, scores, baseline_scores)
    return row


def _score_numbers(row: dict, scores: pd.DataFrame, baseline_scores: pd.Series | None) -> None:
    """The trend row's numbers that need the month's scores: the mean score and the drift."""
    month_scores = scores["score"]
    row["mean_score"] = float(month_scores.mean()) if len(month_scores) else None
    if baseline_scores is not None:
        row["psi"] = score_drift(month_scores, baseline_scores)["psi"]


def monthly_metrics(leads: pd.DataFrame, month: str | pd.Period, *, as_of: pd.Timestamp,
                    scores: pd.DataFrame | Callable[[], pd.DataFrame | None] | None = None,
                    baseline_scores: pd.Series | None = None,
                    agreement: Any = None, service_levels: Mapping[str, float] | None = None,
                    horizon_days: int = ScoringConfig().horizon_days, moment: str = ScoringConfig().moment,
                    days_after_created: int = 0,
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
    scores : DataFrame or callable, optional
        ``lead_id, score, probability[, grade]`` for (at least) the leads scored in the month and the trend
        window. Without scores, the score sections are left empty. A callable returning them (a future's
        ``result``) is called once the sections that need no score are done, so the window can be scored
        on another thread meanwhile.
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
    period, as_of = month_period(month), pd.Timestamp(as_of)
    missing = missing_columns(leads)
    history = leads
    leads = _review_window(history, period, max(trend_months, CHANNEL_HISTORY_MONTHS), moment,
                           days_after_created)
    terms = _Terms.read(agreement, service_levels)
    metrics = _sections(leads, period, as_of, terms, missing, agreement_record, history)
    # What needs no score is computed first: the caller may be scoring the window on another thread.
    channels = _channel_sections(leads, period, missing, history)
    trend = [month_numbers(leads, period - offset, scores=None, baseline_scores=None,
                           follow_up_hours=terms.follow_up, as_of=as_of, missing=missing, history=history)
             for offset in range(trend_months, -1, -1)]
    if callable(scores):
        scores = scores()
    metrics.update(_channel_scores(channels, leads, period, scores))
    cohorts = _cohorts(leads, scores, period, trend_months, moment, days_after_created)
    metrics["model_version"] = model_version
    if scores is not None:
        _score_sections(metrics, history, cohorts[period], period, as_of=as_of, terms=terms,
                        baseline_scores=baseline_scores, horizon_days=horizon_days, fitted_until=fitted_until,
                        validation=validation)
    _expected_win_rate(metrics, leads, period, scores, terms)
    metrics.update(verdict(metrics))
    metrics["commitments"] = score_commitments(metrics)
    metrics["actions"] = next_actions(metrics, metrics["commitments"])
    for offset, row in zip(range(trend_months, -1, -1), trend, strict=True):
        if cohorts.get(period - offset) is not None:
            _score_numbers(row, cohorts[period - offset], baseline_scores)
    metrics["trend"] = trend
    metrics["mature_cohorts"] = _mature_cohorts(cohorts, fitted_until, as_of=as_of, horizon_days=horizon_days,
                                                edges=terms.edges)
    return to_plain(metrics)


@dataclass
class _Terms:
    """What the month is held to: the agreement's fields, its service levels (else the config's)."""

    fields: dict
    levels: dict

    @classmethod
    def read(cls, agreement: Any, service_levels: Mapping[str, float] | None) -> _Terms:
        fields = _agreement_fields(agreement)
        levels = dict(service_levels or {})
        levels.update({k: v for k, v in (fields.get("service_levels") or {}).items() if v is not None})
        return cls(fields, levels)

    @property
    def in_force(self) -> bool:
        return bool(self.fields)

    @property
    def follow_up(self) -> float:
        return float(self.levels.get("follow_up_hours", ServiceLevelsConfig().follow_up_hours))

    @property
    def commitment(self) -> int | None:
        volume = self.levels.get("mql_per_month")
        return int(volume) if self.in_force and volume is not None else None

    @property
    def edges(self) -> list[float]:
        return band_edges(self.fields.get("thresholds"))

    def record(self, agreement_record: Mapping[str, Any] | None) -> dict:
        """The ``agreement`` section of metrics.json."""
        fields = self.fields
        return {"in_force": self.in_force, "version": fields.get("version"),
                "effective_from": _text(fields.get("effective_from")),
                "signed_at": _text(fields.get("signed_at")), "signed_by": fields.get("signed_by"),
                "model_version": fields.get("model_version"), "thresholds": fields.get("thresholds"),
                "service_levels": self.levels, **dict(agreement_record or {}),
                "note": None if self.in_force else "No agreement is in force: service levels shown are the "
                                                   "workspace defaults and are not judged."}


def _cohorts(leads: pd.DataFrame, scores: pd.DataFrame | None, period: pd.Period, trend_months: int,
             moment: str, days_after_created: int) -> dict[pd.Period, pd.DataFrame]:
    """The scored leads of each month of the trend window (one join, then a cheap split by month)."""
    if scores is None:
        return {}
    window = scored_cohort(leads, scores, period - trend_months, moment=moment,
                           days_after_created=days_after_created, last_month=period)
    month_of = window["scored_at"].dt.to_period("M")
    return {m: window[month_of == m] for m in pd.period_range(period - trend_months, period, freq="M")}


def _review_window(leads: pd.DataFrame, period: pd.Period, months_before: int, moment: str,
                   days_after_created: int) -> pd.DataFrame:
    """The leads a month's review counts: created, handed over or scored in ``period`` or the
    ``months_before`` months before it (the trend and a channel's own history).

    Every section filters these rows again by its own month and column; what needs the whole export (which
    stages and sections it measures, the reps' numbers, a channel's first MQL, the validation leads'
    acceptance) is handed the whole export beside them."""
    first = period - months_before
    moments, kind, _ = scoring_moments(leads, moment, days_after_created)
    wanted = in_months(moments, first, period).to_numpy(dtype=bool, copy=True)
    for column in ("created_at", "mql_at"):
        if column in leads.columns:
            wanted |= in_months(leads[column], first, period).to_numpy(dtype=bool)
    window = leads[wanted]
    # A window without any MQL date would place its scoring moments by creation instead: keep the export's.
    return window if scoring_moments(window, moment, days_after_created)[1] == kind else leads


def _sections(leads: pd.DataFrame, period: pd.Period, as_of: pd.Timestamp, terms: _Terms,
              missing: Mapping[str, tuple[str, ...]], agreement_record: Mapping[str, Any] | None,
              history: pd.DataFrame) -> dict[str, Any]:
    """The sections every export can have that need no score (the channels are filled by
    :func:`_channel_sections`, the score sections by :func:`_score_sections`); ``leads`` is the month's
    :func:`_review_window` of ``history``."""
    return {
        "month": str(period),
        "as_of": str(as_of),
        "model_version": None,
        "agreement": terms.record(agreement_record),
        "not_measured": not_measured(missing),
        "not_measured_columns": {section: list(columns) for section, columns in missing.items()},
        "funnel": funnel(leads, period, history),
        "mql_volume": None if "mql_volume" in missing else mql_volume(leads, period, terms.commitment),
        "acceptance": None if "acceptance" in missing else acceptance(leads, period,
                                                                      terms.levels.get("accept_within_days")),
        "speed_to_lead": None if "speed_to_lead" in missing
        else _speed_by_group(leads, period, terms.follow_up, as_of, history),
        "hygiene": crm_hygiene(leads, period),
        "calibration": None,
        "drift": None,
        "early_acceptance": None,
    }


def _channel_sections(leads: pd.DataFrame, period: pd.Period, missing: Mapping[str, tuple[str, ...]],
                      history: pd.DataFrame) -> dict[str, list]:
    """Campaign and source quality, their mean scores not yet filled in (see :func:`_channel_scores`)."""
    return {f"{channel}_quality": [] if f"{channel}_quality" in missing
            else channel_quality(leads, period, channel, history=history)
            for channel in ("campaign", "source")}


def _channel_scores(channels: dict[str, list], leads: pd.DataFrame, period: pd.Period,
                    scores: pd.DataFrame | None) -> dict[str, list]:
    """The channel sections with each channel's mean score (:func:`channel_mean_scores`) filled in."""
    for key, rows in channels.items():
        channel = key.removesuffix("_quality")
        means = channel_mean_scores(leads, period, channel, scores) if rows else {}
        for row in rows:
            row["mean_score"] = means.get(row[channel])
    return channels


def _score_sections(metrics: dict, leads: pd.DataFrame, cohort: pd.DataFrame, period: pd.Period, *,
                    as_of: pd.Timestamp, terms: _Terms, baseline_scores: pd.Series | None, horizon_days: int,
                    fitted_until: pd.Timestamp | None, validation: pd.DataFrame | None) -> None:
    """Calibration, drift and early acceptance of the month's scored cohort."""
    edges = terms.edges
    calibration = conversion_by_band(cohort, as_of=as_of, horizon_days=horizon_days, edges=edges)
    calibration["cohort"] = str(period)
    calibration["band_edges"] = [float(e) for e in edges]
    calibration["in_sample"] = _in_sample(period, fitted_until)
    metrics["calibration"] = calibration
    if baseline_scores is not None:
        metrics["drift"] = score_drift(cohort["score"], baseline_scores)
    if validation is not None and {"lead_id", "score", "scored_at"} <= set(validation.columns):
        reference = validation[["lead_id", "score", "scored_at"]].merge(
            leads[["lead_id", "sal_at"]] if "sal_at" in leads else leads[["lead_id"]], on="lead_id")
        metrics["early_acceptance"] = early_acceptance(cohort, reference, as_of=as_of, edges=edges)


def _expected_win_rate(metrics: dict, leads: pd.DataFrame, period: pd.Period, scores: pd.DataFrame | None,
                       terms: _Terms) -> None:
    """The calibrated win rate of what marketing handed over, beside the agreed floor."""
    volume = metrics["mql_volume"] or {}
    volume["min_win_rate"] = terms.levels.get("min_win_rate") if terms.in_force else None
    volume["expected_win_rate"] = None
    if scores is not None and metrics["mql_volume"] is not None:
        handed = mqls_of_month(leads, period)[["lead_id"]].merge(scores[["lead_id", "probability"]],
                                                                 on="lead_id", how="inner")
        volume["expected_win_rate"] = float(handed["probability"].mean()) if len(handed) else None


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

