"""The shapes of real CRM exports (tests/exports.py), through the config, loader and commands users run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alignment.model import fit_model
from tests.exports import write_call_campaign, write_consumer_export, write_pipeline


@pytest.fixture(scope="module")
def consumer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_consumer_export(tmp_path_factory.mktemp("consumer"))


@pytest.fixture(scope="module")
def calls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_call_campaign(tmp_path_factory.mktemp("calls"))


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pipeline(tmp_path_factory.mktemp("pipeline"))


@pytest.fixture(scope="module")
def consumer_card(consumer: Path) -> dict:
    return fit_model(consumer, progress=False).card


@pytest.fixture(scope="module")
def calls_card(calls: Path) -> dict:
    return fit_model(calls, progress=False).card


@pytest.fixture(scope="module")
def pipeline_card(pipeline: Path) -> dict:
    return fit_model(pipeline, progress=False).card


def _left_out(card: dict) -> dict[str, str]:
    return {item["column"]: item["reason"] for item in card["leakage"]}


# --- 1. leaks the guard did not see --------------------------------------------------------------------


def test_a_status_tag_naming_dispositions_is_left_out(consumer_card: dict) -> None:
    reasons = _left_out(consumer_card)
    assert "Tags" in reasons
    assert "name an outcome or a sales disposition" in reasons["Tags"]
    assert "Tags" not in consumer_card["features"]["by_family"]["demographics"]


def test_a_rating_filled_mostly_for_converted_leads_is_left_out(consumer_card: dict) -> None:
    reasons = _left_out(consumer_card)
    assert "Lead Quality" in reasons and "filled for" in reasons["Lead Quality"]
    # Without the two leaks the scale does not claim the near-perfect ranking they gave it (0.97 before).
    assert consumer_card["metrics"]["holdout"]["auc"] < 0.9
    # The honest strongest signal stays in.
    used = [c for columns in consumer_card["features"]["by_family"].values() for c in columns]
    assert "Total Time Spent on Website" in used


def test_a_call_duration_stronger_than_everything_else_is_left_out_under_a_neutral_name(
    calls_card: dict,
) -> None:
    reasons = _left_out(calls_card)
    assert "duration" in reasons and "all the other columns together" in reasons["duration"]
    # poutcome (the previous campaign's success / failure) is known before the call: kept.
    assert "poutcome" not in reasons


def test_an_account_blank_for_open_deals_is_left_out(pipeline_card: dict) -> None:
    reasons = _left_out(pipeline_card)
    assert "sector" in reasons and "still open at the export" in reasons["sector"]


def test_the_demo_history_keeps_every_honest_column(fitted_model_dir: Path) -> None:
    card = json.loads((fitted_model_dir / "model.json").read_text())
    assert card["leakage"] == []
    assert card["suspected_leakage"] == []


# --- 2. a history that shifts under the scale ---------------------------------------------------------


def test_a_shifting_history_is_warned_in_words(calls_card: dict) -> None:
    warnings = "\n".join(calls_card["warnings"])
    assert "the win rate moves across the windows" in warnings
    assert "near or below chance" in warnings
    assert "expected calibration error" in warnings
    assert "'month':" in warnings and "rare or absent in training" in warnings


# --- 3. every optional contract column really optional ----------------------------------------------------


def _cli(*args: str):
    from click.testing import CliRunner

    from alignment.cli import cli

    return CliRunner().invoke(cli, list(args))


def test_validate_says_a_dateless_export_cannot_have_a_monthly_review(consumer: Path) -> None:
    result = _cli("validate", "--config", str(consumer))
    assert result.exit_code == 0
    assert "there can be no monthly review (it needs created_at)" in result.output


@pytest.mark.slow
def test_a_monthly_review_of_a_dateless_export_is_one_line(consumer: Path, consumer_card: dict) -> None:
    result = _cli("report", "--config", str(consumer))
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert lines == [
        f"error: {consumer}, column 'created_at': a monthly review needs created_at (the date each "
        "lead was created): this export has no dates — map the export's creation date onto "
        "created_at in the config [mapping]"
    ]
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_a_review_of_an_export_without_stage_dates_measures_what_it_can(
    pipeline: Path, pipeline_card: dict
) -> None:
    result = _cli("report", "--config", str(pipeline), "--month", "2026-06")
    assert result.exit_code == 0, result.output
    month = pipeline.parent / "reports" / "2026-06"
    metrics = json.loads((month / "metrics.json").read_text())
    assert set(metrics["not_measured"]) == {
        "mql_volume",
        "acceptance",
        "speed_to_lead",
        "campaign_quality",
        "source_quality",
    }
    assert metrics["acceptance"] is None and metrics["speed_to_lead"] is None
    assert [row["count"] for row in metrics["funnel"] if row["stage"] in ("mql", "sal", "sql")] == [None] * 3
    assert metrics["verdict"] != "keep" or len(metrics["not_judged"]) < 4
    assert {"rejection rate", "commitments"} <= {item["rule"] for item in metrics["not_judged"]}
    page = (month / "review.html").read_text()
    assert "Not measured: the export has no mql_at" in page
    assert "no first touch yet" not in page and "0% touched" not in page


def test_validate_prints_what_the_leakage_guard_would_leave_out(consumer: Path) -> None:
    result = _cli("validate", "--config", str(consumer))
    assert "leakage guard: 2 left out" in result.output
    assert "  left out (leakage): Tags:" in result.output
    assert "  left out (leakage): Lead Quality:" in result.output


def test_forcing_an_unflagged_column_in_says_it_is_no_proof_of_safety(consumer: Path, tmp_path: Path) -> None:
    config = tmp_path / "alignment.toml"
    config.write_text(
        consumer.read_text().replace('leads = "leads.csv"', f'leads = "{consumer.parent}/leads.csv"')
        + '\n[scoring]\nforce_include = ["City"]\n',
        encoding="utf-8",
    )
    result = _cli("validate", "--config", str(config))
    assert "warning: FORCED IN: 'City' is kept because scoring.force_include lists it" in result.output
    assert "nothing to force" not in result.output


# --- 4. scoring new leads as they arrive ---------------------------------------------------------------


@pytest.fixture(scope="module")
def pipeline_model(pipeline: Path, pipeline_card: dict) -> Path:
    return pipeline.parent / "model"


def _score(deals, pipeline: Path, model: Path, folder: Path):
    """``alignment score`` of ``deals`` (a frame of new deals) with the pipeline's config; the scores."""
    import pandas as pd

    deals.to_csv(folder / "new.csv", index=False)
    out = folder / "scored.csv"
    result = _cli("score", "--model", str(model), "--input", str(folder / "new.csv"), "--out", str(out),
                  "--config", str(pipeline))
    assert result.exit_code == 0, result.output
    return pd.read_csv(out)


