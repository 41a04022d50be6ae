"""The verdict: keep / watch / recalibrate / not judged, each rule a small function beside its threshold.

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
Otherwise *keep*. Each rule is a function below, beside its threshold constants, returning its findings
(``(level, text)``); :data:`RULES` lists them in the order their reasons are read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alignment.metrics import PSI_DRIFTED, PSI_WATCH

Finding = tuple[str, str]
"""A rule's finding: its level ("watch" or "recalibrate") and the sentence the review prints."""

VERDICT_ORDER = {"not judged": -1, "keep": 0, "watch": 1, "recalibrate": 2}
MIN_JUDGED_SIGNALS = 2
"""Of the score-truth and acceptance rules (drift, rejection, calibration, early acceptance), at least this
many must have been judged for a month without findings to be called *keep*; otherwise it is *not judged*."""


# --- what could not be judged ------------------------------------------------------------------


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


# --- the rules, each beside its thresholds -------------------------------------------------------------


def drift_rule(metrics: Mapping[str, Any]) -> list[Finding]:
    """Scores drifted (PSI >= :data:`PSI_DRIFTED`) or shifting (>= :data:`PSI_WATCH`), beyond chance."""
    drift = metrics.get("drift") or {}
    if drift.get("psi") is None or drift.get("status") not in ("shifting", "drifted"):
        return []
    if drift["status"] == "drifted":
        return [("recalibrate", "This month's scores have drifted far from those of the leads the scale "
                                f"was checked on (drift index {drift['psi']:.2f}; {PSI_DRIFTED:g} or "
                                "more, beyond chance, means drifted): the leads coming in are not the ones "
                                "it was fitted on.")]
    return [("watch", "This month's scores are moving away from those of the leads the scale was checked "
                      f"on (drift index {drift['psi']:.2f}; {PSI_WATCH:g} or more, beyond chance, means "
                      "moving).")]


REJECTION_WATCH = 0.25
REJECTION_RECALIBRATE = 0.35


def rejection_rule(metrics: Mapping[str, Any]) -> list[Finding]:
    """Sales rejects more than :data:`REJECTION_RECALIBRATE` (recalibrate) / :data:`REJECTION_WATCH`."""
    rejection = (metrics.get("acceptance") or {}).get("rejection_rate")
    if rejection is None:
        return []
    if rejection > REJECTION_RECALIBRATE:
        return [("recalibrate", f"Sales rejected {rejection:.1%} of the MQLs it decided on (above "
                                f"{REJECTION_RECALIBRATE:.0%}): the MQL threshold no longer matches what "
                                "sales calls a good lead.")]
    if rejection > REJECTION_WATCH:
        return [("watch", f"Sales rejected {rejection:.1%} of the MQLs it decided on (above "
                          f"{REJECTION_WATCH:.0%}).")]
    return []


CALIBRATION_Z_WATCH = 2.0
CALIBRATION_Z_RECALIBRATE = 3.0
CALIBRATION_RELATIVE_GAP = 0.25


def calibration_rule(metrics: Mapping[str, Any]) -> list[Finding]:
    """A mature cohort, never one the scale was fitted on, wins clearly fewer or more than promised."""
    calibration = metrics.get("calibration") or {}
    z, gap = calibration.get("z"), calibration.get("relative_gap")
    if not calibration.get("mature") or calibration.get("in_sample") or z is None or gap is None:
        return []
    direction = "fewer" if gap < 0 else "more"
    text = (f"The {calibration.get('cohort', 'mature')} cohort won {calibration['observed_wins']} deals "
            f"where the scale expected {calibration['expected_wins']:.0f} ({abs(gap):.0%} {direction}).")
    if abs(z) >= CALIBRATION_Z_RECALIBRATE and abs(gap) >= CALIBRATION_RELATIVE_GAP:
        return [("recalibrate", text)]
    if abs(z) >= CALIBRATION_Z_WATCH:
        return [("watch", text)]
    return []


EARLY_Z_WATCH = 3.0
EARLY_RELATIVE_GAP = 0.15


def early_acceptance_rule(metrics: Mapping[str, Any]) -> list[Finding]:
    """Leads accepted early, against the validation window at the same scores: far apart beyond chance."""
    early = metrics.get("early_acceptance") or {}
    if early.get("z") is None or early.get("relative_gap") is None or abs(early["z"]) < EARLY_Z_WATCH \
            or abs(early["relative_gap"]) < EARLY_RELATIVE_GAP:
        return []
    direction = "less" if early["relative_gap"] < 0 else "more"
    return [("watch", f"Sales accepted {early['observed']} of this month's leads within {early['days']} days "
                      f"where leads of the same scores used to give {early['expected']:.0f} "
                      f"({abs(early['relative_gap']):.0%} {direction}, far more than chance): an early sign "
                      "that the scores no longer mean what they did.")]


