"""The monthly report: papermill execution, code-free HTML, atomic month folders, the index, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from alignment import notebook, review
from alignment.exceptions import ReportError
from alignment.review import report


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


@pytest.mark.slow
def test_a_warm_kernel_runs_the_notebook_as_a_fresh_one_would(tmp_path):
    # The warm-up imports the notebook's modules but binds none of its names and leaves its numbering alone.
    body = ("import sys\n"
            "seen = sorted(n for n in ('colorsys', 'Path', '_alignment_warm_up') if n in globals())\n"
            "print('seen', seen, 'loaded', 'colorsys' in sys.modules)\n"
            "import colorsys\nfrom pathlib import Path\nPath('written.txt').write_text(str(value))")
    template = _tiny_notebook(tmp_path / "tiny.ipynb", body)
    warm_up = notebook.notebook_imports(template)
    assert "import colorsys" in warm_up and "from pathlib import Path" in warm_up
    work = tmp_path / "work"
    work.mkdir()
    with notebook.Kernel(warm_up) as kernel:
        executed = notebook.execute(template, tmp_path / "out.ipynb", {"value": 5}, cwd=work,
                                    progress=False, warm=kernel)
    assert kernel.manager_ is None  # shut down on leaving
    code = [cell for cell in executed.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == [1, 2, 3]
    printed = "".join(output.get("text", "") for output in code[-1].outputs)
    assert "seen [] loaded True" in printed
    assert (work / "written.txt").read_text() == "5"  # the kernel ran in cwd


def test_notebook_imports_skip_what_is_not_python(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("%matplotlib inline\nimport os"), nbformat.v4.new_markdown_cell(
        "import nothing"), nbformat.v4.new_code_cell("import json as j\nx = 1")]
    nbformat.write(nb, tmp_path / "n.ipynb")
    code = notebook.notebook_imports(tmp_path / "n.ipynb")
    assert "import json as j" in code and "import os" not in code and "nothing" not in code
    namespace: dict = {}
    exec(code, namespace)  # runs, and binds nothing but the builtins
    assert set(namespace) == {"__builtins__"}
    empty = nbformat.v4.new_notebook()
    nbformat.write(empty, tmp_path / "e.ipynb")
    assert notebook.notebook_imports(tmp_path / "e.ipynb") == ""


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


@pytest.mark.slow
def test_a_relative_model_folder_reaches_the_kernel(tmp_path, monkeypatch):
    """The kernel runs in the temporary render folder: a model folder relative to the caller still works."""
    from alignment.config import parse_config

    (tmp_path / "model").mkdir()
    config = parse_config({"source": {"leads": "leads.csv"}}, tmp_path / "alignment.toml")
    template = _tiny_notebook(tmp_path / "tiny.ipynb", (
        "from pathlib import Path\n"
        "assert Path(model_dir).is_dir(), model_dir\n"
        "Path(metrics_path).write_text('{}')"))
    monkeypatch.chdir(tmp_path)
    target = report.render_month(config, "2026-10", model_dir="model", progress=False, template=template)
    assert (target / "metrics.json").read_text() == "{}"


@pytest.mark.slow
def test_a_month_folder_holding_a_users_file_is_not_replaced(tmp_path):
    """A re-render swaps the whole month folder: a file someone saved in it must not vanish with it."""
    from alignment.config import parse_config

    config = parse_config({"source": {"leads": "leads.csv"}}, tmp_path / "alignment.toml")
    template = _tiny_notebook(tmp_path / "tiny.ipynb", (
        "from pathlib import Path\n"
        "Path(metrics_path).write_text('{\"month\": \"2026-10\"}')"))
    month = tmp_path / "reports" / "2026-10"
    month.mkdir(parents=True)
    (month / "metrics.json").write_text("{}")
    (month / "notes from the meeting.txt").write_text("keep me")
    for chosen in ("2026-10", None):  # a named month is refused before the kernel, the default one after it
        with pytest.raises(ReportError, match="notes from the meeting.txt"):
            report.render_month(config, chosen, progress=False, template=template)
        assert (month / "notes from the meeting.txt").read_text() == "keep me"
        assert (month / "metrics.json").read_text() == "{}"
        assert not _leftovers(tmp_path / "reports")
    (month / "notes from the meeting.txt").unlink()
    target = report.render_month(config, None, progress=False, template=template)
    assert target == month and json.loads((month / "metrics.json").read_text()) == {"month": "2026-10"}


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


# --- the real report on the demo history ------------------------------------------------------

PLANTED_CAMPAIGN = "Giveaway Blitz"


@pytest.fixture(scope="module")
def workspace(demo_dir, fitted_model_dir, tmp_path_factory) -> Path:
    """A private copy of the demo workspace (the demo folder is shared, read-only) with the fitted scale."""
    import shutil

    root = tmp_path_factory.mktemp("review") / "workspace"
    shutil.copytree(demo_dir, root)
    shutil.rmtree(root / "model", ignore_errors=True)
    shutil.copytree(fitted_model_dir, root / "model")
    return root


def _leftovers(reports: Path) -> list[Path]:
    """Hidden files a render left in the reports folder, besides its marker and its lock."""
    return [p for p in reports.glob(".*") if p.name not in (report.REPORTS_MARKER, report.RENDER_LOCK)]


def _cli(*args: str):
    from click.testing import CliRunner

    from alignment.cli import cli

    return CliRunner().invoke(cli, ["report", *args], catch_exceptions=False)


def _personal_data(workspace: Path) -> set[str]:
    import pandas as pd

    leads = pd.read_csv(workspace / "leads.csv", dtype=str)
    values = set(leads["lead_id"].dropna()) | set(leads["email"].dropna()) | set(leads["phone"].dropna())
    values |= set((leads["first_name"] + " " + leads["last_name"]).dropna())
    values |= set(leads["owner"].dropna())
    return {v for v in values if len(v) >= 5}


@pytest.mark.slow
def test_report_renders_the_month_through_the_cli(workspace):
    config = workspace / "alignment.toml"
    result = _cli("--config", str(config), "--month", "2026-10")
    assert result.exit_code == 0, result.output
    month = workspace / "reports" / "2026-10"
    expected = {"metrics.json", "review.html", "review.ipynb", "summary.md"}
    if report.chromium_executable():
        expected.add("review.pdf")
    assert {p.name for p in month.iterdir()} == expected
    metrics = json.loads((month / "metrics.json").read_text())
    assert {"verdict", "reasons", "funnel", "mql_volume", "acceptance", "speed_to_lead", "calibration",
            "drift", "campaign_quality", "source_quality", "hygiene", "trend", "agreement"} <= set(metrics)
    assert metrics["month"] == "2026-10" and len(metrics["trend"]) == report.TREND_MONTHS + 1
    page = (month / "review.html").read_text(encoding="utf-8")
    assert len(page.encode()) <= notebook.MAX_HTML_BYTES
    assert "data:image/png;base64," in page
    assert "review_month(" not in page  # no code in the page
    assert "No agreement is in force" in page and metrics["agreement"]["in_force"] is False
    leaked = [value for value in _personal_data(workspace) if value in page]
    assert not leaked, f"personal data in the HTML: {leaked[:5]}"
    index = (workspace / "reports" / "index.html").read_text(encoding="utf-8")
    assert 'href="2026-10/review.html"' in index
    assert not _leftovers(workspace / "reports")  # no temporary folder left behind

    # the same inputs give the same metrics.json, byte for byte
    before = (month / "metrics.json").read_bytes()
    assert _cli("--config", str(config), "--month", "2026-10").exit_code == 0
    assert (month / "metrics.json").read_bytes() == before

    # --skip-existing leaves a rendered month alone
    stamp = (month / "review.html").stat().st_mtime_ns
    result = _cli("--config", str(config), "--month", "2026-10", "--skip-existing")
    assert result.exit_code == 0 and "already rendered" in result.output
    assert (month / "review.html").stat().st_mtime_ns == stamp


def test_the_review_uses_the_moment_and_horizon_the_scale_was_fitted_with(workspace, tmp_path):
    """Notebook 01 can fit on the MQL hand-off, with another horizon than the config's (created + 7, 180)."""
    import math

    import pandas as pd

    from alignment.config import load_config
    from alignment.loader import load_workspace
    from alignment.model import fit_model, with_scoring

    config = load_config(workspace / "alignment.toml")
    assert (config.scoring.moment, config.scoring.horizon_days) == ("created", 180)
    fit_model(with_scoring(config, moment="mql", horizon_days=150), out=tmp_path / "mql", progress=False)
    monthly = report.review_month(workspace / "alignment.toml", "2026-10", tmp_path / "mql")
    leads = load_workspace(config).leads
    handed_over = review.mqls_of_month(leads, "2026-10")
    calibration = monthly.metrics["calibration"]
    assert calibration["leads"] == len(handed_over) == len(monthly.cohort)
    as_of = pd.Timestamp(monthly.metrics["as_of"])
    latest = handed_over["mql_at"].max()
    assert calibration["days_to_maturity"] == math.ceil((latest + pd.Timedelta(days=150) - as_of)
                                                        / pd.Timedelta(days=1))
    window = report.scored_window(workspace / "alignment.toml", tmp_path / "mql", months=1)
    assert window.horizon_days == 150 and window.last == report.last_mature_month(as_of, 150)
    assert (window.leads["scored_at"] == window.leads["mql_at"]).all()


