"""Each team's commitments under the agreement in force, scored for one month, and who does what next.

Works on the sections :func:`alignment.review.monthly_metrics` computes (before rounding), so that every
figure here is one the review shows elsewhere too.

Commitments (only under an agreement in force):

- **marketing** hands over at least ``mql_per_month`` MQLs (met when it does);
- **marketing**'s MQLs are expected to win at least ``min_win_rate`` (the scale's calibrated probability);
- **sales** touches the MQLs within ``follow_up_hours`` (met when at least 80 % of the MQLs due were);
- **sales** accepts or rejects within ``accept_within_days``, with a reason (met when at least 80 % of the
  decided MQLs were answered in time and at least 80 % of the rejections carry a reason).

A commitment the export cannot measure is "not measured", with why. Actions follow from the missed
commitments and from the verdict's findings, each addressed to a team.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

IN_TIME_SHARE = 0.8
"""Share of MQLs touched (answered) in time from which a service-level commitment is met."""
REASON_SHARE = 0.8
"""Share of rejections that must carry a reason."""
TEAMS = ("marketing", "sales")


def _entry(
    team: str, commitment: str, promised: Any, delivered: Any, met: bool | None, why: str | None = None
) -> dict:
    status = "not measured" if met is None else ("met" if met else "missed")
    return {
        "team": team,
        "commitment": commitment,
        "promised": promised,
        "delivered": delivered,
        "status": status,
        "why": why,
    }


def _volume(levels: Mapping, volume: Mapping | None, missing: Mapping) -> dict:
    promised = levels.get("mql_per_month")
    text = f"at least {promised:,} MQLs a month"
    if volume is None:
        return _entry("marketing", text, promised, None, None, missing.get("mql_volume"))
    return _entry("marketing", text, promised, volume["mqls"], volume["mqls"] >= promised)


def _quality(levels: Mapping, volume: Mapping | None, missing: Mapping) -> dict:
    floor = levels.get("min_win_rate")
    text = f"MQLs' expected win rate at least {floor:.0%}"
    expected = (volume or {}).get("expected_win_rate")
    if volume is None:
        return _entry("marketing", text, floor, None, None, missing.get("mql_volume"))
    if expected is None:
        return _entry("marketing", text, floor, None, None, "no scored MQLs this month")
    return _entry("marketing", text, floor, expected, expected >= floor)


def _follow_up(levels: Mapping, speed: Mapping | None, missing: Mapping) -> dict:
    hours = levels.get("follow_up_hours")
    text = f"first touch within {hours:g} hours"
    if speed is None:
        return _entry("sales", text, IN_TIME_SHARE, None, None, missing.get("speed_to_lead"))
    share = speed.get("share_within")
    if share is None:
        return _entry("sales", text, IN_TIME_SHARE, None, None, "no MQL was due for a first touch yet")
    return _entry("sales", text, IN_TIME_SHARE, share, share >= IN_TIME_SHARE)


def _answer(levels: Mapping, acceptance: Mapping | None, hygiene: Mapping | None, missing: Mapping) -> dict:
    days = levels.get("accept_within_days")
    text = f"accept or reject within {days:g} days, with a reason"
    if acceptance is None:
        return _entry("sales", text, IN_TIME_SHARE, None, None, missing.get("acceptance"))
    in_time = acceptance.get("decided_in_time")
    if in_time is None:
        return _entry(
            "sales", text, IN_TIME_SHARE, None, None, "sales decided on none of this month's MQLs yet"
        )
    rejected = acceptance.get("rejected") or 0
    without = ((hygiene or {}).get("issues") or {}).get("rejected_without_reason", 0)
    with_reason = 1.0 if not rejected else max(0.0, 1 - without / rejected)
    met = in_time >= IN_TIME_SHARE and with_reason >= REASON_SHARE
    return _entry(
        "sales",
        text,
        IN_TIME_SHARE,
        in_time,
        met,
        None if met or in_time < IN_TIME_SHARE else f"{1 - with_reason:.0%} of rejections had no reason",
    )


def score_commitments(metrics: Mapping[str, Any]) -> list[dict]:
    """Each commitment of the agreement in force, met / missed / not measured (empty without one).

    Parameters
    ----------
    metrics : Mapping
        The month's sections (``agreement``, ``mql_volume``, ``speed_to_lead``, ``acceptance``, ``hygiene``,
        ``not_measured``).

    Returns
    -------
    list of dict
        ``team, commitment, promised, delivered, status, why``.
    """
    agreement = metrics.get("agreement") or {}
    if not agreement.get("in_force"):
        return []
    levels = agreement.get("service_levels") or {}
    missing = metrics.get("not_measured") or {}
    scored = []
    # a promise the agreement does not make (a level left unset) is not scored
    if levels.get("mql_per_month") is not None:
        scored.append(_volume(levels, metrics.get("mql_volume"), missing))
    if levels.get("min_win_rate") is not None:
        scored.append(_quality(levels, metrics.get("mql_volume"), missing))
    if levels.get("follow_up_hours") is not None:
        scored.append(_follow_up(levels, metrics.get("speed_to_lead"), missing))
    if levels.get("accept_within_days") is not None:
        scored.append(_answer(levels, metrics.get("acceptance"), metrics.get("hygiene"), missing))
    return scored


def _for_missed(item: Mapping) -> str:
    delivered = item["delivered"]
    if item["commitment"].startswith("at least"):
        return (
            f"{delivered:,} MQLs handed over against {item['promised']:,} agreed: close the gap next month, "
            "or renegotiate the commitment in a workshop"
        )
    if item["commitment"].startswith("MQLs' expected win rate"):
        return (
            f"this month's MQLs are expected to win {delivered:.1%}, below the agreed "
            f"{item['promised']:.0%}: "
            "cut the sources and campaigns that bring weak leads"
        )
    if item["commitment"].startswith("first touch"):
        return (
            f"{1 - delivered:.0%} of MQLs had no {item['commitment']}: assign the queue daily and "
            "follow up the untouched ones first"
        )
    return (
        f"{1 - delivered:.0%} of the decided MQLs were not answered in time ({item['commitment']})"
        + (f"; {item['why']}" if item.get("why") else "")
        + ": decide on the open ones and give reasons"
    )


def next_actions(metrics: Mapping[str, Any], commitments: list[dict]) -> list[dict]:
    """Who does what next: one action per missed commitment and per finding of the verdict.

    Returns
    -------
    list of dict
        ``team`` ("marketing", "sales", "both" or "analyst") and ``action``, in plain words.
    """
    actions = [
        {"team": item["team"], "action": _for_missed(item)}
        for item in commitments
        if item["status"] == "missed"
    ]
    for channel in ("campaign", "source"):
        for row in metrics.get(f"{channel}_quality") or []:
            if row.get("poor") and (row.get("new") or row.get("worse")):
                actions.append(
                    {
                        "team": "marketing",
                        "action": (
                            f"MQLs from {channel} '{row[channel]}' were accepted "
                            f"{row['acceptance_rate']:.0%} against "
                            f"{row['others_acceptance_rate']:.0%} for the rest: stop or re-target it"
                        ),
                    }
                )
    from alignment.review import REJECTION_RECALIBRATE  # review imports this module

    drift = metrics.get("drift") or {}
    if drift.get("status") == "drifted":
        actions.append(
            {
                "team": "both",
                "action": "scores have drifted from the leads the scale was checked on: "
                "refit the scale and rerun the workshop before next month",
            }
        )
    rejection = (metrics.get("acceptance") or {}).get("rejection_rate")
    if rejection is not None and rejection > REJECTION_RECALIBRATE:
        actions.append(
            {
                "team": "both",
                "action": (
                    f"sales rejected {rejection:.1%} of the MQLs it decided on: meet on the rejection "
                    "reasons and agree a "
                    "new MQL threshold"
                ),
            }
        )
    calibration = metrics.get("calibration") or {}
    if (
        calibration.get("mature")
        and not calibration.get("in_sample")
        and calibration.get("z") is not None
        and abs(calibration["z"]) >= 3
    ):
        actions.append(
            {
                "team": "analyst",
                "action": "the scale's promised win rates no longer hold for a "
                "mature month: refit it on the recent closed leads",
            }
        )
    if metrics.get("verdict") == "not judged":
        columns = (metrics.get("not_measured_columns") or {}).values()
        missing = sorted({" or ".join(options) for options in columns})
        actions.append(
            {
                "team": "analyst",
                "action": "map the export's missing columns so the review can judge "
                "the month" + (f" ({', '.join(missing)})" if missing else ""),
            }
        )
    return actions