def channel_rule(metrics: Mapping[str, Any]) -> list[Finding]:
    """A new or worsened campaign or source whose MQLs sales accepts far less often (the sections' test)."""
    findings = []
    for channel in ("campaign", "source"):
        for row in metrics.get(f"{channel}_quality") or []:
            if row["poor"] and (row.get("new") or row.get("worse")):
                news = "new " if row.get("new") else ""
                findings.append(("watch", f"Sales accepted only {row['acceptance_rate']:.0%} of the "
                                          f"{row['mqls']} MQLs from {news}{channel} '{row[channel]}' "
                                          f"(others: {row['others_acceptance_rate']:.0%})."))
    return findings


VOLUME_WATCH_SHARE = 0.8
SPEED_WATCH_SHARE = 0.8


def commitments_rule(metrics: Mapping[str, Any]) -> list[Finding]:
    """With an agreement in force: volume under :data:`VOLUME_WATCH_SHARE` of the commitment, an expected
    win rate under the agreed minimum, or under :data:`SPEED_WATCH_SHARE` touched in time."""
    if not metrics.get("agreement", {}).get("in_force"):
        return []
    findings = []
    volume = metrics.get("mql_volume") or {}
    share = volume.get("share_of_commitment")
    if share is not None and share < VOLUME_WATCH_SHARE:
        findings.append(("watch", f"Marketing delivered {volume['mqls']} MQLs against the "
                                  f"{volume['commitment']} agreed ({share:.0%})."))
    expected, floor = volume.get("expected_win_rate"), volume.get("min_win_rate")
    if expected is not None and floor is not None and expected < floor:
        findings.append(("watch", f"The month's MQLs are expected to win {expected:.1%}, below the agreed "
                                  f"{floor:.1%}."))
    within = (metrics.get("speed_to_lead") or {}).get("share_within")
    if within is not None and within < SPEED_WATCH_SHARE:
        findings.append(("watch", f"Sales touched {within:.0%} of the MQLs within the agreed "
                                  f"{metrics['speed_to_lead']['follow_up_hours']:g} hours (target "
                                  f"{SPEED_WATCH_SHARE:.0%})."))
    return findings


RULES = (drift_rule, rejection_rule, calibration_rule, early_acceptance_rule, channel_rule, commitments_rule)
"""Every verdict rule, in the order their reasons are read (recalibrate before watch)."""
SIGNALS = ("score drift", "rejection rate", "calibration", "early acceptance")
"""The checks of score truth and acceptance; at least :data:`MIN_JUDGED_SIGNALS` judged for a *keep*."""


def verdict(metrics: Mapping[str, Any]) -> dict:
    """Keep / watch / recalibrate / not judged, with reasons in plain words (the rules above).

    Parameters
    ----------
    metrics : Mapping
        The sections computed by :func:`~alignment.review.month.monthly_metrics` (before rounding).

    Returns
    -------
    dict
        ``verdict``, ``reasons`` (sentences, recalibrate first) and ``not_judged`` (``rule``, ``why``).
    """
    findings = [finding for rule in RULES for finding in rule(metrics)]
    not_judged = _not_judged(metrics)
    judged = [rule for rule in SIGNALS if rule not in not_judged]
    level = max((lvl for lvl, _ in findings), key=VERDICT_ORDER.__getitem__, default="keep")
    ordered = [text for _, text in sorted(findings, key=lambda finding: -VERDICT_ORDER[finding[0]])]
    if not ordered and len(judged) < MIN_JUDGED_SIGNALS:
        level = "not judged"
        ordered = [f"Too little could be measured this month to say the scale and the agreement still hold: "
                   f"{len(judged)} of the {len(SIGNALS)} checks of score truth and acceptance could be "
                   f"judged ({', '.join(judged) or 'none'}). See what was not judged, and why, below."]
    elif not ordered:
        ordered = ["Nothing judged this month calls for a change: " + ", ".join(judged) + " hold."]
    return {"verdict": level, "reasons": ordered,
            "not_judged": [{"rule": rule, "why": why} for rule, why in not_judged.items()]}