@pytest.mark.slow
def test_the_default_month_is_chosen_by_the_notebook_alone(workspace, tmp_path, monkeypatch):
    """`alignment report` with no month loads the workspace once, in the kernel, not also to choose it."""
    import shutil

    import alignment.loader

    copy = tmp_path / "default"
    shutil.copytree(workspace, copy, ignore=shutil.ignore_patterns("reports"))

    def loaded_outside_the_kernel(config):
        raise AssertionError("the workspace was loaded outside the notebook")

    monkeypatch.setattr(alignment.loader, "load_workspace", loaded_outside_the_kernel)
    result = _cli("--config", str(copy / "alignment.toml"))
    assert result.exit_code == 0, result.output
    assert "2026-10: " in result.output  # the demo's export moment is 2026-10-31 23:59:59
    assert report.rendered_months(copy / "reports") == ["2026-10"]
    assert json.loads((copy / "reports" / "2026-10" / "metrics.json").read_text())["month"] == "2026-10"
    assert not _leftovers(copy / "reports")  # the temporary folder was renamed, nothing left over


@pytest.mark.slow
def test_a_failing_render_leaves_the_earlier_report_intact(workspace):
    config = workspace / "alignment.toml"
    month = workspace / "reports" / "2026-09"
    assert _cli("--config", str(config), "--month", "2026-09").exit_code == 0
    earlier = {p.name: p.read_bytes() for p in month.iterdir()}

    # a broken notebook parameter (an agreement version that does not exist) fails inside the notebook
    with pytest.raises(ReportError) as info:
        report.run_report(config, month="2026-09", agreement_version="99", progress=False)
    # a user error raised in a cell is told as it is, not as a cell failure
    assert "no agreement version 99" in info.value.one_line() and "cell" not in info.value.one_line()

    # the same through the CLI: a notebook that breaks in a cell is named with the cell, exit 1
    broken_notebook = workspace / "broken.ipynb"
    nb = nbformat.read(notebook.notebook_path(report.TEMPLATE), as_version=4)
    hygiene_cell = next(cell for cell in nb.cells if cell.source.startswith("hygiene = m["))
    hygiene_cell.source = "hygiene = m['no_such_section']"
    nbformat.write(nb, broken_notebook)
    failed = r"cell \d+ \(`hygiene = m\['no_such_section'\]`\) failed: KeyError"
    with pytest.raises(ReportError, match=failed):
        report.run_report(config, month="2026-09", template=broken_notebook, progress=False)

    # a missing model: through the CLI, one line, exit 1, before any kernel starts
    broken = workspace / "broken.toml"
    broken.write_text(config.read_text().replace('model = "model"', 'model = "no-such-model"'))
    result = _cli("--config", str(broken), "--month", "2026-09")
    assert result.exit_code == 1
    assert result.output.count("error:") == 1 and "no-such-model" in result.output
    assert "Traceback" not in result.output
    assert {p.name: p.read_bytes() for p in month.iterdir()} == earlier
    assert not _leftovers(workspace / "reports")


