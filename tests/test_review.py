"""The monthly review numbers, checked against hand computation on small canonical frames."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from alignment import review
from alignment.exceptions import DataError
from alignment.metrics import psi

STAMPS = ["created_at", "mql_at", "sal_at", "sql_at", "rejected_at", "first_touch_at", "closed_at"]


def canonical(rows: list[dict]) -> pd.DataFrame:
    """A leads frame in the loader's contract form (timestamps, categorical outcome, string ids)."""
    frame = pd.DataFrame(rows)
    for column in STAMPS:
        values = frame[column] if column in frame else pd.Series(pd.NaT, index=frame.index)
        frame[column] = pd.to_datetime(values, format="ISO8601").astype("datetime64[ns]")
    frame["outcome"] = pd.Categorical(frame["outcome"], categories=["won", "lost", "open"])
    frame["lead_id"] = frame["lead_id"].astype(str)
    return frame


@pytest.fixture
def march() -> pd.DataFrame:
    return canonical([
        dict(lead_id="L1", created_at="2025-03-01", mql_at="2025-03-02 00:00", sal_at="2025-03-03",
             sql_at="2025-03-10", first_touch_at="2025-03-02 02:00", owner="Ann", team="East", outcome="won",
             closed_at="2025-04-01", campaign="X", source="web"),
        dict(lead_id="L2", created_at="2025-03-05", mql_at="2025-03-05 00:00", sal_at="2025-03-08",
             first_touch_at="2025-03-06 00:00", owner="Bob", team="East", outcome="lost",
             closed_at="2025-04-10", campaign="X", source="web"),
        dict(lead_id="L3", created_at="2025-03-07", mql_at="2025-03-08 00:00", rejected_at="2025-03-09",
             rejection_reason="bad fit", first_touch_at="2025-03-08 05:00", owner="Cy", team="West",
             outcome="lost", closed_at="2025-03-09", campaign="Y", source="event"),
        dict(lead_id="L4", created_at="2025-03-10", mql_at="2025-03-11 00:00", rejected_at="2025-03-12",
             rejection_reason=None, owner=None, team="West", outcome="open", campaign="Y", source="event"),
        dict(lead_id="L5", created_at="2025-03-15", outcome="open", campaign="X", source="web"),
        dict(lead_id="L6", created_at="2025-02-20", mql_at="2025-03-01 00:00",
             first_touch_at="2025-03-01 10:00", owner="Ann", team="East", outcome="open", campaign="X",
             source="web"),
        dict(lead_id="L7", created_at="2025-04-02", mql_at="2025-04-03", outcome="open", campaign="X",
             source="web"),
    ])


def test_funnel_counts_the_leads_created_in_the_month(march):
    rows = {r["stage"]: r for r in review.funnel(march, "2025-03")}
    assert [rows[s]["count"] for s in review.STAGES] == [5, 4, 2, 1, 1]
    assert rows["mql"]["step_rate"] == pytest.approx(4 / 5)
    assert rows["sal"]["step_rate"] == pytest.approx(2 / 4)
    assert rows["won"]["share_of_inquiries"] == pytest.approx(1 / 5)
    assert rows["inquiry"]["step_rate"] is None


def test_mql_volume_against_commitment(march):
    assert review.mql_volume(march, "2025-03", commitment=10) == {
        "mqls": 5, "commitment": 10, "share_of_commitment": 0.5, "met": False}
    assert review.mql_volume(march, "2025-03")["met"] is None
    with pytest.raises(ValueError, match="commitment"):
        review.mql_volume(march, "2025-03", commitment=-1)


def test_acceptance_rates_and_reasons(march):
    result = review.acceptance(march, "2025-03", accept_within_days=1)
    assert (result["mqls"], result["accepted"], result["rejected"], result["pending"]) == (5, 2, 2, 1)
    assert result["acceptance_rate"] == pytest.approx(2 / 5)
    assert result["rejection_rate"] == pytest.approx(2 / 4)
    # L2 accepted 3 days after its hand-off; L1, L3, L4 answered within a day.
    assert result["decided_in_time"] == pytest.approx(3 / 4)
    assert result["reasons"] == [{"reason": "(no reason given)", "count": 1, "share": 0.5},
                                 {"reason": "bad fit", "count": 1, "share": 0.5}]
    with pytest.raises(ValueError, match="accept_within_days"):
        review.acceptance(march, "2025-03", accept_within_days=0)


