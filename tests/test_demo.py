"""The demo history: deterministic, realistic funnel, planted change, honest truth, config, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy.stats import chi2_contingency
from sklearn.metrics import roc_auc_score

from alignment import demo
from alignment.cli import cli
from alignment.config import load_config
from alignment.demo import ACTIVITY_TYPES, PLANTED_CAMPAIGN, probability_at_moment, write_demo
from alignment.exceptions import ConfigError, DataError

STAMPS = ["created_at", "closed_at", "mql_at", "sal_at", "sql_at", "rejected_at", "first_touch_at"]
AS_OF = pd.Timestamp("2026-10-31 23:59:59")


def read_leads(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "leads.csv", parse_dates=STAMPS)


@pytest.fixture(scope="module")
def leads(demo_dir: Path) -> pd.DataFrame:
    frame = read_leads(demo_dir).merge(pd.read_parquet(demo_dir / "truth.parquet"), on="lead_id",
                                       validate="one_to_one")
    moment = frame["created_at"] + pd.Timedelta(days=7)
    return frame.assign(moment=moment, horizon_passed=moment + pd.Timedelta(days=180) <= AS_OF,
                        month=frame["created_at"].dt.to_period("M"))


@pytest.fixture(scope="module")
def effects(demo_dir: Path) -> dict:
    return json.loads((demo_dir / "truth_effects.json").read_text())


@pytest.fixture(scope="module")
def activities(demo_dir: Path) -> pd.DataFrame:
    return pd.read_parquet(demo_dir / "activities.parquet")


@pytest.fixture(scope="module")
def mature(leads: pd.DataFrame) -> pd.DataFrame:
    """Leads whose 180-day horizon has passed: their outcome is final."""
    return leads[leads["horizon_passed"]]


def planted_mask(leads: pd.DataFrame, effects: dict) -> pd.Series:
    return leads["month"] >= pd.Period(effects["planted_change"]["from_month"], freq="M")


# --- determinism ------------------------------------------------------------------------------


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path):
    first = write_demo(tmp_path / "a", n_leads=1500, seed=3)
    second = write_demo(tmp_path / "b", n_leads=1500, seed=3)
    other = write_demo(tmp_path / "c", n_leads=1500, seed=4)
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    assert {"leads.csv", "activities.parquet", "truth.parquet", "truth_effects.json",
            "alignment.toml"} <= set(names)
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert (first / "leads.csv").read_bytes() != (other / "leads.csv").read_bytes()
    assert (first / "activities.parquet").read_bytes() != (other / "activities.parquet").read_bytes()


# --- the leads table --------------------------------------------------------------------------


def test_leads_have_the_contract_columns_attributes_and_contacts(leads, demo_dir):
    expected = ["lead_id", "created_at", "outcome", "closed_at", "amount", "source", "campaign", "mql_at",
                "sal_at", "sql_at", "rejected_at", "rejection_reason", "first_touch_at", "owner",
                "legacy_score", "industry", "company_size", "country", "seniority", "job_function",
                "first_name", "last_name", "email", "phone"]
    assert list(read_leads(demo_dir).columns) == expected
    assert len(leads) == 6000 and leads["lead_id"].is_unique
    assert set(leads["outcome"]) == {"won", "lost", "open"}
    assert leads["email"].str.fullmatch(r"[a-z]+\.[a-z]+@[a-z.]+").all()
    assert leads["phone"].str.fullmatch(r"\+\d{1,3} \d{3} \d{7}").all()
    assert leads["legacy_score"].between(0, 100).all()
    span = leads["created_at"].max() - leads["created_at"].min()
    assert pd.Timedelta(days=700) < span <= pd.Timedelta(days=731)
    for column in STAMPS:
        assert not (leads[column] > AS_OF).any(), column


def test_open_means_horizon_not_passed_and_not_won_yet(leads):
    assert (leads.loc[leads["outcome"] == "open", "horizon_passed"]).sum() == 0
    assert (leads.loc[leads["outcome"] == "lost", "horizon_passed"]).all()
    assert leads.loc[leads["outcome"] == "open", ["closed_at", "amount"]].isna().all().all()


def test_won_leads_went_through_every_stage_in_order(leads):
    won = leads[leads["outcome"] == "won"]
    assert len(won) > 200
    chain = ["created_at", "moment", "mql_at", "first_touch_at", "sal_at", "sql_at", "closed_at"]
    assert won[chain].notna().all().all()
    for earlier, later in zip(chain, chain[1:], strict=False):
        assert (won[later] > won[earlier]).all(), (earlier, later)
    assert (won["closed_at"] <= won["moment"] + pd.Timedelta(days=180)).all()
    assert (won["amount"] > 0).all()
    assert leads.loc[leads["outcome"] != "won", "amount"].isna().all()


def test_deal_amounts_grow_with_company_size(leads):
    won = leads[leads["outcome"] == "won"]
    medians = won.groupby("company_size")["amount"].median()
    assert medians["5000+"] > 5 * medians["1-10"]
    assert medians["201-1000"] > medians["11-50"]


# --- funnel realism ---------------------------------------------------------------------------


def test_funnel_rates_are_in_realistic_ranges(mature):
    mql, sal, sql = (mature[c].notna().sum() for c in ("mql_at", "sal_at", "sql_at"))
    won = (mature["outcome"] == "won").sum()
    assert 0.75 < mql / len(mature) < 0.95  # most but not all leads become MQLs
    assert 0.40 <= sal / mql <= 0.60
    assert 0.50 <= sql / sal <= 0.70
    assert 0.20 <= won / sql <= 0.30
    assert 0.05 < won / len(mature) < 0.09


def test_rejections_have_reasons_except_a_few_and_a_few_leads_have_no_owner(leads):
    rejected = leads[leads["rejected_at"].notna()]
    without_reason = rejected["rejection_reason"].isna().mean()
    assert 0 < without_reason < 0.10
    assert leads.loc[leads["rejected_at"].isna(), "rejection_reason"].isna().all()
    assert (rejected["sal_at"].isna()).all()
    assert 0 < leads["owner"].isna().mean() < 0.05
    assert leads["owner"].nunique() >= 2


def test_slower_follow_up_lowers_conversion(mature):
    mqls = mature[mature["first_touch_at"].notna()]
    hours = (mqls["first_touch_at"] - mqls["mql_at"]).dt.total_seconds() / 3600
    assert 2 < hours.median() < 12 and hours.quantile(0.99) > 5 * hours.median()  # long tailed
    fast = hours <= hours.median()
    win_fast, win_slow = ((mqls["outcome"] == "won")[fast].mean(), (mqls["outcome"] == "won")[~fast].mean())
    assert win_fast > 1.3 * win_slow


def test_sources_and_campaigns_differ_clearly_in_quality(mature):
    rates = mature.groupby("campaign")["outcome"].apply(lambda s: (s == "won").mean())
    assert rates.max() > 3 * rates.min()
    by_source = mature.groupby("source")["outcome"].apply(lambda s: (s == "won").mean())
    assert by_source["Referral"] > 2 * by_source["Purchased List"]


def test_legacy_score_is_sensible_but_worse_than_the_truth(mature):
    won = mature["outcome"] == "won"
    legacy_auc = roc_auc_score(won, mature["legacy_score"])
    oracle_auc = roc_auc_score(won, mature["true_probability"])
    assert 0.6 < legacy_auc < oracle_auc - 0.05
    # Wrongly weighted: it ranks C-level above directors, who convert better.
    by_seniority = mature.groupby("seniority")
    legacy, truth = by_seniority["legacy_score"].mean(), by_seniority["true_probability"].mean()
    assert legacy["C-level"] > legacy["Director"] and truth["C-level"] < truth["Director"]


# --- activities -------------------------------------------------------------------------------


def test_activities_have_every_type_before_and_after_the_moment(activities, leads):
    assert list(activities.columns) == ["lead_id", "occurred_at", "activity_type"]
    assert set(activities["activity_type"].astype(str)) == set(ACTIVITY_TYPES)
    assert activities["lead_id"].isin(leads["lead_id"]).all()
    assert activities["occurred_at"].max() <= AS_OF
    assert 15 < len(activities) / len(leads) < 25
    moment = activities["lead_id"].map(leads.set_index("lead_id")["moment"])
    before = activities["occurred_at"] < moment
    assert 0.2 < before.mean() < 0.6
    for kind in ACTIVITY_TYPES:
        own = activities["activity_type"] == kind
        assert before[own].any() and (~before[own]).any(), kind


# --- the truth --------------------------------------------------------------------------------


def test_truth_effects_file_follows_the_contract(effects):
    assert set(effects) >= {"intercept", "categorical", "activity", "half_life_days", "post_moment",
                            "planted_change"}
    assert set(effects["categorical"]) == {"industry", "company_size", "country", "seniority", "job_function",
                                           "campaign"}
    assert set(effects["activity"]) == set(effects["half_life_days"]) == set(ACTIVITY_TYPES)
    assert effects["planted_change"]["campaign"] == PLANTED_CAMPAIGN
    assert effects["planted_change"]["from_month"] == "2026-08"
    assert effects["activity"]["pricing_page"] > effects["activity"]["email_open"]


def test_true_probability_is_recomputed_exactly_from_the_files(leads, activities, effects):
    """The truth is additive on the logit in what the files show at the scoring moment."""
    known = leads[leads["moment"] <= AS_OF].set_index("lead_id")
    events = activities[activities["lead_id"].isin(known.index)]
    moment = events["lead_id"].map(known["moment"])
    events = events[events["occurred_at"] < moment]
    age_days = (moment[events.index] - events["occurred_at"]).dt.total_seconds() / 86400
    half_life = events["activity_type"].astype(str).map(effects["half_life_days"])
    decayed = (0.5 ** (age_days / half_life)).groupby([events["lead_id"], events["activity_type"].astype(str)]
                                                        ).sum().unstack(fill_value=0.0)
    decayed = decayed.reindex(index=known.index, columns=list(ACTIVITY_TYPES), fill_value=0.0)
    logit = effects["intercept"] + np.log1p(decayed) @ pd.Series(effects["activity"])[list(ACTIVITY_TYPES)]
    for column, table in effects["categorical"].items():
        logit += known[column].map(table)
    expected = probability_at_moment(1 / (1 + np.exp(-logit.to_numpy())))
    np.testing.assert_allclose(known["true_probability"].to_numpy(), expected, rtol=1e-6, atol=1e-9)


def test_win_rate_by_decile_of_true_probability_matches(mature):
    won = (mature["outcome"] == "won").astype(float)
    decile = pd.qcut(mature["true_probability"], 10, labels=False)
    observed = won.groupby(decile).mean()
    expected = mature["true_probability"].groupby(decile).mean()
    standard_error = np.sqrt(expected * (1 - expected) / won.groupby(decile).size())
    assert (np.abs(observed - expected) < 3.5 * standard_error + 0.005).all()
    assert observed.iloc[-1] > 8 * observed.iloc[0]
    assert 0.78 < roc_auc_score(won, mature["true_probability"]) < 0.88


def test_probability_at_moment_is_the_mean_over_the_follow_up_delay():
    quantiles = (np.arange(200_000) + 0.5) / 200_000
    for p0 in (0.01, 0.3, 0.66, 0.8, 0.99):
        brute_force = np.minimum(1.0, p0 * demo.delay_factor(quantiles)).mean()
        assert probability_at_moment(np.array([p0]))[0] == pytest.approx(brute_force, abs=1e-6)
    assert demo.delay_factor(quantiles).mean() == pytest.approx(1.0)


# --- the planted change -----------------------------------------------------------------------


def test_planted_campaign_appears_only_in_the_last_three_months_and_is_poor(leads, effects):
    planted = planted_mask(leads, effects)
    giveaway = leads["campaign"] == PLANTED_CAMPAIGN
    assert not (giveaway & ~planted).any()
    assert 0.15 < giveaway[planted].mean() < 0.40
    truth = leads["true_probability"]
    assert truth[giveaway].mean() < 0.3 * truth[~giveaway].mean()
    mqls = leads[leads["mql_at"].notna()]
    accepted = mqls["sal_at"].notna()
    acceptance = accepted.groupby(mqls["campaign"] == PLANTED_CAMPAIGN).mean()
    assert acceptance[True] < acceptance[False] - 0.25


def test_planted_mix_shift_and_calm_months_before(leads, effects):
    planted = planted_mask(leads, effects)
    calm = leads[~planted]
    for column in ("company_size", "seniority"):
        calm_table = pd.crosstab(calm["month"], calm[column])
        assert chi2_contingency(calm_table).pvalue > 0.001, column  # stable mix month to month
        shift_table = pd.crosstab(planted, leads[column])
        assert chi2_contingency(shift_table).pvalue < 1e-9, column
    small = leads["company_size"].isin(["1-10", "11-50"])
    junior = leads["seniority"].isin(["Individual contributor", "Entry level"])
    assert small[planted].mean() > small[~planted].mean() + 0.1
    assert junior[planted].mean() > junior[~planted].mean() + 0.08
    campaigns = calm[calm["campaign"] != PLANTED_CAMPAIGN]
    assert chi2_contingency(pd.crosstab(campaigns["month"], campaigns["campaign"])).pvalue > 0.001


def test_sales_reject_more_mqls_in_the_planted_months(leads, effects):
    planted = planted_mask(leads, effects)
    mqls = leads[leads["mql_at"].notna()]
    decided = mqls[mqls["sal_at"].notna() | mqls["rejected_at"].notna()]
    rejection = decided.groupby(planted[decided.index])["rejected_at"].apply(lambda s: s.notna().mean())
    assert rejection[False] < 0.25 < 0.30 < rejection[True]
    reasons = decided.loc[planted[decided.index], "rejection_reason"].value_counts()
    assert reasons.index[0] == "Only wanted the giveaway"


# --- the config -------------------------------------------------------------------------------


def test_config_loads_and_points_at_the_files(demo_config, effects):
    config = load_config(demo_config)
    for location in (config.source.leads, config.source.activities, config.source.truth):
        assert not Path(location).is_absolute()
        assert Path(config.resolve(location)).is_file()
    assert config.scoring.moment == "created" and config.scoring.days_after_created == 7
    assert config.scoring.horizon_days == 180
    assert config.scoring.half_life_days == effects["half_life_days"]
    demographics = ["industry", "company_size", "country", "seniority", "job_function"]
    assert config.families.demographics == demographics
    assert config.families.funnel == ["source", "campaign"]
    assert {"first_name", "last_name", "email", "phone", "owner", "lead_id"} <= set(config.families.ignore)
    assert config.reports_dir == demo_config.parent / "reports"
    assert config.sales.reps >= 1 and config.service_levels.mql_per_month > 0


def test_demo_loads_through_the_loader_without_warnings(demo_config):
    from alignment.loader import load_workspace

    workspace = load_workspace(load_config(demo_config))
    assert workspace.warnings == []
    assert all(len(ids) == 0 for ids in workspace.excluded.values())
    assert len(workspace.leads) == 6000 and workspace.truth is not None
    assert workspace.truth_effects["planted_change"]["campaign"] == PLANTED_CAMPAIGN
    assert workspace.as_of == AS_OF
    assert set(workspace.activities.activity_types) == set(ACTIVITY_TYPES)


def test_parquet_format_and_reports_dir_outside(tmp_path):
    out = write_demo(tmp_path / "data" / "demo", n_leads=400, months=6, file_format="parquet",
                     reports_dir=tmp_path / "reports", end="2025-06-30")
    config = load_config(out / "alignment.toml")
    assert config.source.leads == "leads.parquet" and not (out / "leads.csv").exists()
    assert config.paths.reports == "../../reports"
    assert config.reports_dir.resolve() == (tmp_path / "reports").resolve()
    leads = pd.read_parquet(out / "leads.parquet")
    assert len(leads) == 400 and leads["created_at"].max() <= pd.Timestamp("2025-06-30 23:59:59")
    assert leads["created_at"].min() >= pd.Timestamp("2025-01-01")


# --- writing: atomic, never over someone else's files -----------------------------------------


def test_refuses_a_folder_that_is_not_a_demo_and_leaves_it_alone(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(DataError, match="not written by `alignment demo-data`"):
        write_demo(out, n_leads=300)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_refuses_to_replace_the_current_folder(tmp_path, monkeypatch):
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    for target in (".", ".."):
        with pytest.raises(DataError, match="current folder"):
            write_demo(target, n_leads=300)
    assert list((tmp_path / "here").iterdir()) == []


def test_refuses_a_file_as_out(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(DataError, match="not a folder"):
        write_demo(target, n_leads=300)


def test_replacing_a_demo_keeps_what_the_user_saved(tmp_path):
    out = write_demo(tmp_path / "demo", n_leads=300, seed=1)
    (out / "agreements").mkdir()
    (out / "agreements" / "agreement-v0001.yaml").write_text("signed")
    before = (out / "leads.csv").read_bytes()
    write_demo(out, n_leads=300, seed=2, file_format="parquet")
    assert (out / "agreements" / "agreement-v0001.yaml").read_text() == "signed"
    assert not (out / "leads.csv").exists() and (out / "leads.parquet").is_file()
    write_demo(out, n_leads=300, seed=1)
    assert (out / "leads.csv").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]  # no temporary folders left


def test_a_failed_swap_gives_back_what_the_user_saved(tmp_path, monkeypatch):
    out = write_demo(tmp_path / "demo", n_leads=300, seed=1)
    (out / "agreements").mkdir()
    (out / "agreements" / "agreement-v0001.yaml").write_text("signed")
    before = (out / "leads.csv").read_bytes()
    rename = Path.rename

    def refuse_retiring(self, target):
        if Path(target).name.startswith(".demo.old-"):
            raise OSError("device busy")
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", refuse_retiring)
    with pytest.raises(OSError, match="device busy"):
        write_demo(out, n_leads=300, seed=2)
    assert (out / "agreements" / "agreement-v0001.yaml").read_text() == "signed"
    assert (out / "leads.csv").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]


def test_refuses_to_replace_an_edited_config(tmp_path):
    out = write_demo(tmp_path / "demo", n_leads=300)
    config = out / "alignment.toml"
    config.write_text(config.read_text() + "\n# my change\n")
    with pytest.raises(DataError, match="edited"):
        write_demo(out, n_leads=300)
    assert config.read_text().endswith("# my change\n")


def test_a_failure_midway_writes_nothing(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(demo, "_activities_table", broken)
    with pytest.raises(OSError, match="disk full"):
        write_demo(tmp_path / "demo", n_leads=300)
    assert list(tmp_path.iterdir()) == []


# --- bad parameters ---------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, message", [
    ({"n_leads": 199}, "n_leads"),
    ({"n_leads": 1000.5}, "n_leads"),
    ({"n_leads": True}, "n_leads"),
    ({"months": 5}, "months"),
    ({"months": "24"}, "months"),
    ({"seed": -1}, "seed"),
    ({"seed": 1.5}, "seed"),
    ({"file_format": "xlsx"}, "file_format"),
    ({"end": "yesterday"}, "end"),
    ({"end": "2026-10-31 12:00"}, "end"),
    ({"end": "2026-10-31T00:00:00+02:00"}, "end"),
])
def test_bad_parameters_raise_before_anything_is_written(tmp_path, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        write_demo(tmp_path / "demo", **kwargs)
    assert list(tmp_path.iterdir()) == []


# --- the command line -------------------------------------------------------------------------


def test_cli_writes_the_demo_and_reports_where(tmp_path):
    result = CliRunner().invoke(cli, ["demo-data", "--leads", "300", "--months", "6", "--seed", "5",
                                      "--end", "2025-12-31", "--out", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    assert "300 leads" in result.output and "alignment.toml" in result.output
    assert load_config(tmp_path / "demo" / "alignment.toml").scoring.as_of == "2025-12-31 23:59:59"


def test_cli_bad_end_is_one_line_and_exit_1(tmp_path):
    result = CliRunner().invoke(cli, ["demo-data", "--leads", "300", "--end", "31/10/2026",
                                      "--out", str(tmp_path / "demo")])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "end must be a date" in lines[0] and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []
