"""The threshold engine against a brute-force pandas computation on small data."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from alignment.config import parse_config
from alignment.exceptions import ModelError
from alignment.thresholds import (
    DAYS_PER_MONTH,
    WEEKS_PER_MONTH,
    Proposal,
    ThresholdEngine,
    synthetic_scored_validation,
    wilson_interval,
    write_synthetic_model_dir,
)


@pytest.fixture(scope="module")
def validation() -> pd.DataFrame:
    return synthetic_scored_validation(2000, seed=3)


@pytest.fixture(scope="module")
def engine(validation) -> ThresholdEngine:
    return ThresholdEngine(reps=4, leads_per_rep_per_week=30, cost_per_lead=150).fit(validation)


def brute_force(validation: pd.DataFrame, threshold: float, *, capacity: float, deal_value: float,
                cost: float) -> dict:
    """The same numbers by filtering the frame, the slow obvious way."""
    span = validation["scored_at"].max() - validation["scored_at"].min()
    months = span.total_seconds() / 86400 / DAYS_PER_MONTH
    above = validation[validation["score"] >= threshold]
    below = validation[validation["score"] < threshold]
    per_month = len(above) / months
    return {
        "leads": len(above),
        "leads_per_month": per_month,
        "expected_win_rate": above["probability"].mean() if len(above) else math.nan,
        "observed_win_rate": above["won"].mean() if len(above) else math.nan,
        "wins_captured_share": above["won"].sum() / validation["won"].sum(),
        "wins_missed": int(below["won"].sum()),
        "below_per_month": len(below) / months,
        "workload_per_week": per_month / WEEKS_PER_MONTH,
        "capacity_used": per_month / WEEKS_PER_MONTH / capacity,
        "expected_revenue_per_month": above["probability"].sum() / months * deal_value,
        "expected_value_per_month": (above["probability"].sum() * deal_value - len(above) * cost) / months,
    }


@pytest.mark.parametrize("threshold", [-5, 0, 17, 33.5, 50, 61, 70, 88, 100, 130])
def test_metrics_match_brute_force(engine, validation, threshold):
    got = engine.metrics(threshold)
    want = brute_force(validation, threshold, capacity=4 * 30, deal_value=engine.deal_value_, cost=150)
    for name, value in want.items():
        assert getattr(got, name) == pytest.approx(value, rel=1e-9, abs=1e-12, nan_ok=True), name


def test_deal_value_is_median_won_amount_unless_configured(validation):
    median = validation.loc[validation["won"] == 1, "amount"].median()
    assert ThresholdEngine().fit(validation).deal_value_ == pytest.approx(median)
    assert ThresholdEngine(won_deal_value=12_000).fit(validation).deal_value_ == 12_000


def test_at_or_above_semantics_on_a_tiny_frame():
    tiny = pd.DataFrame({
        "lead_id": ["a", "b", "c", "d"],
        "scored_at": pd.to_datetime(["2025-01-01", "2025-01-11", "2025-01-21", "2025-01-31"]),
        "score": [10, 50, 50, 90],
        "grade": ["D4", "B2", "C2", "A1"],
        "probability": [0.1, 0.3, 0.5, 0.9],
        "won": [0, 1, 0, 1],
        "amount": [np.nan, 1000.0, np.nan, 3000.0],
    })
    engine = ThresholdEngine(reps=1, leads_per_rep_per_week=1, cost_per_lead=0).fit(tiny)
    m = engine.metrics(50)
    assert m.leads == 3 and m.wins_missed == 0
    assert m.expected_win_rate == pytest.approx((0.3 + 0.5 + 0.9) / 3)
    assert engine.months_ == pytest.approx(30 / DAYS_PER_MONTH)
    assert engine.deal_value_ == 2000
    assert engine.metrics(51).leads == 1
    assert engine.metrics(91).leads == 0 and math.isnan(engine.metrics(91).expected_win_rate)
    grades = engine.by_grade(50)
    assert grades.loc["D4", "leads_per_month"] == 0 and grades.loc["B2", "wins_captured"] == 1


def test_wilson_interval_known_value():
    low, high = wilson_interval(8, 20)
    # Wilson 95% interval for 8/20 (textbook value 0.219 to 0.613).
    assert (round(float(low), 3), round(float(high), 3)) == (0.219, 0.613)
    low, high = wilson_interval(0, 0)
    assert math.isnan(low) and math.isnan(high)


def test_interval_contains_observed_rate(engine):
    m = engine.metrics(55)
    assert m.win_rate_low < m.observed_win_rate < m.win_rate_high


def test_by_grade_matches_brute_force(engine, validation):
    got = engine.by_grade(55)
    for grade, rows in validation.groupby("grade"):
        above = rows[rows["score"] >= 55]
        assert got.loc[grade, "leads_per_month"] == pytest.approx(len(above) / engine.months_)
        assert got.loc[grade, "share_of_grade"] == pytest.approx(len(above) / len(rows))
        assert got.loc[grade, "wins_captured"] == above["won"].sum()
        assert got.loc[grade, "wins_missed"] == rows.loc[rows["score"] < 55, "won"].sum()
        if len(above):
            assert got.loc[grade, "expected_win_rate"] == pytest.approx(above["probability"].mean())
    assert got["leads_per_month"].sum() == pytest.approx(engine.metrics(55).leads_per_month)


def test_feasible_zone_matches_brute_force(engine, validation):
    min_volume, min_rate = 60.0, 0.3
    zone = engine.feasible_zone(min_volume, min_rate)
    feasible = []
    for t in np.unique(validation["score"]):
        want = brute_force(validation, t, capacity=120, deal_value=engine.deal_value_, cost=150)
        if (want["leads_per_month"] >= min_volume and want["expected_win_rate"] >= min_rate
                and want["capacity_used"] <= 1):
            feasible.append(float(t))
    assert feasible, "the test constraints should leave a feasible zone"
    assert zone.low == min(feasible) and zone.high == max(feasible)
    assert all(zone.contains(t) for t in feasible)
    assert zone.reason == ""


def test_empty_zone_says_why(engine):
    zone = engine.feasible_zone(min_mql_per_month=1e6, min_win_rate=0.9)
    assert zone.empty and "1,000,000 MQLs a month" in zone.reason and math.isnan(zone.low)


def test_optimum_is_best_expected_value_inside_zone(engine, validation):
    best = engine.optimum(60.0, 0.3)
    zone = engine.feasible_zone(60.0, 0.3)
    values = {t: brute_force(validation, t, capacity=120, deal_value=engine.deal_value_,
                             cost=150)["expected_value_per_month"]
              for t in np.unique(validation["score"]) if zone.contains(t)}
    assert best is not None and zone.contains(best.threshold)
    assert best.expected_value_per_month == pytest.approx(max(values.values()))
    assert engine.optimum(1e6, 0.9) is None


def test_optimum_needs_a_deal_value():
    data = synthetic_scored_validation(300, seed=1).assign(amount=np.nan)
    engine = ThresholdEngine().fit(data)
    assert math.isnan(engine.deal_value_) and engine.optimum() is None
    view = engine.evaluate(Proposal(mql=50, fast_track=70, recycle=20))
    assert view.optimum is None and "won_deal_value" in view.notes[0]


def test_evaluate_full_update(engine):
    proposal = Proposal(mql=55, fast_track=75, recycle=30, mql_per_month=50, min_win_rate=0.25)
    view = engine.evaluate(proposal)
    assert view.mql == engine.metrics(55) and view.fast_track == engine.metrics(75)
    assert view.recycle.threshold == 30 and view.zone == engine.feasible_zone(50, 0.25)
    assert view.in_zone == view.zone.contains(55)
    other = engine.evaluate(proposal, min_mql_per_month=1e6)
    assert other.zone.empty and not other.in_zone


def test_same_inputs_same_numbers(validation):
    a = ThresholdEngine().fit(validation).metrics(58)
    b = ThresholdEngine().fit(validation.sample(frac=1, random_state=5)).metrics(58)
    assert a.leads == b.leads and a.wins_missed == b.wins_missed
    assert a.expected_win_rate == pytest.approx(b.expected_win_rate, rel=1e-12)


def test_grade_cutoffs(engine, validation):
    fit = engine.grade_cutoffs_["fit"]
    assert fit["A"] == validation.loc[validation["fit_grade"] == "A", "fit_score"].min()
    assert set(engine.grade_cutoffs_["engagement"]) == {"1", "2", "3", "4"}


def test_from_model_dir(tmp_path):
    model_dir = write_synthetic_model_dir(tmp_path / "model", n_leads=500, seed=2)
    config = parse_config({"source": {"leads": "x.csv"}, "sales": {"reps": 3, "won_deal_value": 5000}})
    engine = ThresholdEngine.from_model_dir(model_dir, config)
    assert engine.model_version_ == "synthetic-2" and engine.deal_value_ == 5000
    assert engine.capacity_per_week_ == 3 * 25


def test_from_model_dir_errors(tmp_path):
    config = parse_config({"source": {"leads": "x.csv"}})
    with pytest.raises(ModelError, match="scored_validation.parquet.*run `alignment fit`"):
        (tmp_path / "model.json").write_text(json.dumps({"version": "1"}))
        ThresholdEngine.from_model_dir(tmp_path, config)
    synthetic_scored_validation(50).drop(columns="probability").to_parquet(
        tmp_path / "scored_validation.parquet")
    with pytest.raises(ModelError, match="column 'probability'"):
        ThresholdEngine.from_model_dir(tmp_path, config)
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(ModelError, match="model.json: model card is not valid JSON"):
        ThresholdEngine.from_model_dir(tmp_path, config)


@pytest.mark.parametrize("column, value, message", [
    ("probability", 1.5, "probability outside"),
    ("won", 2, "won must be 0 or 1"),
    ("score", np.nan, "column 'score', row 7"),
])
def test_bad_values_name_column_and_row(column, value, message):
    data = synthetic_scored_validation(50)
    data[column] = data[column].astype(float)
    data.loc[7, column] = value
    with pytest.raises(ModelError, match=message):
        ThresholdEngine().fit(data)


def test_no_dates_is_refused():
    data = synthetic_scored_validation(50).assign(scored_at=pd.NaT)
    with pytest.raises(ModelError, match="no scoring dates"):
        ThresholdEngine().fit(data)


def test_empty_is_refused():
    with pytest.raises(ModelError, match="no leads"):
        ThresholdEngine().fit(synthetic_scored_validation(5).iloc[:0])


@pytest.mark.parametrize("params", [
    {"reps": 0}, {"reps": 2.5}, {"leads_per_rep_per_week": 0}, {"won_deal_value": -1},
    {"cost_per_lead": -5}, {"grid_size": 1},
])
def test_bad_parameters(params, validation):
    with pytest.raises(ValueError):
        ThresholdEngine(**params).fit(validation)


def test_bad_queries(engine):
    with pytest.raises(ValueError, match="finite"):
        engine.metrics(float("nan"))
    with pytest.raises(ValueError, match="min_win_rate"):
        engine.feasible_zone(10, 1.5)
    with pytest.raises(ValueError, match="min_mql_per_month"):
        engine.feasible_zone(-1, 0.1)
    with pytest.raises(RuntimeError, match="not fitted"):
        ThresholdEngine().metrics(50)


@pytest.mark.parametrize("kwargs", [
    {"mql": 50, "fast_track": 40, "recycle": 20},
    {"mql": 50, "fast_track": 70, "recycle": 60},
    {"mql": 50, "fast_track": 70, "recycle": 20, "min_win_rate": 2},
    {"mql": 50, "fast_track": 70, "recycle": 20, "mql_per_month": -1},
])
def test_bad_proposals(kwargs):
    with pytest.raises(ValueError):
        Proposal(**kwargs)


def test_real_model_folder_matches_brute_force(fitted_model_dir, demo_config):
    from alignment.config import load_config

    config = load_config(demo_config)
    engine = ThresholdEngine.from_model_dir(fitted_model_dir, config)
    validation = pd.read_parquet(fitted_model_dir / "scored_validation.parquet")
    card = json.loads((fitted_model_dir / "model.json").read_text())
    assert engine.model_version_ == str(card["version"]) and engine.n_leads_ == len(validation)
    capacity = config.sales.reps * config.sales.leads_per_rep_per_week
    for threshold in np.quantile(validation["score"], [0.1, 0.5, 0.8, 0.95]):
        got = engine.metrics(threshold)
        want = brute_force(validation, threshold, capacity=capacity, deal_value=engine.deal_value_,
                           cost=config.sales.cost_per_lead)
        for name, value in want.items():
            assert getattr(got, name) == pytest.approx(value, rel=1e-9, nan_ok=True), name


def test_grade_cutoffs_from_the_model_card(fitted_model_dir, demo_config):
    from alignment.config import load_config

    engine = ThresholdEngine.from_model_dir(fitted_model_dir, load_config(demo_config))
    card = json.loads((fitted_model_dir / "model.json").read_text())
    fit_edges = card["scale"]["grade_cutoffs"]["fit"]
    assert engine.grade_cutoffs_["fit"] == {"A": fit_edges[2], "B": fit_edges[1], "C": fit_edges[0], "D": 0.0}
    validation = pd.read_parquet(fitted_model_dir / "scored_validation.parquet")
    in_a = validation[validation["fit_grade"] == "A"]
    assert (in_a["fit_score"] >= engine.grade_cutoffs_["fit"]["A"]).all()
    in_b = validation.loc[validation["fit_grade"] == "B", "fit_score"]
    assert (in_b < engine.grade_cutoffs_["fit"]["A"]).all()


def test_synthetic_generator_refuses_no_leads():
    with pytest.raises(ValueError, match="n_leads"):
        synthetic_scored_validation(0)