def test_speed_to_lead_overall_and_by_team(march):
    result = review.speed_to_lead(march, "2025-03", follow_up_hours=6, by="team")
    # Hours to first touch: L1 2, L2 24, L3 5, L4 never, L6 10.
    assert result["touched"] == 4
    assert result["median_hours"] == pytest.approx(7.5)
    assert result["share_within"] == pytest.approx(2 / 5)
    groups = {g["group"]: g for g in result["groups"]}
    assert groups["East"]["median_hours"] == pytest.approx(10)
    assert groups["East"]["share_within"] == pytest.approx(1 / 3)
    assert groups["West"]["median_hours"] == pytest.approx(5)
    assert groups["West"]["share_within"] == pytest.approx(1 / 2)
    assert review.group_column(march) == "team"
    with pytest.raises(ValueError, match="follow_up_hours"):
        review.speed_to_lead(march, "2025-03", follow_up_hours=0)
    with pytest.raises(DataError, match="nope"):
        review.speed_to_lead(march, "2025-03", follow_up_hours=6, by="nope")


def test_an_untouched_mql_not_due_yet_is_not_late(march):
    """L4 (handed over 2025-03-11 00:00, never touched) had 3 of its 6 hours when the data was exported."""
    result = review.speed_to_lead(march, "2025-03", follow_up_hours=6, by="team",
                                  as_of=pd.Timestamp("2025-03-11 03:00"))
    assert result["not_due"] == 1 and result["share_within"] == pytest.approx(2 / 4)
    assert {g["group"]: g["share_within"] for g in result["groups"]} == {"East": pytest.approx(1 / 3),
                                                                        "West": 1.0}
    later = review.speed_to_lead(march, "2025-03", follow_up_hours=6, as_of=pd.Timestamp("2025-03-11 07:00"))
    assert later["not_due"] == 0 and later["share_within"] == pytest.approx(2 / 5)  # now it is late
    monthly = review.monthly_metrics(march, "2025-03", as_of=pd.Timestamp("2025-03-11 03:00"),
                                     service_levels={"follow_up_hours": 6}, trend_months=0)
    assert monthly["speed_to_lead"]["not_due"] == 1
    assert monthly["trend"][-1]["share_touched_in_time"] == pytest.approx(2 / 4)


def test_crm_hygiene(march):
    result = review.crm_hygiene(march, "2025-03")
    assert result["leads"] == 6
    assert result["issues"]["rejected_without_reason"] == 1
    assert result["issues"]["mqls_without_owner"] == 1
    assert result["issues"]["missing_mql_date"] == 0
    assert result["leads_with_issues_share"] == pytest.approx(2 / 6)
    broken = march.copy()
    broken.loc[broken["lead_id"] == "L5", "sql_at"] = pd.Timestamp("2025-03-20")
    broken.loc[broken["lead_id"] == "L2", "sal_at"] = pd.Timestamp("2025-03-01")  # before its MQL date
    issues = review.crm_hygiene(broken, "2025-03")["issues"]
    assert issues["missing_mql_date"] == 1
    assert issues["missing_sal_date"] == 1
    assert issues["stage_dates_out_of_order"] == 1


def test_campaign_quality_is_not_flagged_on_tiny_volumes(march):
    rows = {r["campaign"]: r for r in review.channel_quality(march, "2025-03", "campaign", min_mqls=2)}
    assert rows["X"]["mqls"] == 3 and rows["X"]["acceptance_rate"] == pytest.approx(2 / 3)
    assert rows["Y"]["acceptance_rate"] == 0.0
    # 0 of 2 against 2 of 3: Fisher's exact p = C(3,2)/C(5,2) = 0.3, far from significant.
    assert rows["Y"]["p_value"] == pytest.approx(0.3)
    assert not rows["Y"]["poor"]
    assert rows["X"]["won"] == 1 and rows["X"]["closed"] == 2 and rows["X"]["win_rate"] == 0.5
    with pytest.raises(ValueError, match="min_mqls"):
        review.channel_quality(march, "2025-03", "campaign", min_mqls=0)
    with pytest.raises(DataError, match="segment"):
        review.channel_quality(march, "2025-03", "segment")


def _mqls(campaign: str, n: int, accepted: int, start: str = "2025-03-01") -> list[dict]:
    base = pd.Timestamp(start)
    return [dict(lead_id=f"{campaign}{i}", created_at=base, mql_at=base + pd.Timedelta(hours=i),
                 sal_at=base + pd.Timedelta(days=1) if i < accepted else None,
                 rejected_at=None if i < accepted else base + pd.Timedelta(days=1),
                 rejection_reason=None if i < accepted else "no budget", outcome="open", campaign=campaign,
                 owner="rep")
            for i in range(n)]


