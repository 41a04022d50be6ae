"""The calibration notebook, executed for real by papermill on the demo history (kernel ``alignment``)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import nbformat
import pytest

from alignment.notebook import execute, notebook_path

NOTEBOOK = "01_calibrate_scoring.ipynb"


def test_committed_without_outputs_and_parameterized():
    notebook = nbformat.read(str(notebook_path(NOTEBOOK)), as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code)
    parameters = [cell for cell in code if "parameters" in cell.metadata.get("tags", [])]
    assert len(parameters) == 1
    for name in ("config_path", "model_dir", "scoring_moment", "horizon_days"):
        assert f"{name} =" in parameters[0].source


@pytest.mark.parametrize("name", [NOTEBOOK, "03_monthly_review.ipynb", "04_explore_lead_quality.ipynb"])
def test_default_config_is_the_demo_seen_from_the_notebooks_folder(name):
    """Opened in JupyterLab as the README says (`jupyter lab notebooks/`), the kernel runs in notebooks/."""
    notebook = nbformat.read(str(notebook_path(name)), as_version=4)
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    default = next(node.value.value for node in ast.parse(cell.source).body
                   if isinstance(node, ast.Assign) and node.targets[0].id == "config_path")
    root = notebook_path(name).parent.parent
    makefile = (root / "Makefile").read_text(encoding="utf-8")
    demo = re.search(r"^DEMO := (\S+)$", makefile, re.MULTILINE).group(1)  # where `make demo` writes it
    assert (notebook_path(name).parent / default).resolve() == (root / demo / "alignment.toml").resolve()


@pytest.mark.slow
def test_notebook_fits_and_shows_the_figures(demo_config: Path, tmp_path: Path):
    model_dir = tmp_path / "model"
    executed = execute(notebook_path(NOTEBOOK), tmp_path / "calibrate.ipynb",
                       {"config_path": str(demo_config), "model_dir": str(model_dir),
                        "scoring_moment": "created", "horizon_days": 150}, progress=False)
    card = json.loads((model_dir / "model.json").read_text(encoding="utf-8"))
    assert card["scoring"]["horizon_days"] == 150  # the parameter reached the fit
    outputs = [output for cell in executed.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 6  # points, reliability, gains, distributions, heat map, comparison
    html = "".join(o["data"].get("text/html", "") for o in outputs if "data" in o)
    assert "points scale" in html and "challenger" in html  # the hold-out summary table
    text = "".join(o.get("text", "") for o in outputs)
    assert card["version"] in text and "top grades" in text