def test_one_new_deal_without_outcome_or_close_date_is_scored_through_the_joins(
    pipeline: Path, pipeline_model: Path, tmp_path: Path
) -> None:
    import pandas as pd

    deals = pd.read_csv(pipeline.parent / "sales_pipeline.csv")
    scored = _score(deals[["opportunity_id", "sales_agent", "product", "account"]].head(1), pipeline,
                    pipeline_model, tmp_path)
    assert len(scored) == 1
    reasons = " ".join(scored[["reason_1", "reason_2", "reason_3"]].fillna("").iloc[0])
    # attributes that only the joined tables carry (the team's office, the product's series) were scored
    assert "Regional office" in reasons or "Series" in reasons or "Sales price" in reasons


def test_a_batch_whose_category_is_blank_in_every_row_is_scored(
    pipeline: Path, pipeline_model: Path, tmp_path: Path
) -> None:
    import pandas as pd

    deals = pd.read_csv(pipeline.parent / "sales_pipeline.csv").head(3).assign(product="")
    new = deals.drop(columns=["deal_stage", "close_date", "close_value"])
    assert len(_score(new, pipeline, pipeline_model, tmp_path)) == 3


def test_reasons_read_as_plain_numbers_with_the_attribute_name() -> None:
    import numpy as np
    import pandas as pd

    from alignment.scorecard import PointsScorecard

    rng = np.random.default_rng(1)
    employees = rng.gamma(1.5, 4_000, 3_000).round()
    y = (rng.random(3_000) < 1 / (1 + np.exp(1.5 - employees / 6_000))).astype(int)
    X = pd.DataFrame({"Number of Employees": employees,
                      "company_size": rng.choice(["small", "large"], 3_000)})
    scale = PointsScorecard(n_boot=0, random_state=0).fit(X, y)
    bands = scale.points_.loc[scale.points_["attribute"] == "Number of Employees", "band"].tolist()
    assert not any("e+" in band for band in bands) and any("," in band for band in bands)  # 5,100 not 5.1e+03
    reasons = scale.score_frame(X.head(50))[["reason_1", "reason_2"]].to_numpy().ravel()
    assert any(str(r).startswith("Number of Employees: ") for r in reasons)
    assert any(str(r).startswith("Company size: ") for r in reasons)
    # The reasons read as the points table's labels: edges rounded, a range written as people do.
    labels = set(scale.points_["label"])
    assert {str(r).rsplit(" (", 1)[0] for r in reasons if r} <= labels
    assert not any(" to < " in label for label in labels)


