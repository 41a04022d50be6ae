"""The accountability loop: agreements in force on a date, signed from the command line, sealed; each month
held to the version in force on its first day, each team's commitments scored, the next actions named."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from alignment.agreement import in_force_on, list_agreements, verify_history
from alignment.cli import cli
from alignment.commitments import next_actions, score_commitments


def _cli(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def workspace(demo_dir: Path, fitted_model_dir: Path, tmp_path: Path) -> Path:
    """A private demo workspace with the session's fitted scale; the config's path."""
    root = tmp_path / "workspace"
    shutil.copytree(demo_dir, root, ignore=shutil.ignore_patterns("reports", "agreements"))
    shutil.rmtree(root / "model", ignore_errors=True)
    shutil.copytree(fitted_model_dir, root / "model")
    config = root / "alignment.toml"
    config.write_text(re.sub(r'(?m)^reports = ".*"$', 'reports = "reports"', config.read_text()))
    return config


def _sign(config: Path, *extra: str) -> str:
    result = _cli(
        "agreement", "sign", "--config", str(config), "--marketing", "Maria", "--sales", "Sam", *extra
    )
    assert result.exit_code == 0, result.output
    return result.output.strip()


# --- signing without a browser --------------------------------------------------------------------


def test_sign_prints_the_version_and_its_date_and_fills_service_levels_from_the_config(
    workspace: Path,
) -> None:
    line = _sign(
        workspace, "--mql", "50", "--fast-track", "80", "--recycle", "20", "--effective-from", "2026-04-01"
    )
    assert line == "agreement v1 signed, in force from 2026-04-01"
    (agreement,) = list_agreements(workspace.parent / "agreements")
    assert agreement.effective_from == dt.date(2026, 4, 1) and agreement.signed_at is not None
    assert agreement.service_levels.follow_up_hours == 24.0  # the config's [service_levels]
    card = json.loads((workspace.parent / "model" / "model.json").read_text())
    assert agreement.model_version == card["version"] and agreement.grade_cutoffs


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mql", "50", "--fast-track", "40", "--recycle", "20"], "recycle <= mql <= fast_track"),
        (
            ["--mql", "50", "--fast-track", "80", "--recycle", "20", "--effective-from", "2026-02-30"],
            "not a date",
        ),
        (["--mql", "50", "--fast-track", "80", "--recycle", "20", "--model", "/nowhere"], "no fitted model"),
        (["--fast-track", "80", "--recycle", "20"], "needs --mql"),
    ],
)
def test_bad_signing_input_is_one_line_and_writes_nothing(
    workspace: Path, args: list[str], message: str
) -> None:
    result = _cli("agreement", "sign", "--config", str(workspace), "--marketing", "M", "--sales", "S", *args)
    assert result.exit_code == 1 and message in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert not list(workspace.parent.glob("agreements/agreement-*"))  # nothing written


def test_a_missing_signer_is_refused(workspace: Path) -> None:
    result = _cli(
        "agreement",
        "sign",
        "--config",
        str(workspace),
        "--mql",
        "50",
        "--fast-track",
        "80",
        "--recycle",
        "20",
        "--marketing",
        " ",
        "--sales",
        "Sam",
    )
    assert result.exit_code == 1 and "needs a signer for marketing" in result.output


def test_diff_says_what_changed_in_words(workspace: Path) -> None:
    _sign(workspace, "--mql", "50", "--fast-track", "80", "--recycle", "20", "--effective-from", "2026-04-01")
    _sign(
        workspace,
        "--mql",
        "55",
        "--fast-track",
        "80",
        "--recycle",
        "20",
        "--mql-per-month",
        "400",
        "--effective-from",
        "2026-09-15",
    )
    result = _cli("agreement", "diff", "--config", str(workspace), "1", "2")
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "v1 → v2: 3 changes",
        "  The MQL threshold went from 50 to 55.",
        "  Marketing's commitment went from 100 MQLs a month to 400 MQLs a month.",
        "  In force from 2026-09-15 (v1 from 2026-04-01).",
    ]


# --- tamper evidence ------------------------------------------------------------------------------


def test_verify_catches_any_edit_of_a_saved_version(workspace: Path) -> None:
    _sign(workspace, "--mql", "50", "--fast-track", "80", "--recycle", "20")
    _sign(workspace, "--mql", "55", "--fast-track", "80", "--recycle", "20")
    folder = workspace.parent / "agreements"
    result = _cli("agreement", "verify", "--config", str(workspace))
    assert result.exit_code == 0 and result.output.strip() == "2 versions, history intact"
    first = sorted(folder.glob("agreement-v0001-*"))[0]
    original = first.read_text()
    first.write_text(original.replace("# Never edit", "# never edit"))  # a comment only
    result = _cli("agreement", "verify", "--config", str(workspace))
    assert result.exit_code == 1 and "v1 was changed after it was saved" in result.output
    # an editor who also rewrites the seal is caught by the digest v2 keeps of v1
    import hashlib

    body = original.rsplit("# sha256: ", 1)[0].replace("mql: 50.0", "mql: 45.0")
    first.write_text(body + "# sha256: " + hashlib.sha256(body.encode()).hexdigest() + "\n")
    count, problem = verify_history(folder)
    assert count == 2 and problem.startswith("v1 was changed after v2 was signed")


# --- each month held to the version in force on its first day -------------------------------------


def test_a_month_is_held_to_the_version_in_force_on_its_first_day(workspace: Path) -> None:
    from alignment.review.report import agreement_for_month, review_month

    _sign(workspace, "--mql", "50", "--fast-track", "80", "--recycle", "20", "--effective-from", "2026-05-01")
    _sign(workspace, "--mql", "55", "--fast-track", "85", "--recycle", "20", "--effective-from", "2026-09-15")
    folder = workspace.parent / "agreements"
    assert in_force_on(folder, dt.date(2026, 4, 30)) is None
    assert agreement_for_month(folder, pd.Period("2026-04", "M"))[0] is None
    held, record = agreement_for_month(folder, pd.Period("2026-09", "M"))
    assert held.version == 1
    assert record["taking_effect"] == "v2 takes effect on 2026-09-15; this month is held to v1"
    assert agreement_for_month(folder, pd.Period("2026-10", "M"))[0].version == 2

    september = review_month(workspace, "2026-09").metrics["agreement"]
    october = review_month(workspace, "2026-10").metrics["agreement"]
    assert (september["version"], october["version"]) == (1, 2)
    assert september["thresholds"]["mql"] == 50 and october["thresholds"]["mql"] == 55
    assert september["effective_from"] == "2026-05-01" and september["signed_by"]["marketing"] == "Maria"
    assert re.fullmatch(r"[0-9a-f]{64}", september["sha256"])
    assert september["history"] == "agreement history intact"
    april = review_month(workspace, "2026-04").metrics
    assert april["agreement"]["in_force"] is False and april["commitments"] == []


def test_the_model_version_does_not_depend_on_paths(demo_config: Path, tmp_path: Path) -> None:
    from alignment.model import fit_model

    moved = tmp_path / "moved.toml"
    text = demo_config.read_text().replace('reports = "', 'reports = "elsewhere/')
    text = re.sub(
        r'(?m)^(leads|activities|truth) = "(.+)"$', lambda m: f'{m[1]} = "{demo_config.parent}/{m[2]}"', text
    )
    moved.write_text(text)
    first = fit_model(demo_config, out=tmp_path / "a", progress=False).version
    second = fit_model(moved, out=tmp_path / "b", progress=False).version
    assert first == second


# --- commitments and actions ----------------------------------------------------------------------


AGREED = {
    "in_force": True,
    "service_levels": {
        "mql_per_month": 330,
        "min_win_rate": 0.07,
        "follow_up_hours": 24,
        "accept_within_days": 5,
    },
}


def test_each_commitment_is_met_missed_or_not_measured_with_why() -> None:
    metrics = {
        "agreement": AGREED,
        "mql_volume": {"mqls": 290, "expected_win_rate": 0.09},
        "speed_to_lead": {"share_within": 0.69},
        "acceptance": None,
        "not_measured": {"acceptance": "Not measured: the export has no sal_at or rejected_at (…)"},
    }
    scored = {item["commitment"]: item for item in score_commitments(metrics)}
    assert scored["at least 330 MQLs a month"]["status"] == "missed"
    assert scored["at least 330 MQLs a month"]["delivered"] == 290
    assert scored["MQLs' expected win rate at least 7%"]["status"] == "met"
    assert scored["first touch within 24 hours"]["status"] == "missed"
    answer = scored["accept or reject within 5 days, with a reason"]
    assert answer["status"] == "not measured" and "sal_at" in answer["why"]
    assert {item["team"] for item in scored.values()} == {"marketing", "sales"}
    actions = next_actions(metrics, list(scored.values()))
    assert actions == [
        {
            "team": "marketing",
            "action": "290 MQLs handed over against 330 agreed: close the gap next month, or "
            "renegotiate the commitment in a workshop",
        },
        {
            "team": "sales",
            "action": "31% of MQLs had no first touch within 24 hours: assign the queue daily and "
            "follow up the untouched ones first",
        },
    ]


def test_no_agreement_no_commitments() -> None:
    assert score_commitments({"agreement": {"in_force": False}}) == []


@pytest.mark.slow
def test_the_demo_month_with_the_planted_change_shows_missed_commitments_and_actions(workspace: Path) -> None:
    _sign(workspace, "--optimum", "--effective-from", "2026-04-01", "--min-win-rate", "0.07")
    result = _cli("report", "--config", str(workspace), "--month", "2026-10")
    assert result.exit_code == 0, result.output
    metrics = json.loads((workspace.parent / "reports" / "2026-10" / "metrics.json").read_text())
    statuses = {item["commitment"]: item["status"] for item in metrics["commitments"]}
    assert "missed" in statuses.values()
    assert any(
        action["team"] == "marketing" and "Giveaway Blitz" in action["action"]
        for action in metrics["actions"]
    )
    page = (workspace.parent / "reports" / "2026-10" / "review.html").read_text()
    assert "Marketing promised" in page and "Sales promised" in page and "Next steps" in page
    index = (workspace.parent / "reports" / "index.html").read_text()
    assert "met</td>" in index or " met" in index


def test_show_says_whether_the_agreements_model_is_still_there(workspace: Path) -> None:
    _sign(workspace, "--mql", "50", "--fast-track", "80", "--recycle", "20")
    result = _cli("agreement", "show", "--config", str(workspace))
    assert result.exit_code == 0 and "still there, in" in result.output.splitlines()[-1]
    agreements = workspace.parent / "agreements"
    path = sorted(agreements.glob("agreement-v0001-*"))[0]
    # the same agreement on a model that no longer exists anywhere
    text = path.read_text()
    version = json.loads((workspace.parent / "model" / "model.json").read_text())["version"]
    (workspace.parent / "model").rename(workspace.parent / "model-elsewhere")
    result = _cli("agreement", "show", "--config", str(workspace))
    assert f"model {version}: gone" in result.output
    assert path.read_text() == text


def test_the_workshop_names_the_agreement_in_force_and_a_model_mismatch(workspace: Path) -> None:
    from alignment.agreement import record_agreement
    from alignment.workshop import build_workshop

    record_agreement(
        workspace.parent / "agreements",
        model_version="an-older-model",
        thresholds={"mql": 50, "fast_track": 80, "recycle": 20},
        service_levels={
            "follow_up_hours": 24,
            "accept_within_days": 5,
            "mql_per_month": 100,
            "min_win_rate": 0.05,
        },
        signed_by={"marketing": "Maria", "sales": "Sam"},
        effective_from="2026-01-01",
    )
    header = build_workshop(workspace).header.value
    assert ("In force: <b>agreement v1</b> from 2026-01-01, signed by Maria (marketing) and Sam (sales)"
            in header)
    assert "signed on another model than this one" in header
