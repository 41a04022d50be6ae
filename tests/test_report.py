"""The monthly report: papermill execution, code-free HTML, atomic month folders, the index, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from alignment import notebook, report
from alignment.exceptions import ReportError


def _tiny_notebook(path: Path, body: str) -> Path:
    nb = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell("value = 1")
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Tiny"), parameters, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "alignment", "display_name": "Python (alignment)",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_execute_and_render_code_free_html(tmp_path):
    template = _tiny_notebook(tmp_path / "tiny.ipynb", "SECRET_CODE_MARKER = value * 2\nprint('result', "
                                                        "SECRET_CODE_MARKER)")
    executed = notebook.execute(template, tmp_path / "out.ipynb", {"value": 21}, progress=False)
    assert (tmp_path / "out.ipynb").is_file()
    html_path = notebook.to_html(executed, tmp_path / "out.html", title="Tiny")
    page = html_path.read_text(encoding="utf-8")
    assert "result 42" in page
    assert "SECRET_CODE_MARKER" not in page  # inputs are excluded
    assert '<script src="http' not in page  # nothing fetched from the network
    assert not list(tmp_path.glob(".out.html.*"))  # no temporary file left


@pytest.mark.slow
def test_a_failing_cell_is_named_in_one_line(tmp_path):
    template = _tiny_notebook(tmp_path / "tiny.ipynb", "# compute\nresult = {}['missing_key']")
    with pytest.raises(ReportError) as info:
        notebook.execute(template, tmp_path / "out.ipynb", {"value": 1}, progress=False)
    line = info.value.one_line()
    assert "\n" not in line
    assert "cell 3" in line and "KeyError" in line and "missing_key" in line and "tiny.ipynb" in line


def test_notebook_helpers_refuse_bad_input(tmp_path):
    with pytest.raises(ReportError, match="not found"):
        notebook.execute(tmp_path / "absent.ipynb", tmp_path / "out.ipynb", {})
    with pytest.raises(ReportError, match="not found"):
        notebook.notebook_path("99_absent.ipynb")
    with pytest.raises(ValueError, match="max_bytes"):
        notebook.to_html(nbformat.v4.new_notebook(), tmp_path / "x.html", max_bytes=0)
    big = nbformat.v4.new_notebook()
    big.cells = [nbformat.v4.new_markdown_cell("x" * 5000)]
    with pytest.raises(ReportError, match="MB"):
        notebook.to_html(big, tmp_path / "x.html", max_bytes=1000)
    assert not (tmp_path / "x.html").exists()


def test_default_month_is_the_last_full_month():
    import pandas as pd

    assert report.default_month(pd.Timestamp("2025-07-14 10:00")) == "2025-06"
    assert report.default_month(pd.Timestamp("2025-01-01")) == "2024-12"
    assert report.default_month(pd.Timestamp("2026-10-31 23:59:59")) == "2026-10"


def test_index_lists_every_rendered_month_with_trend(tmp_path):
    for month, verdict in (("2025-01", "keep"), ("2025-02", "watch")):
        folder = tmp_path / month
        folder.mkdir()
        metrics = {"month": month, "verdict": verdict, "reasons": [f"reason of {month}"],
                   "agreement": {"in_force": False, "version": None},
                   "trend": [{"month": month, "mqls": 10, "acceptance_rate": 0.5, "rejection_rate": 0.2,
                              "median_hours_to_touch": 3.0, "share_touched_in_time": 0.9, "psi": 0.05}]}
        report.save_metrics(metrics, folder / "metrics.json")
    (tmp_path / ".2025-03.abc.rendering").mkdir()  # an unfinished render is not a month
    page = report.build_index(tmp_path).read_text(encoding="utf-8")
    assert 'href="2025-01/review.html"' in page and 'href="2025-02/review.html"' in page
    assert "2025-03" not in page
    assert "reason of 2025-02" in page and "data:image/png;base64," in page
    assert report.rendered_months(tmp_path) == ["2025-01", "2025-02"]
    empty = report.build_index(tmp_path / "none").read_text(encoding="utf-8")
    assert "No month has been rendered yet" in empty


def test_save_metrics_is_deterministic(tmp_path):
    first = report.save_metrics({"b": 1 / 3, "a": [1, float("nan")]}, tmp_path / "m1.json").read_text()
    second = report.save_metrics({"a": [1, float("nan")], "b": 1 / 3}, tmp_path / "m2.json").read_text()
    assert first == second
    assert json.loads(first) == {"a": [1, None], "b": 0.3333}