# --- 5. guesses that mislead -------------------------------------------------------------------------------


def test_a_bare_yes_no_outcome_is_the_first_candidate(calls: Path, tmp_path: Path) -> None:
    config = tmp_path / "bare.toml"
    config.write_text(f'[source]\nleads = "{calls.parent}/calls.csv"\n', encoding="utf-8")
    result = _cli("validate", "--config", str(config))
    assert result.exit_code == 1
    assert "map one of 'y', 'poutcome' onto outcome" in result.output


def test_a_campaign_column_of_counts_is_warned(tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    pd.DataFrame(
        {
            "age": rng.integers(20, 70, 400),
            "campaign": rng.integers(1, 8, 400),
            "y": rng.choice(["yes", "no"], 400),
        }
    ).to_csv(tmp_path / "bank.csv", index=False)
    (tmp_path / "alignment.toml").write_text('[source]\nleads = "bank.csv"\n[mapping]\ny = "outcome"\n')
    result = _cli("validate", "--config", str(tmp_path / "alignment.toml"))
    assert "column 'campaign' holds numbers (1, 2, 3, 4, …), not campaign names" in result.output


def test_join_keys_that_differ_by_spelling_show_the_closest_value(pipeline: Path) -> None:
    result = _cli("validate", "--config", str(pipeline))
    assert "unmatched: 'GTXPro' (" in result.output and "closest there: 'GTX Pro'" in result.output


def test_the_fit_notes_count_won_and_lost_leads_inside_the_horizon(pipeline_card: dict) -> None:
    note = next(n for n in pipeline_card["data"]["notes"] if "horizon has not passed" in n)
    won, lost = (
        int(part.split()[0].replace(",", "")) for part in note.split("(")[1].split(")")[0].split(", ")
    )
    total = int(note.split()[0].replace(",", ""))
    assert won + lost == total and lost > 0


def test_a_dateless_fit_has_no_note_about_days_after_creation(consumer_card: dict) -> None:
    notes = " ".join(consumer_card["data"]["notes"])
    assert "days after creation" not in notes and "no created_at" in notes


# --- 6. quiet for a scheduler -------------------------------------------------------------------------


@pytest.mark.slow
def test_commands_write_no_progress_bars_or_kernel_notices_when_stderr_is_not_a_terminal(
    pipeline: Path, tmp_path: Path
) -> None:
    import shutil
    import subprocess
    import sys

    work = tmp_path / "pipeline"
    shutil.copytree(pipeline.parent, work, ignore=shutil.ignore_patterns("model*", "reports"))
    command = [str(Path(sys.executable).with_name("alignment")), "--help"]
    assert subprocess.run(command, capture_output=True).returncode == 0
    fit = subprocess.run(
        [command[0], "fit", "--config", str(work / "alignment.toml")], capture_output=True, text=True
    )
    assert fit.returncode == 0, fit.stderr
    assert fit.stderr == ""
    rendered = subprocess.run(
        [command[0], "report", "--config", str(work / "alignment.toml"), "--month", "2026-05"],
        capture_output=True,
        text=True,
    )
    assert rendered.returncode == 0, rendered.stderr
    assert (
        "IPKernelApp" not in rendered.stderr
        and "Executing" not in rendered.stderr
        and "%|" not in rendered.stderr
    )
    lines = [line for line in rendered.stderr.splitlines() if "review.pdf skipped" not in line]
    assert lines == [
        f"2026-05: {work / 'reports' / '2026-05' / 'review.html'}",
        f"2026-05: summary for e-mail: {work / 'reports' / '2026-05' / 'summary.md'}",
        f"index: {work / 'reports' / 'index.html'}",
    ]


# --- the cautions reach the workshop's header and notebook 01 ---------------------------------------------


def test_the_workshop_header_shows_the_fits_cautions_escaped(calls: Path, calls_card: dict) -> None:
    from alignment.plots import warnings_frame
    from alignment.workshop import build_workshop

    workshop = build_workshop(calls)
    header = workshop.children[0].value
    assert "cautions about this scale" in header
    assert "the win rate moves across the windows" in header
    assert "Left out as leakage: &#x27;duration&#x27;" in header
    assert "duration" in set(warnings_frame(calls_card)["column"])