def test_a_campaign_sales_rejects_is_flagged_poor_and_named_in_the_verdict():
    leads = canonical(_mqls("Spring Blast", 40, 10) + _mqls("Webinar", 60, 45))
    rows = {r["campaign"]: r for r in review.channel_quality(leads, "2025-03", "campaign")}
    assert rows["Spring Blast"]["acceptance_rate"] == pytest.approx(0.25)
    assert rows["Spring Blast"]["others_acceptance_rate"] == pytest.approx(0.75)
    assert rows["Spring Blast"]["poor"] and not rows["Webinar"]["poor"]
    assert rows["Spring Blast"]["new"] and rows["Spring Blast"]["history_mqls"] == 0
    result = review.verdict({"campaign_quality": list(rows.values()), "acceptance": {"rejection_rate": 0.1}})
    assert result["verdict"] == "watch"
    assert any("new campaign 'Spring Blast'" in reason for reason in result["reasons"])
    with pytest.raises(ValueError, match="history_months"):
        review.channel_quality(leads, "2025-03", "campaign", history_months=0)


def test_a_campaign_that_was_always_poor_is_shown_but_not_news():
    # launched in November: older than the three months that make a campaign new
    history = _mqls("List", 40, 10, start="2024-11-01") + _mqls("Webinar", 60, 45, start="2024-11-01")
    history = [{**row, "lead_id": "old-" + row["lead_id"]} for row in history]
    leads = canonical(history + _mqls("List", 40, 10) + _mqls("Webinar", 60, 45))
    rows = {r["campaign"]: r for r in review.channel_quality(leads, "2025-03", "campaign")}
    assert rows["List"]["poor"] and not rows["List"]["new"] and not rows["List"]["worse"]
    assert rows["List"]["history_acceptance_rate"] == pytest.approx(0.25)
    calm = review.verdict({**JUDGED, "campaign_quality": list(rows.values())})
    assert calm["verdict"] == "keep" and not any("List" in reason for reason in calm["reasons"])
    # the same campaign collapsing against its own past is news again
    collapsed = canonical(history + _mqls("List", 40, 0) + _mqls("Webinar", 60, 45))
    rows = {r["campaign"]: r for r in review.channel_quality(collapsed, "2025-03", "campaign")}
    assert rows["List"]["worse"] and rows["List"]["history_acceptance_rate"] == pytest.approx(0.25)
    assert review.verdict({"campaign_quality": list(rows.values())})["verdict"] == "watch"


def test_speed_by_rep_uses_pseudonyms_not_names(march):
    result = review.monthly_metrics(march.drop(columns="team"), "2025-03", as_of=pd.Timestamp("2025-04-15"),
                                    service_levels={"follow_up_hours": 6}, trend_months=0)
    speed = result["speed_to_lead"]
    assert speed["group_by"] == "rep"
    # reps in name order over the whole history: Ann = Rep 1, Bob = Rep 2, Cy = Rep 3
    groups = {g["group"]: g for g in speed["groups"]}
    assert set(groups) == {"Rep 1", "Rep 2", "Rep 3", "(no rep)"}
    assert groups["Rep 1"]["mqls"] == 2 and groups["Rep 1"]["median_hours"] == pytest.approx(6)
    assert "Ann" not in json.dumps(result)


