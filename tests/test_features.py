"""Point-in-time features and labels (alignment.features)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alignment.config import FAMILIES, parse_config
from alignment.exceptions import DataError
from alignment.features import (
    FeatureSet,
    activity_feature_name,
    build_features,
)
from alignment.loader import Workspace

T = pd.Timestamp


def make_config(**scoring):
    return parse_config({"source": {"leads": "leads.csv"}, "scoring": scoring})


def make_workspace(leads, activities=None, families=None, as_of="2024-12-31", excluded=None):
    leads = leads.copy()
    if "outcome" in leads:
        leads["outcome"] = pd.Categorical(leads["outcome"], categories=["won", "lost", "open"])
    if activities is not None:
        activities = activities.copy()
        activities["activity_type"] = activities["activity_type"].astype("category")
    return Workspace(leads=leads, activities=activities, truth=None, truth_effects=None, warnings=[],
                     excluded=excluded or {}, families=families or {},
                     as_of=T(as_of) if as_of is not None else pd.NaT)


def label_leads() -> pd.DataFrame:
    rows = [
        # lead, outcome, mql_at, closed_at
        ("won_inside", "won", "2024-01-01", "2024-02-01"),
        ("won_late", "won", "2024-01-01", "2024-06-01"),
        ("won_on_horizon", "won", "2024-01-01", "2024-03-31"),  # exactly 90 days
        ("lost", "lost", "2024-01-01", "2024-01-20"),
        ("open_inside", "open", "2024-05-01", None),
        ("open_passed", "open", "2024-01-01", None),
        ("never_mql", "lost", None, "2024-02-01"),
        ("closed_before_mql", "won", "2024-03-01", "2024-02-01"),
    ]
    frame = pd.DataFrame(rows, columns=["lead_id", "outcome", "mql_at", "closed_at"])
    frame["created_at"] = T("2023-12-01")
    for column in ("mql_at", "closed_at", "created_at"):
        frame[column] = pd.to_datetime(frame[column])
    frame["industry"] = ["software", "retail", "software", "retail", None, "software", "retail", "software"]
    return frame


def test_labels_follow_horizon_and_exclusions():
    features = build_features(make_workspace(label_leads(), as_of="2024-06-15",
                                             families={"industry": "demographics"}),
                              make_config(moment="mql", horizon_days=90))
    assert isinstance(features, FeatureSet)
    label = features.label
    assert label["won_inside"] == 1.0
    assert label["won_on_horizon"] == 1.0
    assert label["won_late"] == 0.0
    assert label["lost"] == 0.0
    assert label["open_passed"] == 0.0
    for excluded in ("open_inside", "never_mql", "closed_before_mql"):
        assert np.isnan(label[excluded]), excluded
    assert features.has_dates
    assert features.scored_at["won_inside"] == T("2024-01-01")
    assert pd.isna(features.scored_at["never_mql"])
    assert features.created_at["lost"] == T("2023-12-01")
    assert any("still open inside their horizon" in note for note in features.notes)
    assert features.X.loc["won_inside", "days_to_mql"] == pytest.approx(31.0)
    assert features.family["industry"] == "demographics"
    assert list(features.X.index) == list(label_leads()["lead_id"])


def test_open_lead_counts_as_not_won_once_its_horizon_passes():
    leads = label_leads()
    config = make_config(moment="mql", horizon_days=90)
    before = build_features(make_workspace(leads, as_of="2024-07-29"), config).label["open_inside"]
    after = build_features(make_workspace(leads, as_of="2024-07-30"), config).label["open_inside"]
    assert np.isnan(before) and after == 0.0


def test_loader_exclusions_are_left_out_of_fitting():
    leads = label_leads()
    workspace = make_workspace(leads, excluded={"stage_dates_out_of_order": pd.Index(["won_inside"]),
                                                "negative_amount": pd.Index(["lost"])})
    label = build_features(workspace, make_config(horizon_days=90)).label
    assert np.isnan(label["won_inside"])
    assert label["lost"] == 0.0


def test_won_without_close_date_is_left_out_when_the_data_has_close_dates():
    leads = label_leads()
    leads.loc[0, "closed_at"] = pd.NaT
    label = build_features(make_workspace(leads), make_config(horizon_days=90)).label
    assert np.isnan(label["won_inside"])
    no_close_column = build_features(make_workspace(leads.drop(columns="closed_at")),
                                     make_config(horizon_days=90)).label
    assert no_close_column["won_inside"] == 1.0


def test_without_dates_labels_are_the_outcome():
    leads = pd.DataFrame({"outcome": ["won", "lost", "open", "won"], "size": [10, 20, 30, 40],
                          "industry": ["a", "b", "a", None]})
    features = build_features(make_workspace(leads, as_of=None,
                                             families={"size": "demographics", "industry": "demographics"}),
                              make_config(moment="mql"))
    assert not features.has_dates
    assert features.label.tolist()[:2] == [1.0, 0.0]
    assert np.isnan(features.label.iloc[2]) and features.label.iloc[3] == 1.0
    assert features.scored_at.isna().all() and features.created_at.isna().all()
    assert list(features.X.index) == ["0", "1", "2", "3"]
    assert features.X["size"].dtype == np.float64
    assert features.monotone == {"size": "none", "industry": "none"}
    assert any("no timestamps" in note for note in features.notes)


def activity_leads() -> tuple[pd.DataFrame, pd.DataFrame]:
    leads = pd.DataFrame({
        "lead_id": ["a", "b"],
        "outcome": ["won", "lost"],
        "created_at": pd.to_datetime(["2024-01-01", "2024-01-01"]),
        "mql_at": pd.to_datetime(["2024-03-01", "2024-03-01"]),
        "closed_at": pd.to_datetime(["2024-04-01", "2024-04-01"]),
        "source": ["webinar", "ads"],
    })
    activities = pd.DataFrame({
        "lead_id": ["a", "a", "a", "a", "b", "b"],
        "occurred_at": pd.to_datetime(["2024-03-01 00:00", "2024-01-31 00:00", "2024-03-05 00:00",
                                       "2024-02-29 12:00", "2024-02-01 00:00", "2024-05-01 00:00"]),
        "activity_type": ["pricing_page", "pricing_page", "pricing_page", "email_open", "chat", "chat"],
    })
    return leads, activities


def test_decayed_counts_and_recency_at_the_moment():
    leads, activities = activity_leads()
    config = make_config(moment="mql", half_life_days={"pricing_page": 30.0}, default_half_life_days=10.0)
    features = build_features(make_workspace(leads, activities), config)
    X = features.X
    # a: pricing 30 days before (0.5) counts; the one at the very moment and the one after never do.
    assert X.loc["a", "pricing_page_decayed"] == pytest.approx(0.5, rel=1e-12)
    assert X.loc["a", "email_open_decayed"] == pytest.approx(0.5 ** (0.5 / 10.0), rel=1e-12)
    assert X.loc["b", "chat_decayed"] == pytest.approx(0.5 ** (29 / 10.0), rel=1e-12)
    assert X.loc["b", "pricing_page_decayed"] == 0.0
    assert X.loc["a", "days_since_last_activity"] == pytest.approx(0.5)
    assert X.loc["b", "days_since_last_activity"] == pytest.approx(29.0)
    assert X.loc["a", "active_days_90d"] == 2.0  # Jan 31, Feb 29 (Mar 1 is the moment itself)
    assert X.loc["b", "active_days_90d"] == 1.0
    assert any("after their lead's scoring moment" in note for note in features.notes)


def test_events_after_the_moment_change_nothing():
    leads, activities = activity_leads()
    config = make_config(moment="mql")
    baseline = build_features(make_workspace(leads, activities), config).X
    moved = activities.copy()
    moved.loc[2, "occurred_at"] = T("2024-09-30")  # after the moment, still after
    moved.loc[5, "occurred_at"] = T("2024-03-01 00:00:01")
    pd.testing.assert_frame_equal(build_features(make_workspace(leads, moved), config).X, baseline)
    late_visits = pd.DataFrame({"lead_id": ["b"] * 50, "activity_type": ["pricing_page"] * 50,
                                "occurred_at": [T("2024-03-02")] * 50})
    extra = pd.concat([activities, late_visits], ignore_index=True)
    pd.testing.assert_frame_equal(build_features(make_workspace(leads, extra), config).X, baseline)
    # The same event moved before the moment does count: the test can fail.
    moved.loc[2, "occurred_at"] = T("2024-02-20")
    changed = build_features(make_workspace(leads, moved), config).X
    assert changed.loc["a", "pricing_page_decayed"] > baseline.loc["a", "pricing_page_decayed"]


def test_created_moment_with_delay_and_stage_flags():
    leads, activities = activity_leads()
    leads.loc[1, "mql_at"] = T("2024-03-20")
    config = make_config(moment="created", days_after_created=70)  # moment = 2024-03-11
    features = build_features(make_workspace(leads, activities), config)
    assert features.scored_at["a"] == T("2024-03-11")
    assert features.X["reached_mql"].tolist() == [1.0, 0.0]
    assert features.family["reached_mql"] == "funnel"
    assert features.monotone["reached_mql"] == "increasing"
    assert "days_to_mql" not in features.X
    # The 2024-03-05 pricing-page visit is before this moment (it was after the MQL moment).
    assert features.X.loc["a", "pricing_page_decayed"] > 1.5


def test_mql_moment_falls_back_to_creation_without_mql_dates():
    leads, activities = activity_leads()
    features = build_features(make_workspace(leads.drop(columns="mql_at"), activities),
                              make_config(moment="mql", days_after_created=3))
    assert features.scored_at["a"] == T("2024-01-04")
    assert any("no mql_at" in note for note in features.notes)


def test_families_default_and_config_overrides():
    leads, activities = activity_leads()
    features = build_features(make_workspace(leads, activities), make_config())
    assert features.family["pricing_page_decayed"] == "interest"
    assert features.family["email_open_decayed"] == "engagement"
    assert features.family["chat_decayed"] == "activity"
    assert features.family["days_since_last_activity"] == "activity"
    assert features.family["source"] == "funnel"
    assert set(features.family.values()) <= set(FAMILIES)
    config = parse_config({"source": {"leads": "x.csv"},
                           "families": {"engagement": ["chat_decayed"], "interest": ["email_open"],
                                        "ignore": ["active_days_90d"]}})
    overridden = build_features(make_workspace(leads, activities), config)
    assert overridden.family["chat_decayed"] == "engagement"
    assert overridden.family["email_open_decayed"] == "interest"
    assert "active_days_90d" not in overridden.X


def test_monotone_defaults_and_overrides():
    leads, activities = activity_leads()
    leads["employees"] = [10, 200]
    workspace = make_workspace(leads, activities, families={"employees": "demographics"})
    features = build_features(workspace, make_config())
    assert features.monotone["pricing_page_decayed"] == "increasing"
    assert features.monotone["active_days_90d"] == "increasing"
    assert features.monotone["days_since_last_activity"] == "decreasing"
    assert features.monotone["employees"] == "none"
    assert features.monotone["source"] == "none"
    assert set(features.monotone) == set(features.X.columns)
    overrides = {"pricing_page": "none", "employees": "increasing", "nonexistent": "decreasing"}
    overridden = build_features(workspace, make_config(monotone=overrides))
    assert overridden.monotone["pricing_page_decayed"] == "none"
    assert overridden.monotone["employees"] == "increasing"
    assert any("nonexistent" in note for note in overridden.notes)


def test_scoring_new_leads_caps_the_moment_at_as_of():
    leads, activities = activity_leads()
    leads.loc[1, "mql_at"] = pd.NaT  # not an MQL yet: scored on what is known now
    features = build_features(make_workspace(leads, activities, as_of="2024-06-01"), make_config(),
                              for_fitting=False, activity_types=["webinar"])
    assert features.label.isna().all()
    assert features.scored_at["b"] == T("2024-06-01")
    assert features.X.loc["b", "chat_decayed"] > 0.5 ** (29 / 30) > 0  # both chats count now
    assert features.X["webinar_decayed"].tolist() == [0.0, 0.0]
    without_outcome = make_workspace(leads.drop(columns="outcome"), activities)
    assert build_features(without_outcome, make_config(), for_fitting=False).label.isna().all()


def test_attribute_types_and_reserved_columns():
    leads, _ = activity_leads()
    leads["employees"] = pd.array([10, None], dtype="Int64")
    leads["is_partner"] = [True, False]
    leads["signed_up_at"] = leads["created_at"]
    leads["amount"] = [100.0, 0.0]
    families = {"employees": "demographics", "is_partner": "demographics", "signed_up_at": "activity",
                "amount": "demographics", "legacy_score": "funnel"}
    features = build_features(make_workspace(leads, families=families), make_config())
    X = features.X
    assert X["employees"].dtype == np.float64 and np.isnan(X.loc["b", "employees"])
    assert X["is_partner"].tolist() == [1.0, 0.0]
    assert "signed_up_at" not in X and "amount" not in X
    assert any("signed_up_at" in note for note in features.notes)


def naive_aggregate(leads_moment: pd.Series, events: pd.DataFrame, half_life: dict) -> pd.DataFrame:
    """The slow, obvious computation per lead, for comparison."""
    rows = {}
    for lead, moment in leads_moment.items():
        mine = events[(events["lead_id"] == lead) & (events["occurred_at"] <= moment)]
        age = (moment - mine["occurred_at"]).dt.total_seconds() / 86_400
        row = {f"{t}_decayed": float((0.5 ** (age[mine["activity_type"] == t] / h)).sum())
               for t, h in half_life.items()}
        row["days_since_last_activity"] = float(age.min()) if len(age) else np.nan
        days_back = (moment.normalize() - mine["occurred_at"].dt.normalize()).dt.days
        row["active_days_90d"] = float(mine.loc[days_back < 90, "occurred_at"].dt.normalize().nunique())
        rows[lead] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def test_vectorised_aggregation_matches_a_naive_computation():
    rng = np.random.default_rng(3)
    n_leads, n_events = 60, 3_000
    lead_ids = [f"L{i}" for i in range(n_leads)]
    moments = pd.Series(T("2024-06-01") + pd.to_timedelta(rng.integers(0, 200, n_leads), unit="D")
                        + pd.to_timedelta(rng.integers(0, 86_400, n_leads), unit="s"), index=lead_ids)
    types = ["email_open", "pricing_page", "webinar"]
    events = pd.DataFrame({
        "lead_id": rng.choice(lead_ids, n_events),
        "occurred_at": T("2024-01-01") + pd.to_timedelta(rng.integers(0, 400 * 86_400, n_events), unit="s"),
        "activity_type": rng.choice(types, n_events),
    })
    half_life = {"email_open": 7.0, "pricing_page": 45.0, "webinar": 30.0}
    moment_values = moments.to_numpy()
    leads = pd.DataFrame({"lead_id": lead_ids, "outcome": "lost", "mql_at": moment_values,
                          "created_at": moment_values - np.timedelta64(5, "D"),
                          "closed_at": moment_values + np.timedelta64(9, "D")})
    features = build_features(make_workspace(leads, events, as_of="2025-12-31"),
                              make_config(moment="mql", half_life_days=half_life))
    expected = naive_aggregate(moments, events, half_life)
    got = features.X[expected.columns]
    np.testing.assert_allclose(got.to_numpy(), expected.loc[got.index].to_numpy(), rtol=2e-5, atol=1e-4)


def test_activity_feature_name():
    assert activity_feature_name("Pricing page") == "pricing_page_decayed"
    assert activity_feature_name("e-mail  click") == "e_mail_click_decayed"


def test_same_inputs_same_features():
    leads, activities = activity_leads()
    first = build_features(make_workspace(leads, activities), make_config())
    second = build_features(make_workspace(leads, activities), make_config())
    pd.testing.assert_frame_equal(first.X, second.X)
    pd.testing.assert_series_equal(first.label, second.label)


def test_bad_parameters():
    leads, activities = activity_leads()
    workspace = make_workspace(leads, activities)
    with pytest.raises(TypeError, match="config"):
        build_features(workspace, {"scoring": {}})
    with pytest.raises(TypeError, match="for_fitting"):
        build_features(workspace, make_config(), for_fitting="yes")
    with pytest.raises(TypeError, match="leads"):
        build_features(object(), make_config())
    with pytest.raises(TypeError, match="activity_types"):
        build_features(workspace, make_config(), activity_types="webinar")
    with pytest.raises(DataError, match="outcome"):
        build_features(make_workspace(leads.drop(columns="outcome")), make_config())
    duplicated = pd.concat([leads, leads.iloc[[0]]], ignore_index=True)
    with pytest.raises(DataError, match="more than once"):
        build_features(make_workspace(duplicated), make_config())
    with pytest.raises(DataError, match="occurred_at"):
        build_features(make_workspace(leads, activities.drop(columns="occurred_at")), make_config())
    clashing = leads.assign(chat_decayed=[1.0, 2.0])
    with pytest.raises(DataError, match="clashes"):
        build_features(make_workspace(clashing, activities, families={"chat_decayed": "activity"}),
                       make_config())
    with pytest.raises(DataError, match="timestamps"):
        build_features(make_workspace(leads.assign(mql_at=["x", "y"])), make_config())


# --- on the demo history, through the real loader ----------------------------------------------


@pytest.fixture(scope="module")
def demo(demo_config):
    from alignment.config import load_config
    from alignment.loader import load_workspace

    config = load_config(demo_config)
    workspace = load_workspace(config)
    return config, workspace, build_features(workspace, config)


def test_demo_features_represent_the_planted_truth(demo):
    """The truth's logit is linear in log1p(decayed count) per activity type plus category effects: if the
    features are taken at the right moment with the right half-lives, least squares recovers each effect."""
    config, workspace, features = demo
    effects = workspace.truth_effects
    truth = workspace.truth.set_index("lead_id")["true_probability"].reindex(features.X.index)
    columns = [activity_feature_name(t) for t in effects["activity"]]
    parts = [np.log1p(features.X[columns])]
    for column in effects["categorical"]:
        parts.append(pd.get_dummies(features.X[column], prefix=column, drop_first=True, dtype=float))
    design = pd.concat(parts, axis=1)
    design.insert(0, "intercept", 1.0)
    logit = np.log(truth / (1 - truth)).to_numpy()
    coef, *_ = np.linalg.lstsq(design.to_numpy(), logit, rcond=None)
    recovered = pd.Series(coef, index=design.columns)
    for activity_type, effect in effects["activity"].items():
        feature = activity_feature_name(activity_type)
        assert recovered[feature] == pytest.approx(effect, abs=0.05), activity_type
    assert np.corrcoef(design.to_numpy() @ coef, logit)[0, 1] > 0.99


def test_demo_families_labels_and_moments(demo):
    config, workspace, features = demo
    listed = config.families.family_of()
    for activity_type in workspace.truth_effects["activity"]:
        assert features.family[activity_feature_name(activity_type)] == listed[activity_type]
    for column in ("industry", "company_size", "campaign"):
        assert features.family[column] == listed[column]
    assert not {"first_name", "email", "owner", "amount", "legacy_score"} & set(features.X.columns)
    leads = workspace.leads.set_index("lead_id")
    created = leads["created_at"].reindex(features.X.index)
    delay = pd.Timedelta(days=config.scoring.days_after_created)
    pd.testing.assert_series_equal(features.scored_at, created + delay, check_names=False)
    # Recompute the label independently from the exported outcome and dates.
    outcome = leads["outcome"].reindex(features.X.index).astype(str)
    closed = leads["closed_at"].reindex(features.X.index)
    horizon = pd.Timedelta(days=config.scoring.horizon_days)
    reached = features.scored_at <= workspace.as_of
    expected = pd.Series(np.nan, index=features.X.index)
    expected[reached & (outcome == "lost")] = 0.0
    won_in_time = (closed - features.scored_at <= horizon).astype(float)
    expected[reached & (outcome == "won")] = won_in_time[reached & (outcome == "won")]
    expected[reached & (outcome == "open") & (features.scored_at + horizon <= workspace.as_of)] = 0.0
    pd.testing.assert_series_equal(features.label, expected.astype(float), check_names=False)
    assert features.label.isna().sum() > 0 and features.label.eq(1).sum() > 100


def test_demo_events_after_the_moment_change_nothing(demo):
    config, workspace, features = demo
    import dataclasses

    activities = workspace.activities.to_pandas()
    moment = features.scored_at.reindex(activities["lead_id"]).to_numpy()
    before = activities[activities["occurred_at"].to_numpy() < moment]
    assert len(before) < len(activities)  # the demo does have events after the moment
    rng = np.random.default_rng(0)
    after = activities[activities["occurred_at"].to_numpy() >= moment].copy()
    after["occurred_at"] += pd.to_timedelta(rng.integers(0, 30 * 86_400, len(after)), unit="s")
    for changed in (before, pd.concat([before, after], ignore_index=True)):
        changed = changed.assign(activity_type=changed["activity_type"].astype(str).astype("category"))
        rebuilt = build_features(dataclasses.replace(workspace, activities=changed), config)
        pd.testing.assert_frame_equal(rebuilt.X, features.X)




@pytest.mark.parametrize("values", [
    pd.Series([], dtype=object),
    pd.Series([None, np.nan], dtype=object),
    pd.Series([1, "1", None, np.nan, "b", 2.5, "a", pd.NA], dtype=object),  # 1 and "1" read alike
    pd.Series(["x", None, "y", "x"], dtype="str", index=[5, 3, 9, 1], name="industry"),
    pd.Series([True, None, False], dtype=object),
])
def test_text_attributes_become_the_categories_of_their_strings(values):
    from alignment.features import _text_categories

    every_value_as_text = values.astype(object).astype("str").where(values.notna()).astype("category")
    pd.testing.assert_series_equal(_text_categories(values), every_value_as_text)
