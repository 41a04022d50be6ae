"""`alignment validate`: a summary and exit 0, or one line and exit 1; bare exports, presets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from alignment import validate
from alignment.cli import cli
from alignment.exceptions import ConfigError, DataError

HUBSPOT = (
    "Record ID;Create Date;Lifecycle Stage;Original Source;Industry;Number of Employees;Job Title;"
    "First Name;Email;HubSpot Score;\r\n"
    + "".join(
        f"{i};2024-0{1 + i % 9}-1{i % 10} 10:00;{stage};Organic Search;{industry};{10 * i};Manager;"
        f"N{i};n{i}@example.com;{i % 100};\r\n"
        for i, (stage, industry) in enumerate(
            [("Customer", "Software"), ("Lead", "Retail"), ("Other", "Software"), ("Subscriber", "Retail")]
            * 5,
            start=1,
        )
    )
)


def _snapshot(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_bare_hubspot_export_with_preset(tmp_path, monkeypatch):
    (tmp_path / "contacts.csv").write_bytes(("\ufeff" + HUBSPOT).encode("utf-8"))
    monkeypatch.chdir(tmp_path)
    before = _snapshot(tmp_path)
    result = CliRunner().invoke(cli, ["validate", "contacts.csv", "--preset", "hubspot"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "leads: 20 rows" in out
    assert "outcome: won 5, lost 5, open 10" in out
    assert "created: 2024-01-" in out
    assert "family demographics: industry (guessed), company_size (guessed), job_title (guessed)" in out
    assert "ignored (never features): first_name, email" in out
    assert "(guessed)" in out and out.rstrip().endswith("ok: the data meets the contract (see the warnings)")
    assert _snapshot(tmp_path) == before


def test_bare_export_without_preset_is_refused_in_one_line(tmp_path, monkeypatch):
    (tmp_path / "contacts.csv").write_text(HUBSPOT, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["validate", "contacts.csv"])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "contacts.csv, column 'outcome'" in result.stderr and "Lifecycle Stage" in result.stderr


def test_config_run_returns_true_and_prints_families(tmp_path, capsys):
    (tmp_path / "leads.tsv").write_text(
        "lead_id\toutcome\tindustry\tpricing_views\n1\twon\tRetail\t3\n2\tlost\tRetail\t0\n", encoding="utf-8"
    )
    config = tmp_path / "alignment.yaml"
    config.write_text(
        "source:\n  leads: leads.tsv\nfamilies:\n  demographics: [industry]\n", encoding="utf-8"
    )
    assert validate.run(config_path=config) is True
    out = capsys.readouterr().out
    assert "family demographics: industry" in out and "family interest: pricing_views (guessed)" in out
    assert "no created_at column" in out


def test_config_given_as_the_argument(tmp_path, capsys):
    (tmp_path / "leads.csv").write_text("outcome,x\nwon,1\nlost,2\n", encoding="utf-8")
    (tmp_path / "alignment.toml").write_text('[source]\nleads = "leads.csv"\n', encoding="utf-8")
    assert validate.run(path=tmp_path / "alignment.toml") is True
    assert "note: no lead_id column" in capsys.readouterr().out


def test_run_prints_the_problem_and_returns_false(tmp_path, capsys):
    assert validate.run(path=tmp_path / "missing.csv") is False
    assert "missing.csv: file not found" in capsys.readouterr().err
    assert validate.run(config_path=tmp_path / "a.toml", path=tmp_path / "b.csv") is False
    assert "not both" in capsys.readouterr().err


def test_bad_parameters_raise():
    with pytest.raises(ConfigError, match="not both"):
        validate._config(Path("a.toml"), Path("b.csv"), None)
    with pytest.raises(DataError, match="file not found"):
        validate.config_for_export(Path("/nonexistent/export.csv"))
    with pytest.raises(ConfigError, match="source.preset"):
        validate.config_for_export(Path(__file__), preset="pipedrive")


def test_demo_history_validates(demo_config):
    process = subprocess.run(
        [sys.executable, "-m", "alignment.cli", "validate", "--config", str(demo_config)],
        capture_output=True,
        text=True,
    )
    assert process.returncode == 0, process.stderr
    out = process.stdout
    assert "leads: 6,000 rows" in out
    assert "family demographics: industry, company_size, country, seniority, job_function" in out
    assert "ignored (never features):" in out and "email" in out.split("ignored (never features):")[1]
    assert "activities: " in out and "truth: 6,000 rows + truth_effects.json" in out
    assert "Traceback" not in process.stderr
