"""Hostile input and faults: what an export, a database or a file system can do to the product."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from alignment.cli import cli
from tests.browser import CHROMIUM_ARGS, chromium_path

SCRIPT = "<script>alert('script')</script>Giveaway Blitz"
IMAGE = '<img src=x onerror="alert(\'img\')">Partner'


def _cli(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(scope="module")
def hostile_workspace(demo_dir: Path, fitted_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo workspace whose campaign, source, team and rejection reason values carry script payloads."""
    root = tmp_path_factory.mktemp("hostile") / "workspace"
    shutil.copytree(demo_dir, root)
    shutil.rmtree(root / "model", ignore_errors=True)
    shutil.copytree(fitted_model_dir, root / "model")
    leads = pd.read_csv(root / "leads.csv", dtype=str, keep_default_na=False)
    top_campaign = leads["campaign"].value_counts().index[0]
    leads.loc[leads["campaign"] == top_campaign, "campaign"] = SCRIPT
    leads.loc[leads["source"] == leads["source"].value_counts().index[0], "source"] = IMAGE
    leads["team"] = ["<b onmouseover=alert('team')>North</b>", IMAGE] * (len(leads) // 2) + [IMAGE] * (len(leads) % 2)
    leads.loc[leads["rejection_reason"] != "", "rejection_reason"] = "<svg onload=alert('reason')>budget"
    leads.to_csv(root / "leads.csv", index=False)
    return root / "alignment.toml"


@pytest.mark.browser
@pytest.mark.slow
def test_script_in_export_values_never_runs_in_the_review(hostile_workspace: Path) -> None:
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    result = _cli("report", "--config", str(hostile_workspace), "--month", "2026-09")
    assert result.exit_code == 0, result.output
    reports = hostile_workspace.parent / "reports"
    page_text = (reports / "2026-09" / "review.html").read_text(encoding="utf-8")
    assert "Giveaway Blitz" in page_text  # the campaign is shown, as text
    dialogs: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        for name in ("2026-09/review.html", "index.html"):
            page.goto((reports / name).as_uri())
            page.wait_for_load_state("load")
            page.mouse.move(400, 400)
            page.wait_for_timeout(500)
        shown = page.content()
        browser.close()
    assert dialogs == []
    assert "<script>alert" not in shown