def _scored(as_of_days_after: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    leads = canonical([
        dict(lead_id="a",
             created_at="2025-03-01", mql_at="2025-03-01", outcome="lost", closed_at="2025-04-01"),
        dict(lead_id="b", created_at="2025-03-02", mql_at="2025-03-02", outcome="open"),
        dict(lead_id="c",
             created_at="2025-03-03", mql_at="2025-03-03", outcome="won", closed_at="2025-04-01"),
        # won, but only after the 90-day horizon: not a win for calibration
        dict(lead_id="d",
             created_at="2025-03-04", mql_at="2025-03-04", outcome="won", closed_at="2025-07-01"),
    ])
    scores = pd.DataFrame({"lead_id": ["a", "b", "c", "d"], "score": [10, 20, 60, 70],
                           "probability": [0.1, 0.2, 0.6, 0.7]})
    as_of = pd.Timestamp("2025-03-04") + pd.Timedelta(days=as_of_days_after)
    return leads, scores, as_of


def test_conversion_by_band_against_calibrated_expectation():
    leads, scores, as_of = _scored(as_of_days_after=200)
    cohort = review.scored_cohort(leads, scores, "2025-03")
    result = review.conversion_by_band(cohort, as_of=as_of, horizon_days=90, edges=[0, 50, 101])
    assert result["mature"] is True
    low, high = result["bands"]
    assert (low["band"], low["leads"], low["wins"]) == ("0-49", 2, 0)
    assert low["expected_win_rate"] == pytest.approx(0.15)
    assert (high["band"], high["wins"]) == ("50-100", 1)
    assert high["expected_win_rate"] == pytest.approx(0.65)
    assert high["observed_win_rate"] == pytest.approx(0.5)
    assert result["expected_wins"] == pytest.approx(1.6)
    assert result["observed_wins"] == 1
    assert result["relative_gap"] == pytest.approx((1 - 1.6) / 1.6)
    assert result["z"] == pytest.approx(-0.6 / math.sqrt(0.09 + 0.16 + 0.24 + 0.21))


def test_a_lead_closed_before_its_scoring_moment_is_left_out_of_calibration():
    """The fit gives such a lead no label; counting it as a non-win would make the scale look optimistic."""
    leads, scores, as_of = _scored(as_of_days_after=200)
    early = canonical([dict(lead_id="e", created_at="2025-02-20", mql_at="2025-03-05", outcome="lost",
                            closed_at="2025-03-01")])
    leads = pd.concat([leads, early], ignore_index=True)
    scores = pd.concat([scores, pd.DataFrame({"lead_id": ["e"], "score": [90], "probability": [0.9]})])
    cohort = review.scored_cohort(leads, scores, "2025-03")
    assert "e" in set(cohort["lead_id"])
    result = review.conversion_by_band(cohort, as_of=as_of, horizon_days=90, edges=[0, 50, 101])
    assert result["leads"] == 4 and result["expected_wins"] == pytest.approx(1.6)


def test_an_immature_cohort_is_not_judged():
    leads, scores, as_of = _scored(as_of_days_after=30)
    cohort = review.scored_cohort(leads, scores, "2025-03")
    result = review.conversion_by_band(cohort, as_of=as_of, horizon_days=90)
    assert result["mature"] is False
    assert result["days_to_maturity"] == 60
    assert result["z"] is None and result["relative_gap"] is None
    with pytest.raises(ValueError, match="horizon_days"):
        review.conversion_by_band(cohort, as_of=as_of, horizon_days=0)
    with pytest.raises(ValueError, match="edges"):
        review.conversion_by_band(cohort, as_of=as_of, horizon_days=90, edges=[0, 50, 40])


def test_band_edges_follow_the_agreement_thresholds():
    assert review.band_edges({"recycle": 20, "mql": 55, "fast_track": 80}) == [0, 20, 55, 80, 101]
    assert review.band_edges(None) == list(review.DEFAULT_BAND_EDGES)
    assert review.band_labels([0, 55, 101]) == ["0-54", "55-100"]


def test_score_drift_uses_the_validation_scores_as_baseline():
    baseline = pd.Series(np.arange(100, dtype=float))
    same = review.score_drift(baseline.copy(), baseline)
    assert same["psi"] == pytest.approx(0.0) and same["status"] == "stable"
    shifted = pd.Series(np.full(50, 95.0))
    result = review.score_drift(shifted, baseline)
    # All the month's scores in the top decile: 9 bins floored at 1e-4, one bin at 1.
    expected = 9 * (1e-4 - 0.1) * math.log(1e-4 / 0.1) + 0.9 * math.log(1 / 0.1)
    assert result["psi"] == pytest.approx(expected) == pytest.approx(psi(baseline, shifted))
    assert result["status"] == "drifted" and result["noise_p_value"] < 1e-6
    assert review.score_drift(pd.Series([], dtype=float), baseline)["psi"] is None
    with pytest.raises(ValueError, match="bins"):
        review.score_drift(shifted, baseline, bins=1)


def test_psi_above_the_cut_off_from_sampling_noise_alone_is_not_drift():
    rng = np.random.default_rng(0)
    baseline = pd.Series(rng.integers(0, 100, 700).astype(float))
    noisy = [review.score_drift(pd.Series(rng.integers(0, 100, 60).astype(float)), baseline)
             for _ in range(200)]
    above = np.mean([d["psi"] >= review.PSI_WATCH for d in noisy])
    flagged = np.mean([d["status"] != "stable" for d in noisy])
    # the same distribution gives PSI above 0.1 in most small months; about 1 % are called a shift
    assert above > 0.5
    assert flagged < 0.03
    assert noisy[0]["noise_level"] == pytest.approx(9 * (1 / 60 + 1 / 700))


JUDGED = {"drift": {"psi": 0.05, "status": "stable"}, "acceptance": {"rejection_rate": 0.1}}
"""Two of the verdict's signals judged and calm: enough for a month without findings to be a keep."""


@pytest.mark.parametrize(("metrics", "level"), [
    ({"drift": {"psi": 0.05, "status": "stable"}, "acceptance": {"rejection_rate": 0.2}}, "keep"),
    ({"drift": {"psi": 0.14, "status": "stable"}}, "keep"),  # above 0.1 but within sampling noise
    ({"drift": {"psi": 0.12, "status": "shifting"}}, "watch"),
    ({"drift": {"psi": 0.3, "status": "drifted"}}, "recalibrate"),
    ({"acceptance": {"rejection_rate": 0.30}}, "watch"),
    ({"acceptance": {"rejection_rate": 0.36}}, "recalibrate"),
    ({"calibration": {"mature": True, "z": -3.5, "relative_gap": -0.4, "observed_wins": 6,
                      "expected_wins": 10.0}}, "recalibrate"),
    ({"calibration": {"mature": True, "z": -2.5, "relative_gap": -0.2, "observed_wins": 8,
                      "expected_wins": 10.0}}, "watch"),
    ({"calibration": {"mature": False, "z": None, "relative_gap": None}}, "keep"),
    # a cohort the scale was fitted or calibrated on is not a validation: never judged
    ({"calibration": {"mature": True, "in_sample": True, "z": -3.5, "relative_gap": -0.4, "observed_wins": 6,
                      "expected_wins": 10.0}}, "keep"),
    # commitments are judged only under an agreement
    ({"mql_volume": {"mqls": 50, "commitment": 100, "share_of_commitment": 0.5}}, "keep"),
    ({"agreement": {"in_force": True}, "mql_volume": {"mqls": 50, "commitment": 100,
                                                       "share_of_commitment": 0.5}}, "watch"),
    ({"agreement": {"in_force": True},
      "speed_to_lead": {"share_within": 0.5, "follow_up_hours": 4}}, "watch"),
    ({"agreement": {"in_force": True}, "mql_volume": {"expected_win_rate": 0.04, "min_win_rate": 0.05}},
     "watch"),
    ({"agreement": {"in_force": True}, "mql_volume": {"expected_win_rate": 0.06, "min_win_rate": 0.05}},
     "keep"),
])
def test_verdict_rules(metrics, level):
    result = review.verdict({**JUDGED, **metrics})
    assert result["verdict"] == level
    assert result["reasons"] and all(isinstance(r, str) for r in result["reasons"])


@pytest.mark.parametrize("metrics", [
    {},
    {"drift": {"psi": 0.05, "status": "stable"}},
    # the pipeline export: no SAL data, every cohort inside the fitted period
    {"drift": {"psi": 0.05, "status": "stable"},
     "not_measured": {"acceptance": "Not measured: the export has no sal_at or rejected_at (...), so ..."},
     "not_measured_columns": {"acceptance": ["sal_at", "rejected_at"]},
     "calibration": {"leads": 300, "mature": True, "in_sample": True, "z": None, "relative_gap": None}},
])
def test_a_month_with_too_little_evidence_is_not_judged_never_keep(metrics):
    result = review.verdict(metrics)
    assert result["verdict"] == "not judged"
    assert "Too little could be measured" in result["reasons"][0]
    rules = {item["rule"]: item["why"] for item in result["not_judged"]}
    assert "rejection rate" in rules and "calibration" in rules
    if "not_measured" in metrics:
        assert rules["rejection rate"] == "the export has no sal_at or rejected_at"
        assert "fitted on" in rules["calibration"]


def test_findings_are_reported_even_when_little_else_could_be_judged():
    assert review.verdict({"acceptance": {"rejection_rate": 0.5}})["verdict"] == "recalibrate"


def test_monthly_metrics_is_deterministic_plain_json(march):
    scores = pd.DataFrame({"lead_id": march["lead_id"], "score": [80, 40, 30, 20, 10, 50, 60],
                           "probability": [0.4, 0.2, 0.15, 0.1, 0.05, 0.25, 0.3]})
    baseline = pd.Series(np.linspace(0, 100, 200))
    kwargs = dict(as_of=pd.Timestamp("2025-04-15"), scores=scores, baseline_scores=baseline,
                  service_levels={"follow_up_hours": 6, "mql_per_month": 10, "accept_within_days": 1},
                  horizon_days=90, trend_months=2)
    first = review.monthly_metrics(march, "2025-03", **kwargs)
    second = review.monthly_metrics(march.sample(frac=1, random_state=3), "2025-03", **kwargs)
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    assert list(first) == sorted(first)
    assert first["verdict"] in {"keep", "watch", "recalibrate"}
    assert first["agreement"]["in_force"] is False and "No agreement" in first["agreement"]["note"]
    assert first["mql_volume"]["commitment"] is None  # no agreement: nothing was committed
    # MQLs of March L1, L2, L3, L4, L6: mean calibrated probability (0.4 + 0.2 + 0.15 + 0.1 + 0.25) / 5
    assert first["mql_volume"]["expected_win_rate"] == pytest.approx(0.22)
    assert [row["month"] for row in first["trend"]] == ["2025-01", "2025-02", "2025-03"]
    assert first["trend"][-1]["mqls"] == 5
    assert first["calibration"]["mature"] is False
    assert first["speed_to_lead"]["group_by"] == "team"
    # the rejection rate of 50 % alone says recalibrate
    assert first["verdict"] == "recalibrate"
    json.dumps(first, allow_nan=False)


def test_a_month_reviewed_on_its_window_keeps_what_the_whole_history_decides(march):
    """The review counts only the month, its trend and a channel's own history, but an old year still decides
    which stages are measured, who is which rep and whether a campaign is new."""
    old_year = canonical([
        # the only SQL date of the export, the only rep named before Ann, campaign Y's first MQL: all 2023
        dict(lead_id="OLD1", created_at="2023-01-03", mql_at="2023-01-04", sal_at="2023-01-05",
             sql_at="2023-01-09", first_touch_at="2023-01-04 01:00", owner="Aaron", outcome="lost",
             closed_at="2023-02-01", campaign="Y", source="event"),
    ])
    history = pd.concat([old_year, march.drop(columns=["team", "sql_at"])], ignore_index=True)
    history["sql_at"] = history["sql_at"].astype("datetime64[ns]")
    result = review.monthly_metrics(history, "2025-03", as_of=pd.Timestamp("2025-04-15"), trend_months=1)
    sql = next(row for row in result["funnel"] if row["stage"] == "sql")
    assert sql["count"] == 0  # measured (the export has SQL dates), none this month: not "not measured"
    groups = {row["group"]: row["mqls"] for row in result["speed_to_lead"]["groups"]}
    assert groups == {"Rep 2": 2, "Rep 3": 1, "Rep 4": 1, "(no rep)": 1}  # Aaron is Rep 1, Ann Rep 2…
    campaign_y = next(row for row in result["campaign_quality"] if row["campaign"] == "Y")
    assert campaign_y["new"] is False  # its first MQL was in 2023
    assert result == review.monthly_metrics(history, "2025-03", as_of=pd.Timestamp("2025-04-15"),
                                            trend_months=1)


def test_campaign_scores_cover_every_mql_of_the_month(march):
    """Scored at creation, L6 (created in February, handed over in March) is a March MQL all the same."""
    scores = pd.DataFrame({"lead_id": march["lead_id"], "score": [80, 40, 30, 20, 10, 50, 60],
                           "probability": [0.4, 0.2, 0.15, 0.1, 0.05, 0.25, 0.3]})
    result = review.monthly_metrics(march, "2025-03", as_of=pd.Timestamp("2025-04-15"), scores=scores,
                                    moment="created", trend_months=2)
    campaign_x = next(row for row in result["campaign_quality"] if row["campaign"] == "X")
    assert campaign_x["mqls"] == 3  # L1, L2, L6
    assert campaign_x["mean_score"] == pytest.approx((80 + 40 + 50) / 3, abs=1e-4)


def test_monthly_metrics_under_an_agreement(march):
    agreement = {"version": 3, "model_version": "m1", "thresholds": {"mql": 50},
                 "service_levels": {"follow_up_hours": 12, "mql_per_month": 4, "accept_within_days": 5}}
    result = review.monthly_metrics(march, "2025-03", as_of=pd.Timestamp("2025-04-15"), agreement=agreement,
                                    trend_months=0)
    assert result["agreement"]["in_force"] is True and result["agreement"]["note"] is None
    assert result["mql_volume"] == {"commitment": 4, "met": True, "mqls": 5, "share_of_commitment": 1.25,
                                    "min_win_rate": None, "expected_win_rate": None}
    assert result["speed_to_lead"]["follow_up_hours"] == 12
    assert result["calibration"] is None and result["drift"] is None


def test_monthly_metrics_refuses_bad_parameters(march):
    as_of = pd.Timestamp("2025-04-15")
    with pytest.raises(DataError, match="YYYY-MM"):
        review.monthly_metrics(march, "2025-3", as_of=as_of)
    with pytest.raises(DataError, match="YYYY-MM"):
        review.monthly_metrics(march, "March", as_of=as_of)
    with pytest.raises(ValueError, match="trend_months"):
        review.monthly_metrics(march, "2025-03", as_of=as_of, trend_months=-1)
    with pytest.raises(DataError, match="outcome"):
        review.monthly_metrics(march.drop(columns="outcome"), "2025-03", as_of=as_of)
    with pytest.raises(DataError, match="no dates"):
        review.monthly_metrics(march.drop(columns=["created_at", "mql_at"]), "2025-03", as_of=as_of)
    with pytest.raises(ValueError, match="moment"):
        review.scoring_moment(march, "sql")


def test_to_plain_rounds_and_drops_nan():
    plain = review.to_plain({"b": np.float64(1 / 3),
                             "a": [np.int64(2), float("nan"), pd.NaT, np.bool_(True)]})
    assert plain == {"a": [2, None, None, True], "b": 0.3333}


def _firmographics() -> pd.DataFrame:
    rows = []
    for i in range(200):
        industry = "Software" if i % 2 else "Retail"
        size = "large" if i % 4 < 2 else "small"
        # software at large companies wins 3 in 4; everything else wins 1 in 10
        won = (industry == "Software" and size == "large" and i % 16 != 3) or (i % 10 == 0)
        rows.append(dict(lead_id=f"p{i}", created_at="2025-01-01", outcome="won" if won else "lost",
                         industry=industry, company_size=size, mql_at="2025-01-02" if i % 5 else None,
                         sal_at="2025-01-03" if i % 5 and i % 3 else None))
    rows.append(dict(lead_id="open", created_at="2025-01-01", outcome="open", industry="Software",
                     company_size="large"))
    return canonical(rows)


def test_segment_quality_counts_by_hand():
    leads = _firmographics()
    rows = {r["industry"]: r for r in review.segment_quality(leads, "industry")}
    software = leads[leads["industry"] == "Software"]
    closed = software[software["outcome"] != "open"]
    assert rows["Software"]["leads"] == 101 and rows["Software"]["closed"] == 100
    assert rows["Software"]["won"] == int((closed["outcome"] == "won").sum())
    assert rows["Software"]["win_rate"] == pytest.approx((closed["outcome"] == "won").mean())
    mqls = software["mql_at"].notna()
    assert rows["Software"]["mql_rate"] == pytest.approx(mqls.mean())
    assert rows["Software"]["acceptance_rate"] == pytest.approx(software["sal_at"].notna().sum() / mqls.sum())
    assert rows["Software"]["mean_score"] is None
    with pytest.raises(DataError, match="nope"):
        review.segment_quality(leads, "nope")


def test_buyer_personas_find_the_winning_combination():
    personas = review.buyer_personas(_firmographics(), ["industry", "company_size"], max_depth=2)
    best = personas[0]
    # "company_size is not small" reads as "is large": the only other value
    assert best["persona"] in {"company_size is large and industry is Software",
                               "industry is Software and company_size is large"}
    assert best["leads"] == 50 and best["win_rate"] > 0.7
    assert sum(p["leads"] for p in personas) == 200  # the open lead is left out
    assert sum(p["share_of_wins"] for p in personas) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="max_depth"):
        review.buyer_personas(_firmographics(), ["industry"], max_depth=0)
    with pytest.raises(ValueError, match="min_leaf_share"):
        review.buyer_personas(_firmographics(), ["industry"], min_leaf_share=0.9)
    with pytest.raises(ValueError, match="attributes"):
        review.buyer_personas(_firmographics(), [])
    with pytest.raises(DataError, match="nope"):
        review.buyer_personas(_firmographics(), ["nope"])
    all_lost = _firmographics().assign(
        outcome=pd.Categorical(["lost"] * 201, categories=["won", "lost", "open"]))
    with pytest.raises(DataError, match="both won and lost"):
        review.buyer_personas(all_lost, ["industry"])