@pytest.mark.slow
def test_a_month_without_leads_is_refused(workspace):
    result = _cli("--config", str(workspace / "alignment.toml"), "--month", "2019-01")
    assert result.exit_code == 1
    assert "no leads in 2019-01" in result.output and "2024-11" in result.output
    assert not (workspace / "reports" / "2019-01").exists()
    result = _cli("--config", str(workspace / "alignment.toml"), "--month", "2019-13")
    assert result.exit_code == 1 and "YYYY-MM" in result.output


@pytest.mark.slow
def test_the_report_is_held_against_a_signed_agreement(workspace, tmp_path):
    import shutil

    from alignment.agreement import make_agreement, save_agreement
    from alignment.model import load_model

    signed = tmp_path / "signed"
    shutil.copytree(workspace, signed, ignore=shutil.ignore_patterns("reports"))
    save_agreement(make_agreement(
        model_version=load_model(signed / "model").version,
        thresholds={"recycle": 30, "mql": 45, "fast_track": 70},
        service_levels={"follow_up_hours": 1, "accept_within_days": 2, "mql_per_month": 400,
                        "min_win_rate": 0.1},
        signed_by={"marketing": "Maria Marketing", "sales": "Sam Sales"}, effective_from="2026-01-01"),
        signed / "agreements")
    assert _cli("--config", str(signed / "alignment.toml"), "--month", "2026-10").exit_code == 0
    metrics = json.loads((signed / "reports" / "2026-10" / "metrics.json").read_text())
    assert metrics["agreement"]["in_force"] and metrics["agreement"]["version"] == 1
    assert metrics["mql_volume"]["commitment"] == 400
    assert [b["band"] for b in metrics["calibration"]["bands"]] == ["0-29", "30-44", "45-69", "70-100"]
    # 400 MQLs promised, far fewer delivered; a one-hour follow-up is missed
    assert any("agreed" in reason for reason in metrics["reasons"])
    page = (signed / "reports" / "2026-10" / "review.html").read_text(encoding="utf-8")
    assert "Held against agreement v1" in page
    assert "Maria Marketing" not in page and "Sam Sales" not in page


