"""The analysts' notebook, executed for real through papermill on the demo history."""

from __future__ import annotations

import pandas as pd
import pytest

from alignment import notebook
from alignment.review import report


@pytest.mark.slow
def test_explore_notebook_runs_on_the_demo(demo_config, fitted_model_dir, tmp_path):
    template = notebook.notebook_path("04_explore_lead_quality.ipynb")
    executed = notebook.execute(template, tmp_path / "out.ipynb",
                                {"config_path": str(demo_config), "model_dir": str(fitted_model_dir),
                                 "months": 12, "max_depth": 3, "seed": 42}, progress=False)
    text = "\n".join(str(value) for cell in executed.cells for output in cell.get("outputs", [])
                     for key, value in [*output.get("data", {}).items(), ("text", output.get("text", ""))]
                     if key != "image/png")
    images = sum("image/png" in output.get("data", {}) for cell in executed.cells
                 for output in cell.get("outputs", []))
    assert images >= 4  # segments, channels, score histogram, grade heat map
    assert "Persona" in text and " is " in text  # the buyer personas table, described in words
    assert "every lead has had its full horizon to close" in text  # the default window is mature
    leads = pd.read_csv(demo_config.parent / "leads.csv", dtype=str)
    private = set(leads["email"].dropna()) | set(leads["phone"].dropna()) | set(leads["lead_id"].dropna())
    assert not [value for value in private if value in text]
    html = notebook.to_html(executed, tmp_path / "out.html").read_text(encoding="utf-8")
    assert "scored_window(" not in html


def test_scored_window_drops_what_the_loader_calls_contact_details(demo_dir, fitted_model_dir, tmp_path):
    import shutil

    copy = tmp_path / "workspace"
    shutil.copytree(demo_dir, copy, ignore=shutil.ignore_patterns("model", "reports", "agreements"))
    leads = pd.read_csv(copy / "leads.csv", dtype=str, keep_default_na=False)
    leads["linkedin_url"] = "https://www.linkedin.com/in/" + leads["lead_id"]
    leads.to_csv(copy / "leads.csv", index=False)
    window = report.scored_window(copy / "alignment.toml", fitted_model_dir, months=3)
    assert len(window.leads) and "linkedin_url" not in window.leads
    assert not {"email", "phone", "first_name", "last_name", "owner"} & set(window.leads.columns)


def test_scored_window_refuses_bad_parameters(demo_config):
    with pytest.raises(ValueError, match="months"):
        report.scored_window(demo_config, months=0)


def test_last_mature_month():
    assert report.last_mature_month(pd.Timestamp("2026-10-31 23:59:59"), 180) == "2026-04"
    assert report.last_mature_month(pd.Timestamp("2026-10-15"), 30) == "2026-08"