def test_grade_grid_counts_closed_leads_by_grade():
    scored = pd.DataFrame({"fit_grade": ["A", "A", "B", "B", "B"],
                           "engagement_grade": ["1", "1", "2", "2", "2"],
                           "outcome": pd.Categorical(["won", "lost", "won", "open", "lost"],
                                                     categories=["won", "lost", "open"])})
    grid = review.grade_grid(scored).set_index(["fit_grade", "engagement_grade"])
    assert grid.loc[("A", "1"), "leads"] == 2 and grid.loc[("A", "1"), "win_rate"] == 0.5
    assert grid.loc[("B", "2"), "leads"] == 2 and grid.loc[("B", "2"), "won"] == 1
    with pytest.raises(DataError, match="fit_grade"):
        review.grade_grid(scored.drop(columns="fit_grade"))


def test_early_acceptance_against_the_reference_by_hand():
    stamp = pd.Timestamp("2025-03-01")
    day = pd.Timedelta(days=1)
    # reference: band 0-49 accepted within 14 days 1 in 4, band 50-100 3 in 4
    reference = pd.DataFrame({"score": [10, 20, 30, 40, 60, 70, 80, 90],
                              "scored_at": [stamp] * 8,
                              "sal_at": [stamp + day, None, None, stamp + 30 * day,
                                         stamp + day, stamp + 2 * day, stamp + 3 * day, None]})
    cohort = pd.DataFrame({"score": [15, 25, 65, 75, 85, 95],
                           "scored_at": [stamp] * 5 + [stamp + 20 * day],  # the last one is too young
                           "sal_at": [stamp + day, None, None, None, stamp + day, None]})
    result = review.early_acceptance(cohort, reference, as_of=stamp + 25 * day, days=14, edges=[0, 50, 101])
    low, high = result["bands"]
    assert (low["leads"], low["expected_rate"], low["observed_rate"]) == (2, 0.25, 0.5)
    assert (high["leads"], high["expected_rate"], high["observed_rate"]) == (3, 0.75, pytest.approx(1 / 3))
    assert result["leads"] == 5 and result["observed"] == 2
    assert result["expected"] == pytest.approx(2 * 0.25 + 3 * 0.75)
    variance = (2 * 0.25 * 0.75 + 4 * 0.25 * 0.75 / 4) + (3 * 0.75 * 0.25 + 9 * 0.75 * 0.25 / 4)
    assert result["z"] == pytest.approx((2 - 2.75) / math.sqrt(variance))
    with pytest.raises(ValueError, match="days"):
        review.early_acceptance(cohort, reference, as_of=stamp, days=0)


