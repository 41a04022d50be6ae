"""Signed, versioned agreements: append-only files, concurrent saves, CLI, printable sheet."""

from __future__ import annotations

import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from alignment.agreement import (
    Agreement,
    list_agreements,
    load_agreement,
    make_agreement,
    render_sheet,
    save_agreement,
)
from alignment.cli import cli
from alignment.exceptions import AgreementError


def fields(**overrides) -> dict:
    base = {
        "model_version": "2025-06-01-abc",
        "thresholds": {"mql": 55, "fast_track": 80, "recycle": 25},
        "grade_cutoffs": {"fit": {"A": 75.0, "B": 50.0}, "engagement": {"1": 70.0}},
        "service_levels": {"follow_up_hours": 4, "accept_within_days": 3, "mql_per_month": 400,
                           "min_win_rate": 0.12},
        "signed_by": {"marketing": "Maria Marketing", "sales": "Sam Sales"},
        "notes": "Revisit after Q3.",
    }
    base.update(overrides)
    return base


def _save_in_process(folder: str) -> int:
    return save_agreement(make_agreement(**fields()), folder).version


def test_save_load_roundtrip(tmp_path):
    saved = save_agreement(make_agreement(**fields()), tmp_path / "agreements")
    assert saved.version == 1 and saved.path.name.startswith("agreement-v0001-")
    assert saved.path.name.endswith(f"{saved.created_at:%Y%m%dT%H%M%S}.yaml")
    on_disk = yaml.safe_load(saved.path.read_text())
    assert on_disk["thresholds"] == {"mql": 55.0, "fast_track": 80.0, "recycle": 25.0}
    assert on_disk["signed_by"] == {"marketing": "Maria Marketing", "sales": "Sam Sales"}
    assert set(on_disk) == {"version", "signed_at", "effective_from", "previous_sha256", "model_version",
                            "thresholds", "grade_cutoffs", "service_levels", "signed_by", "notes"}
    assert on_disk["effective_from"] == saved.signed_at.date().isoformat()  # default: the day it is signed
    loaded = load_agreement(tmp_path / "agreements")
    assert loaded == saved and loaded.path == saved.path


def test_versions_append_and_latest_is_in_force(tmp_path):
    first = save_agreement(make_agreement(**fields()), tmp_path)
    second = save_agreement(make_agreement(**fields(notes="second")), tmp_path)
    assert (first.version, second.version) == (1, 2)
    assert first.path.read_text().count("Revisit after Q3.") == 1  # the first file is untouched
    assert load_agreement(tmp_path).notes == "second"
    assert load_agreement(tmp_path, 1).notes == "Revisit after Q3."
    assert load_agreement(tmp_path, "v0002").version == 2
    assert load_agreement(tmp_path, second.path.name).version == 2
    assert [a.version for a in list_agreements(tmp_path)] == [1, 2]


def test_no_agreement_gives_none(tmp_path):
    assert load_agreement(tmp_path / "missing") is None
    assert list_agreements(tmp_path) == []


def test_unknown_version_is_one_clear_line(tmp_path):
    save_agreement(make_agreement(**fields()), tmp_path)
    with pytest.raises(AgreementError, match="no agreement version 7 — saved versions: v1"):
        load_agreement(tmp_path, 7)
    with pytest.raises(AgreementError, match="'latest!' is not a version"):
        load_agreement(tmp_path, "latest!")


def test_concurrent_thread_saves_all_survive(tmp_path):
    start = threading.Barrier(8)

    def save(i: int) -> int:
        start.wait()
        return save_agreement(make_agreement(**fields(notes=f"save {i}")), tmp_path).version

    with ThreadPoolExecutor(8) as pool:
        versions = list(pool.map(save, range(8)))
    assert sorted(versions) == list(range(1, 9))
    saved = list_agreements(tmp_path)
    assert sorted(a.notes for a in saved) == sorted(f"save {i}" for i in range(8))
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]


def test_concurrent_process_saves_all_survive(tmp_path):
    with ProcessPoolExecutor(2) as pool:
        versions = list(pool.map(_save_in_process, [str(tmp_path)] * 6))
    assert sorted(versions) == list(range(1, 7))
    assert len(list_agreements(tmp_path)) == 6


def test_existing_version_is_never_overwritten(tmp_path, monkeypatch):
    saved = save_agreement(make_agreement(**fields()), tmp_path)
    before = saved.path.read_bytes()
    # Force a collision on the same file name: the link must refuse, not replace.
    monkeypatch.setattr("alignment.agreement._versions", lambda folder: {})
    monkeypatch.setattr("alignment.agreement.dt.datetime",
                        type("Frozen", (), {"now": staticmethod(lambda tz=None: saved.created_at)}))
    with pytest.raises(AgreementError, match="already exists"):
        save_agreement(make_agreement(**fields(notes="other")), tmp_path)
    assert saved.path.read_bytes() == before