@pytest.mark.slow
def test_the_planted_change_is_found_and_calm_months_are_kept(workspace):
    import pandas as pd

    verdicts = {}
    for month in report.months_with_data(pd.read_csv(workspace / "leads.csv", parse_dates=["created_at"])
                                         [["created_at"]])[1:]:  # the first month has no history before it
        metrics = report.review_month(workspace / "alignment.toml", month).metrics
        verdicts[month] = metrics
    calm = {m: v for m, v in verdicts.items() if m < "2026-08"}
    # Calm months are kept, but for the drift rule's own false alarms: its line is a p-value, and over twenty
    # looks a month whose mix wandered can cross it (2025-06 here: PSI 0.12-0.14, p 0.003-0.0005 as the
    # scale's weights move in their third decimal). Such a month says "watch" for drift alone, one in twenty.
    on_watch = {m: v["reasons"] for m, v in calm.items() if v["verdict"] != "keep"}
    assert len(on_watch) <= len(calm) // 20, on_watch
    assert all(calm[m]["verdict"] == "watch" and calm[m]["drift"]["status"] == "shifting"
               and len(reasons) == 1 for m, reasons in on_watch.items()), on_watch
    planted = [verdicts[m] for m in ("2026-08", "2026-09", "2026-10")]
    for metrics in planted:
        assert metrics["verdict"] in {"watch", "recalibrate"}
        assert any(PLANTED_CAMPAIGN in reason for reason in metrics["reasons"]), metrics["reasons"]
    # the scores stopped meaning what they did: drift or an early calibration gap in at least one planted
    # month, in no calm one
    def flagged(metrics):
        early = metrics["early_acceptance"]
        early_gap = abs(early["z"]) >= review.EARLY_Z_WATCH and \
            abs(early["relative_gap"]) >= review.EARLY_RELATIVE_GAP
        return metrics["drift"]["status"] != "stable" or early_gap

    assert any(flagged(m) for m in planted)
    assert not any(flagged(verdicts[m]) for m in calm if m not in on_watch)


def test_missing_months_are_the_full_months_not_rendered_yet():
    import pandas as pd

    created = ["2025-01-05", "2025-02-10", "2025-04-01", "2025-05-02"]
    leads = pd.DataFrame({"created_at": pd.to_datetime(created),
                          "mql_at": pd.to_datetime(["2025-01-06", None, "2025-04-02", None])})
    months = report.missing_months(leads, done={"2025-02"}, as_of=pd.Timestamp("2025-05-15"))
    assert months == ["2025-01", "2025-04"]  # March has no leads, May is not over