def test_an_early_acceptance_gap_is_a_watch():
    metrics = {"early_acceptance": {"observed": 114, "expected": 147.0, "days": 14, "z": -3.1,
                                    "relative_gap": -0.224}}
    result = review.verdict(metrics)
    assert result["verdict"] == "watch" and "early sign" in result["reasons"][0]
    metrics["early_acceptance"]["z"] = -2.5
    assert review.verdict({**JUDGED, **metrics})["verdict"] == "keep"


def test_sections_the_export_cannot_measure_say_which_column_to_map():
    rows = [dict(lead_id=f"l{i}", created_at="2025-03-02", mql_at="2025-03-03", outcome="open")
            for i in range(30)]
    leads = canonical(rows).drop(columns=["sal_at", "rejected_at"])
    metrics = review.monthly_metrics(leads, "2025-03", as_of=pd.Timestamp("2025-04-30"))
    missing = metrics["not_measured"]
    assert set(missing) == {"acceptance", "speed_to_lead", "campaign_quality", "source_quality"}
    assert missing["speed_to_lead"].startswith("Not measured: the export has no first_touch_at")
    assert "onto first_touch_at in the config [mapping]" in missing["speed_to_lead"]
    assert "sal_at or rejected_at" in missing["acceptance"]
    assert metrics["acceptance"] is None and metrics["speed_to_lead"] is None
    assert metrics["mql_volume"]["mqls"] == 30  # what the export allows is still measured
    assert [row["count"] for row in metrics["funnel"]][:2] == [30, 30]
    assert metrics["funnel"][2]["count"] is None  # no SAL dates: not measured, not zero
    assert metrics["verdict"] == "not judged"
    assert all(row["acceptance_rate"] is None for row in metrics["trend"])


def test_the_review_scores_at_the_same_moment_as_the_fit_when_the_export_has_no_mql_date():
    leads = canonical([dict(lead_id="a", created_at="2025-03-02", outcome="open")]).drop(columns=["mql_at"])
    at = review.scoring_moment(leads, "mql", days_after_created=3)
    assert at.iloc[0] == pd.Timestamp("2025-03-05")


@pytest.mark.parametrize("side", ["leads", "scores"])
def test_scores_join_refuses_a_lead_on_two_rows(side):
    from alignment.review.sections import join_scores

    leads = pd.DataFrame({"lead_id": ["a", "b", "c"], "outcome": ["won", "lost", "open"]})
    scores = pd.DataFrame({"lead_id": ["a", "b", "c"], "score": [10, 20, 30]})
    assert join_scores(leads, scores, ["score"])["score"].tolist() == [10, 20, 30]
    doubled = {"leads": leads, "scores": scores}
    doubled[side] = pd.concat([doubled[side], doubled[side].iloc[[1]]], ignore_index=True)
    with pytest.raises(DataError, match=f"lead_id 'b' is on more than one row of the {side}"):
        join_scores(doubled["leads"], doubled["scores"], ["score"])