@pytest.mark.parametrize("signed_by, team", [
    ({"marketing": "", "sales": "Sam"}, "marketing"),
    ({"marketing": "Maria", "sales": "   "}, "sales"),
    ({"marketing": "Maria"}, "sales"),
])
def test_refuses_without_both_signers(tmp_path, signed_by, team):
    with pytest.raises(AgreementError, match=f"needs a signer for {team}"):
        make_agreement(**fields(signed_by=signed_by))
    unsigned = Agreement.model_construct(**{**fields(), "signed_by": signed_by})
    with pytest.raises(AgreementError, match="needs a signer"):
        save_agreement(unsigned, tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("overrides, message", [
    ({"thresholds": {"mql": 50, "fast_track": 40, "recycle": 20}}, "recycle <= mql <= fast_track"),
    ({"thresholds": {"mql": 150, "fast_track": 160, "recycle": 20}}, "thresholds.mql"),
    ({"service_levels": {"follow_up_hours": 0, "accept_within_days": 3, "mql_per_month": 1,
                         "min_win_rate": 0.1}}, "follow_up_hours"),
    ({"service_levels": {"follow_up_hours": 2, "accept_within_days": 3, "mql_per_month": 1,
                         "min_win_rate": 1.5}}, "min_win_rate"),
    ({"colour": "blue"}, "colour"),
])
def test_bad_fields(overrides, message):
    with pytest.raises(AgreementError, match=message):
        make_agreement(**fields(**overrides))


def test_corrupt_file_names_the_file(tmp_path):
    saved = save_agreement(make_agreement(**fields()), tmp_path)
    bad = tmp_path / "agreement-v0002-20300101T000000.yaml"
    bad.write_text("thresholds: [1, 2\n")
    with pytest.raises(AgreementError, match="agreement-v0002"):
        load_agreement(tmp_path)
    bad.write_text(saved.path.read_text().replace("mql: 55.0", "mql: 95.0"))
    with pytest.raises(AgreementError, match="invalid agreement"):
        load_agreement(tmp_path, 2)


def test_sheet_is_printable_and_escaped(tmp_path):
    saved = save_agreement(make_agreement(**fields(notes="<script>alert(1)</script> & more")), tmp_path)
    html = render_sheet(saved)
    assert "@page" in html and "<script>alert" not in html and "&lt;script&gt;" in html
    assert 'id="sheet-mql">55 or more' in html and "400 MQLs a month" in html and "12.0%" in html
    assert "Maria Marketing" in html and "Sam Sales" in html and f"Version {saved.version}" in html


@pytest.fixture
def workspace(tmp_path) -> Path:
    config = tmp_path / "alignment.toml"
    config.write_text('[source]\nleads = "leads.csv"\n[paths]\nagreements = "signed"\n')
    return config


def test_cli_list_and_show(workspace):
    runner = CliRunner()
    result = runner.invoke(cli, ["agreement", "list", "--config", str(workspace)])
    assert result.exit_code == 0 and "no agreement saved yet" in result.output
    result = runner.invoke(cli, ["agreement", "show", "--config", str(workspace)])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "no agreement in force (none saved yet" in result.output

    folder = workspace.parent / "signed"
    save_agreement(make_agreement(**fields()), folder)
    save_agreement(make_agreement(**fields(thresholds={"mql": 60, "fast_track": 85, "recycle": 30})), folder)
    result = runner.invoke(cli, ["agreement", "list", "--config", str(workspace)])
    lines = result.output.splitlines()
    assert result.exit_code == 0 and lines[0].startswith("  v1") and lines[1].startswith("* v2")
    assert "MQL >= 60" in lines[1] and "Maria Marketing (marketing)" in lines[1]

    sheet = workspace.parent / "out" / "sheet.html"
    result = runner.invoke(cli, ["agreement", "show", "1", "--config", str(workspace), "--html", str(sheet)])
    assert result.exit_code == 0 and "mql: 55.0" in result.output and sheet.is_file()
    assert 'id="sheet-mql">55 or more' in sheet.read_text()

    result = runner.invoke(cli, ["agreement", "show", "1", "--config", str(workspace), "--html", str(sheet)])
    assert result.exit_code == 1 and "already exists" in result.output and "Traceback" not in result.output
    (workspace.parent / "a-file").write_text("not a folder")
    under_a_file = workspace.parent / "a-file" / "sheet.html"
    result = runner.invoke(cli, ["agreement", "show", "1", "--config", str(workspace),
                                 "--html", str(under_a_file)])
    assert result.exit_code == 1 and "cannot write the sheet there" in result.output
    assert isinstance(result.exception, SystemExit)  # the one-line error, not an uncaught exception
    result = runner.invoke(cli, ["agreement", "show", "9", "--config", str(workspace)])
    assert result.exit_code == 1 and "no agreement version 9" in result.output