@pytest.mark.slow
def test_a_killed_run_leaves_the_earlier_report_and_the_next_run_cleans_up(workspace):
    import os
    import signal
    import subprocess
    import sys
    import time

    config = workspace / "alignment.toml"
    reports = workspace / "reports"
    month = reports / "2026-08"
    assert _cli("--config", str(config), "--month", "2026-08").exit_code == 0
    earlier = {p.name: p.read_bytes() for p in month.iterdir()}
    # its own session, so the kernel papermill starts is killed with it
    process = subprocess.Popen([sys.executable, "-m", "alignment.cli", "report", "--config", str(config),
                                "--month", "2026-08"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not list(reports.glob(".2026-08.*.rendering")) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert list(reports.glob(".2026-08.*.rendering")), "the run never started rendering"
        time.sleep(1.0)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert {p.name: p.read_bytes() for p in month.iterdir()} == earlier
    assert "2026-08" in report.rendered_months(reports)  # the half-done folder is not a month

    # a run killed between the two renames of the swap: the previous render is put back
    os.replace(month, reports / ".2026-08.previous")
    report._recover(reports, "2026-08")
    assert {p.name: p.read_bytes() for p in month.iterdir()} == earlier
    assert not list(reports.glob(".2026-08.*"))  # stale temporary folders are gone too


def test_a_reports_path_that_cannot_be_a_folder_is_one_line(workspace):
    (workspace / "taken").write_text("a file, not a folder")
    config = workspace / "reports-taken.toml"
    text = (workspace / "alignment.toml").read_text(encoding="utf-8")
    assert 'reports = "reports"' in text
    config.write_text(text.replace('reports = "reports"', 'reports = "taken"'), encoding="utf-8")
    for args in ((), ("--month", "2026-10"), ("--all-missing",)):
        result = _cli("--config", str(config), *args)
        assert result.exit_code == 1
        assert result.output.count("\n") == 1 and "taken" in result.output
        assert "reports folder" in result.output
    assert (workspace / "taken").read_text() == "a file, not a folder"


def test_the_held_line_says_when_the_agreement_was_made_on_another_model():
    metrics = {"month": "2026-10", "verdict": "keep", "reasons": ["fine"], "model_version": "new",
               "agreement": {"in_force": True, "version": 2, "model_version": "old"}}
    assert "another model (new)" in report.held_line(metrics)
    metrics["model_version"] = "old"
    assert "another model" not in report.held_line(metrics)
    metrics["agreement"] = {"in_force": False, "version": None, "model_version": None}
    assert "No agreement is in force" in report.held_line(metrics)


@pytest.mark.slow
def test_all_missing_renders_only_the_months_without_a_render(workspace, tmp_path):
    import shutil

    copy = tmp_path / "catch-up"
    shutil.copytree(workspace, copy, ignore=shutil.ignore_patterns("reports"))
    config = copy / "alignment.toml"
    assert _cli("--config", str(config), "--month", "2026-10").exit_code == 0
    rendered = copy / "reports" / "2026-10"
    # every month but one already has a complete render (a copy of October's)
    for month in ["2024-11", "2024-12", "2025-01", "2025-02", "2025-03", "2025-04", "2025-05", "2025-06",
                  "2025-07", "2025-08", "2025-09", "2025-10", "2025-11", "2025-12", "2026-01", "2026-02",
                  "2026-03", "2026-05", "2026-06", "2026-07", "2026-08", "2026-09"]:
        shutil.copytree(rendered, copy / "reports" / month)
    result = _cli("--config", str(config), "--all-missing")
    assert result.exit_code == 0, result.output
    assert "2026-04: " in result.output  # the one missing month with data was rendered
    assert json.loads((copy / "reports" / "2026-04" / "metrics.json").read_text())["month"] == "2026-04"
    assert len(report.rendered_months(copy / "reports")) == 24
    result = _cli("--config", str(config), "--all-missing")
    assert result.exit_code == 0 and "already rendered" in result.output


def test_months_are_planned_without_the_activities_only_when_the_export_moment_is_fixed(demo_config):
    from alignment.config import load_config

    config = load_config(demo_config)
    assert config.scoring.as_of is not None and config.source.activities
    planning = report._planning_config(config)
    assert planning.source.activities is None and planning.source.leads == config.source.leads
    unfixed = config.model_copy(update={"scoring": config.scoring.model_copy(update={"as_of": None})})
    assert report._planning_config(unfixed).source.activities == config.source.activities


def _speed(n_groups: int, slow: int) -> dict:
    groups = [{"group": f"Rep {i + 1:02d}", "mqls": 10, "median_hours": 30.0 if i < slow else 5.0,
               "share_within": 0.5} for i in range(n_groups)]
    groups.append({"group": "(no rep)", "mqls": 4, "median_hours": 99.0, "share_within": 0.0})
    return {"follow_up_hours": 24.0, "group_by": "rep", "groups": groups}


def test_speed_of_many_reps_is_a_histogram_that_counts_the_slow_reps_not_the_unassigned():
    import matplotlib.pyplot as plt

    figure = report.speed_chart(_speed(25, slow=3))
    assert figure.axes[0].get_title() == "3 of 25 reps slower than the agreed 24 hours"
    plt.close(figure)
    assert "<summary>Every rep (25) and the MQLs without one</summary>" in report.speed_table(_speed(25, 3))


def test_speed_of_a_few_groups_is_a_bar_each_and_an_open_table():
    import matplotlib.pyplot as plt

    figure = report.speed_chart(_speed(4, slow=1))
    assert len(figure.axes[0].patches) == 5  # four reps and the MQLs without one
    plt.close(figure)
    assert "<details>" not in report.speed_table(_speed(4, 1))
