"""Leakage, constant/duplicate and minimum-data guards (alignment.guards)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alignment.config import parse_config
from alignment.exceptions import ModelError
from alignment.guards import GuardResult, check_minimum_data, screen_columns, single_column_auc


def make_config(**scoring):
    return parse_config({"source": {"leads": "leads.csv"}, "scoring": scoring})


@pytest.fixture(scope="module")
def history():
    """3,000 leads: honest attributes plus columns planted to leak the outcome."""
    rng = np.random.default_rng(11)
    n = 3_000
    industry = rng.choice(["software", "retail", "health", "finance"], n)
    employees = rng.lognormal(4, 1.2, n)
    pricing = rng.poisson(1.0, n).astype(float)
    logit = -1.8 + 0.8 * (industry == "software") + 0.35 * np.log1p(pricing) + 0.2 * np.log(employees / 50)
    won = rng.random(n) < 1 / (1 + np.exp(-logit))
    state = np.where(won, "won", np.where(rng.random(n) < 0.3, "open", "lost"))
    closed = state != "open"
    X = pd.DataFrame({
        "industry": industry,
        "employees": employees,
        "pricing_page_decayed": pricing,
        # Leaks: the CRM's current status, a rating the rep sets when closing, the close value.
        "current_status": np.where(state == "won", "Customer", np.where(closed, "Closed - lost", "Working")),
        "rep_rating": np.where(closed, np.where(won, rng.integers(3, 6, n), rng.integers(1, 4, n)), np.nan),
        "close_value": np.where(won, rng.lognormal(9, 0.5, n), np.nan),
        "call_minutes": rng.exponential(10, n),
        # Harmless but useless: unique per lead, constant, and a relabelled copy of industry.
        "email_hash": [f"h{i:05d}" for i in rng.permutation(n)],
        "country": "DE",
        "industry_code": pd.Series(industry).map({"software": 1, "retail": 2, "health": 3,
                                                  "finance": 4}).astype(float).to_numpy(),
    }, index=pd.Index([f"L{i}" for i in range(n)], name="lead_id"))
    label = pd.Series(np.where(state == "open", np.nan, won.astype(float)), index=X.index, name="label")
    outcome = pd.Series(state, index=X.index)
    family = {c: "demographics" for c in X.columns}
    family["pricing_page_decayed"] = "interest"
    family["current_status"] = "funnel"
    return X, label, outcome, family


def test_planted_leaks_are_caught_with_reasons(history):
    X, label, outcome, family = history
    result = screen_columns(X, label, family, make_config(after_outcome=["call_minutes"]), outcome=outcome)
    assert isinstance(result, GuardResult)
    reasons = {item["column"]: item["reason"] for item in result.leakage}
    assert set(reasons) == {"current_status", "rep_rating", "close_value", "call_minutes"}
    assert "single-column AUC" in reasons["current_status"]
    assert "filled for" in reasons["close_value"] and "won" in reasons["close_value"]
    assert "closed" in reasons["rep_rating"] and "open" in reasons["rep_rating"]
    assert "after_outcome" in reasons["call_minutes"]
    assert result.kept == ["industry", "employees", "pricing_page_decayed", "email_hash"]
    assert result.forced == []


def test_leaks_found_from_the_label_alone(history):
    X, label, _, family = history
    result = screen_columns(X, label, family, make_config())
    flagged = {item["column"] for item in result.leakage}
    assert {"current_status", "close_value"} <= flagged
    assert "call_minutes" in result.kept  # not listed as after-outcome, and it does not predict
    assert result.single_auc["current_status"] >= 0.95


def test_honest_columns_are_not_flagged(history):
    X, label, outcome, family = history
    result = screen_columns(X, label, family, make_config(), outcome=outcome)
    assert 0.55 < result.single_auc["industry"] < 0.8
    assert result.single_auc["email_hash"] < 0.6  # a per-lead id cannot learn its own label
    assert {"industry", "employees", "pricing_page_decayed", "email_hash"} <= set(result.kept)


def test_constant_and_duplicate_columns_are_dropped(history):
    X, label, outcome, family = history
    result = screen_columns(X, label, family, make_config(), outcome=outcome)
    dropped = {item["column"]: item["reason"] for item in result.dropped}
    assert dropped["country"].startswith("constant")
    assert "duplicate of 'industry'" in dropped["industry_code"]
    assert "country" not in result.kept and "industry_code" not in result.kept
    # Two id-like columns split the leads alike but are not the same attribute; a monotone transform is.
    assert "email_hash" in result.kept
    with_log = X.assign(log_employees=np.log(X["employees"]), minus_employees=-X["employees"])
    family = {**family, "log_employees": "demographics", "minus_employees": "demographics"}
    dropped = {item["column"]: item["reason"] for item in
               screen_columns(with_log, label, family, make_config(), outcome=outcome).dropped}
    assert "duplicate of 'employees'" in dropped["log_employees"]
    assert "duplicate of 'employees'" in dropped["minus_employees"]


def test_force_include_keeps_a_leak_loudly(history):
    X, label, outcome, family = history
    config = make_config(force_include=["current_status", "industry", "no_such_column"])
    result = screen_columns(X, label, family, config, outcome=outcome)
    assert result.forced == ["current_status"]
    assert "current_status" in result.kept
    assert "current_status" not in {item["column"] for item in result.leakage}
    loud = [w for w in result.warnings if w.startswith("LEAKAGE FORCED IN: 'current_status'")]
    assert len(loud) == 1 and "force_include" in loud[0]
    assert any(w.startswith("FORCED IN: 'industry' is kept") and "not proof" in w for w in result.warnings)
    assert any("'no_such_column', which is not a feature column" in w for w in result.warnings)
    assert result.kept.index("current_status") < result.kept.index("email_hash")  # X's order


def test_unknown_after_outcome_column_is_warned(history):
    X, label, outcome, family = history
    result = screen_columns(X, label, family, make_config(after_outcome=["rep_ratin"]), outcome=outcome)
    assert any("'rep_ratin', which is not a feature column" in w for w in result.warnings)


def test_screening_is_reproducible(history):
    X, label, outcome, family = history
    first = screen_columns(X, label, family, make_config(seed=5), outcome=outcome)
    second = screen_columns(X, label, family, make_config(seed=5), outcome=outcome)
    assert first == second


def test_one_class_skips_auc_with_a_warning(history):
    X, label, _, family = history
    all_lost = label.where(label.isna(), 0.0)
    result = screen_columns(X[["industry", "employees"]], all_lost, family, make_config())
    assert result.single_auc == {}
    assert any("AUC leakage check was skipped" in w for w in result.warnings)


def test_single_column_auc_encodings():
    y = np.array([0, 0, 0, 1, 1, 1] * 50)
    assert single_column_auc(pd.Series(-y.astype(float)), y) == pytest.approx(1.0)  # negation counts
    missing_for_losses = pd.Series(np.where(y == 1, 5.0, np.nan))
    assert single_column_auc(missing_for_losses, y) == pytest.approx(1.0)  # missing is a level
    categories = pd.Series(np.where(y == 1, "a", "b"))
    assert single_column_auc(categories, y) == pytest.approx(1.0)
    with_infinity = pd.Series(np.where(y == 1, np.inf, np.arange(len(y), dtype=float)))
    assert single_column_auc(with_infinity, y) == pytest.approx(1.0)
    assert single_column_auc(pd.Series([np.nan] * len(y)), y) == 0.5
    u_shaped = pd.Series(np.where(y == 1, 2.0, np.tile([1.0, 3.0], 150)))  # won in the middle
    assert single_column_auc(u_shaped, y) == pytest.approx(1.0)  # few levels: screened level by level


def test_single_column_auc_bad_parameters():
    y = np.array([0, 1, 0, 1])
    with pytest.raises(TypeError, match="Series"):
        single_column_auc(np.arange(4.0), y)
    with pytest.raises(ValueError, match="same length"):
        single_column_auc(pd.Series(np.arange(3.0)), y)
    with pytest.raises(ValueError, match="both classes"):
        single_column_auc(pd.Series(np.arange(4.0)), np.zeros(4))
    with pytest.raises(ValueError, match="0/1"):
        single_column_auc(pd.Series(np.arange(4.0)), np.array([0, 2, 0, 1]))


def test_bad_parameters(history):
    X, label, outcome, family = history
    config = make_config()
    with pytest.raises(TypeError, match="X must be a DataFrame"):
        screen_columns(X.to_numpy(), label, family, config)
    with pytest.raises(ValueError, match="duplicate column"):
        screen_columns(pd.concat([X, X[["industry"]]], axis=1), label, family, config)
    with pytest.raises(TypeError, match="label must be a Series"):
        screen_columns(X, label.to_numpy(), family, config)
    with pytest.raises(ValueError, match="same index"):
        screen_columns(X, label.iloc[::-1], family, config)
    with pytest.raises(ValueError, match="1.0"):
        screen_columns(X, label.fillna(2.0), family, config)
    with pytest.raises(TypeError, match="family"):
        screen_columns(X, label, list(family), config)
    with pytest.raises(ValueError, match="no valid family"):
        screen_columns(X, label, {**family, "industry": "who"}, config)
    with pytest.raises(TypeError, match="config"):
        screen_columns(X, label, family, {"scoring": {}})
    with pytest.raises(ValueError, match="outcome must be a Series"):
        screen_columns(X, label, family, config, outcome=outcome.iloc[:10])
    with pytest.raises(ValueError, match="won / lost / open"):
        screen_columns(X, label, family, config, outcome=outcome.replace("won", "Closed Won"))


def test_minimum_data_warnings_and_refusal():
    assert check_minimum_data(5_000, 400) == []
    warnings = check_minimum_data(800, 100)
    assert len(warnings) == 2
    assert "800 labelled leads" in warnings[0] and "100 won leads" in warnings[1]
    assert len(check_minimum_data(999, 500)) == 1
    assert check_minimum_data(1_000, 120) == []
    assert len(check_minimum_data(np.int64(1_000), np.int64(30))) == 1
    with pytest.raises(ModelError, match="only 29 won leads") as refused:
        check_minimum_data(50_000, 29)
    assert "\n" not in str(refused.value)


def test_minimum_data_bad_parameters():
    with pytest.raises(TypeError, match="n_leads"):
        check_minimum_data(1000.0, 100)
    with pytest.raises(TypeError, match="n_wins"):
        check_minimum_data(1000, True)
    with pytest.raises(ValueError, match="n_leads must be ≥ 0"):
        check_minimum_data(-1, 0)
    with pytest.raises(ValueError, match="n_wins must be ≥ 0"):
        check_minimum_data(10, -5)
    with pytest.raises(ValueError, match="cannot exceed"):
        check_minimum_data(100, 200)


# --- planted leaks in a real export, through the real loader and features ----------------------


@pytest.fixture(scope="module")
def leaky_demo(demo_dir, tmp_path_factory):
    import shutil
    import tomllib

    import tomli_w

    from alignment.config import load_config
    from alignment.features import build_features
    from alignment.loader import load_workspace

    out = tmp_path_factory.mktemp("leaky")
    leads = pd.read_csv(demo_dir / "leads.csv", dtype=str, keep_default_na=False)
    rng = np.random.default_rng(4)
    won, closed = leads["outcome"] == "won", leads["outcome"].isin(["won", "lost"])
    leads["deal_status"] = np.where(won, "Customer", np.where(closed, "Closed - Lost", "Working"))
    rating = np.where(won, rng.integers(3, 6, len(leads)), rng.integers(1, 4, len(leads)))
    leads["rep_quality_rating"] = np.where(closed, rating.astype(str), "")
    leads["close_value"] = np.where(won, (rng.lognormal(9, 0.4, len(leads))).round().astype(str), "")
    leads.to_csv(out / "leads.csv", index=False)
    for name in ("activities.parquet", "truth.parquet", "truth_effects.json"):
        shutil.copy(demo_dir / name, out / name)
    settings = tomllib.loads((demo_dir / "alignment.toml").read_text())
    settings["families"]["demographics"] += ["rep_quality_rating", "close_value"]
    settings["families"]["funnel"] += ["deal_status"]
    (out / "alignment.toml").write_text(tomli_w.dumps(settings))
    config = load_config(out / "alignment.toml")
    workspace = load_workspace(config)
    features = build_features(workspace, config)
    outcome = workspace.leads.set_index("lead_id")["outcome"].reindex(features.X.index)
    return config, features, outcome


def test_planted_leaks_in_an_export_are_caught(leaky_demo):
    config, features, outcome = leaky_demo
    result = screen_columns(features.X, features.label, features.family, config, outcome=outcome)
    reasons = {item["column"]: item["reason"] for item in result.leakage}
    assert set(reasons) == {"deal_status", "rep_quality_rating", "close_value"}
    assert "single-column AUC" in reasons["deal_status"]
    assert "closed" in reasons["rep_quality_rating"]
    assert "won" in reasons["close_value"]
    # The honest demo features survive; the stage flags (never reached 7 days after creation) are constant.
    assert {"industry", "company_size", "campaign", "pricing_page_decayed", "demo_request_decayed"} <= set(
        result.kept)
    assert all(item["reason"].startswith("constant") for item in result.dropped)
    assert max(result.single_auc[c] for c in result.kept) < 0.8


def test_a_status_like_name_alone_is_only_suspected_and_kept():
    rng = np.random.default_rng(4)
    n = 3_000
    X = pd.DataFrame({"industry": rng.choice(["a", "b", "c"], n), "employees": rng.gamma(2.0, 50, n),
                      "region": rng.choice(["north", "south"], n),
                      "lead_status": rng.choice(["x", "y", "z"], n)})
    y = (rng.random(n) < np.where(X["industry"] == "a", 0.3, 0.1)).astype(float)
    family = dict.fromkeys(X.columns, "demographics")
    result = screen_columns(X, pd.Series(y, index=X.index), family, make_config())
    assert "lead_status" in result.kept
    suspected = {item["column"]: item for item in result.suspected}
    assert suspected["lead_status"]["evidence"] == ["its name reads like a status or result set by sales"]
    assert not result.leakage


def test_outcome_naming_values_without_signal_are_suspected_with_signal_left_out():
    rng = np.random.default_rng(5)
    n = 3_000
    y = (rng.random(n) < 0.2).astype(float)
    tags = np.array(["No answer", "Will call back", "Not interested", "Sent brochure"])
    X = pd.DataFrame({
        "industry": rng.choice(["a", "b", "c"], n), "region": rng.choice(["north", "south"], n),
        "noise_note": rng.choice(tags, n),  # names dispositions, says nothing about the outcome
        "call_note": np.where(y == 1, rng.choice(tags[1:3], n), rng.choice(tags[[0, 2, 3]], n)),
    })
    family = dict.fromkeys(X.columns, "demographics")
    result = screen_columns(X, pd.Series(y, index=X.index), family, make_config())
    assert "call_note" in {item["column"] for item in result.leakage}
    assert "noise_note" in {item["column"] for item in result.suspected} and "noise_note" in result.kept


def test_a_missing_band_made_of_open_leads_is_left_out_under_a_neutral_name():
    rng = np.random.default_rng(6)
    n = 3_000
    outcome = rng.choice(["won", "lost", "open"], n, p=[0.3, 0.4, 0.3])
    account = rng.choice(["acme", "globex", "initech"], n).astype(object)
    account[(outcome == "open") & (rng.random(n) < 0.8)] = None
    X = pd.DataFrame({"industry": rng.choice(["a", "b"], n), "size": rng.gamma(2.0, 10, n),
                      "account": account})
    label = pd.Series(np.where(outcome == "won", 1.0, np.where(outcome == "lost", 0.0, np.nan)),
                      index=X.index)
    family = dict.fromkeys(X.columns, "demographics")
    result = screen_columns(X, label, family, make_config(), outcome=pd.Series(outcome, index=X.index))
    reasons = {item["column"]: item["reason"] for item in result.leakage}
    assert "still open at the export" in reasons["account"]
    assert "account" not in result.kept


def test_id_like_duplicates_are_found_by_order_or_equal_values_and_distinct_ones_kept():
    rng = np.random.default_rng(9)
    n = 2_000
    size = rng.gamma(2.0, 100, n)
    X = pd.DataFrame({"size": size, "minus_size": -size, "log_size": np.log1p(size),
                      "other_number": rng.normal(size=n), "token": [f"t{i}" for i in range(n)],
                      "token_copy": [f"t{i}" for i in range(n)], "industry": rng.choice(["a", "b"], n)})
    X["token_other"] = X["token"].sample(frac=1.0, random_state=1).to_numpy()
    y = (rng.random(n) < 0.3).astype(float)
    family = dict.fromkeys(X.columns, "demographics")
    result = screen_columns(X, pd.Series(y, index=X.index), family, make_config())
    dropped = {item["column"]: item["reason"] for item in result.dropped}
    assert set(dropped) == {"minus_size", "log_size", "token_copy"}
    assert "duplicate of 'size'" in dropped["minus_size"] and "duplicate of 'token'" in dropped["token_copy"]
    assert {"other_number", "token_other"} <= set(result.kept)


def test_the_out_of_fold_rate_is_each_rows_level_rate_on_the_other_folds():
    from sklearn.model_selection import KFold

    from alignment.guards import TARGET_FOLDS, _out_of_fold_rate

    rng = np.random.default_rng(4)
    codes = rng.integers(0, 5, size=503)
    codes[:3] = 5  # a rare level: some folds never see it outside themselves, and get the overall rate
    y = (rng.random(codes.size) < 0.3).astype(float)
    expected = np.empty(codes.size)
    for _, fold in KFold(TARGET_FOLDS, shuffle=True, random_state=9).split(codes):
        outside = np.setdiff1d(np.arange(codes.size), fold)
        for row in fold:
            same = outside[codes[outside] == codes[row]]
            expected[row] = y[same].mean() if same.size else y[outside].mean()
    np.testing.assert_array_equal(_out_of_fold_rate(codes, y, seed=9), expected)
