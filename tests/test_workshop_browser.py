"""The workshop: widgets against the engine, the notebook through papermill, and the Voilà app in
headless Chromium (marker ``browser``; skipped without Chromium unless ALIGNMENT_REQUIRE_BROWSER=1)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from alignment.agreement import list_agreements
from alignment.cli import cli
from alignment.exceptions import ModelError
from alignment.notebook import execute, notebook_path
from alignment.serve import NOTEBOOK, ServeError, WorkshopServer, voila_command
from alignment.thresholds import ThresholdEngine, write_synthetic_model_dir
from alignment.workshop import Workshop, build_workshop, format_count, format_rate
from tests.browser import CHROMIUM_ARGS, chromium_path


@pytest.fixture(scope="module")
def workspace(request, tmp_path_factory) -> Path:
    """A workspace config whose model is the real fitted one when the fit fixture exists."""
    root = tmp_path_factory.mktemp("workshop")
    try:
        model_dir = Path(request.getfixturevalue("fitted_model_dir"))
    except pytest.FixtureLookupError:
        model_dir = write_synthetic_model_dir(root / "model", n_leads=3000, seed=1)
    config = root / "alignment.toml"
    config.write_text(f'[source]\nleads = "leads.csv"\n[paths]\nmodel = "{model_dir.as_posix()}"\n'
                      f'agreements = "agreements"\n[sales]\nreps = 6\nleads_per_rep_per_week = 30\n'
                      f'[service_levels]\nmql_per_month = 150\nmin_win_rate = 0.2\n')
    return config


def engine_for(config: Path) -> ThresholdEngine:
    from alignment.config import load_config

    loaded = load_config(config)
    return ThresholdEngine.from_model_dir(loaded.model_dir, loaded)


# --- the widgets, in the kernel ------------------------------------------------------------------


def _shown_everywhere(workshop: Workshop) -> tuple:
    """Everything the screen shows, to tell whether an input changed anything."""
    return (tuple(p.readout.value for p in workshop.panels.values()), workshop.zone_note.value,
            workshop.zone_tracks.value, workshop.compare.value, workshop.grades.value,
            workshop.form.summary.value, workshop.figure.image.value)


def test_panels_show_the_engine_numbers(workspace):
    workshop = build_workshop(workspace)
    assert isinstance(workshop, Workshop)
    engine = engine_for(workspace)
    panel = workshop.panels["marketing"]
    sales_before = workshop.views["sales"]
    panel.mql.value = 47
    m = engine.metrics(47)
    assert f'data-value="{m.leads_per_month!r}">{format_count(m.leads_per_month)}<' in panel.readout.value
    assert f'data-value="{m.expected_win_rate!r}">{format_rate(m.expected_win_rate)}<' in panel.readout.value
    assert workshop.views["marketing"].mql == m
    # The sales panel did not move, and its numbers are its own.
    assert workshop.views["sales"].proposal == sales_before.proposal
    assert workshop.views["sales"].mql == engine.metrics(workshop.panels["sales"].mql.value)


def test_thresholds_stay_ordered(workspace):
    panel = build_workshop(workspace).panels["sales"]
    panel.mql.value = 30
    panel.fast_track.value = 20
    assert panel.mql.value == 20 and panel.recycle.value <= 20
    panel.recycle.value = 60
    assert panel.mql.value == 60 and panel.fast_track.value == 60


def test_each_team_has_only_its_own_levers_and_every_input_changes_the_screen(workspace):
    workshop = build_workshop(workspace)
    assert set(workshop.panels["marketing"].levers) == {"mql_per_month"}
    assert set(workshop.panels["sales"].levers) == {"min_win_rate", "capacity_per_week", "follow_up_hours",
                                                    "accept_within_days"}
    for team, panel in workshop.panels.items():
        for control in panel.controls:
            before = _shown_everywhere(workshop)
            old = control.value
            control.value = old - 5 if old >= 10 and control not in (panel.recycle,) else old + 5
            assert _shown_everywhere(workshop) != before, f"{team}: {control.description} changed nothing"


def test_zone_follows_marketing_volume_sales_rate_and_capacity(workspace):
    workshop = build_workshop(workspace)
    engine = engine_for(workspace)
    workshop.panels["marketing"].levers["mql_per_month"].value = 120
    workshop.panels["sales"].levers["min_win_rate"].value = 25.0
    zone = engine.feasible_zone(120, 0.25)
    assert workshop.views["marketing"].zone == zone == workshop.views["sales"].zone
    if zone.empty:
        assert "No MQL threshold meets both teams" in workshop.zone_note.value
    else:
        assert f"{zone.low:g}" in workshop.zone_note.value
    workshop.panels["sales"].levers["capacity_per_week"].value = 1000
    assert workshop.views["sales"].zone == engine.feasible_zone(120, 0.25, 1000)
    note = workshop.zone_note.value
    assert "≤ 1,000 a week for sales" in note or "No MQL threshold" in note
    workshop.panels["marketing"].levers["mql_per_month"].value = 10_000_000
    assert "No MQL threshold meets both teams" in workshop.zone_note.value


def test_every_red_number_is_named_in_one_line(workspace):
    workshop = build_workshop(workspace)
    sales = workshop.panels["sales"]
    sales.mql.value = 0
    sales.levers["capacity_per_week"].value = 5
    workshop.panels["marketing"].levers["mql_per_month"].value = 9_000_000
    m = workshop.views["sales"].mql
    readout = sales.readout.value
    assert 'capacity-used bad broken' in readout and 'mql-volume bad broken' in readout
    assert (f"over sales capacity: {format_count(m.workload_per_week)} MQLs a week, capacity 5") in readout
    assert (f"below marketing&#x27;s commitment: {format_count(m.leads_per_month)} of 9,000,000 MQLs a month"
            in readout)
    sales.levers["min_win_rate"].value = 99.0
    assert "win-rate bad broken" in sales.readout.value
    assert "below sales&#x27;s minimum win rate:" in sales.readout.value
    assert "99.0% needed" in sales.readout.value


def test_signing_needs_each_difference_resolved_and_one_click_is_one_version(workspace, tmp_path):
    import datetime as dt

    workshop = build_workshop(workspace)
    workshop.config = workshop.config.model_copy(update={"paths": workshop.config.paths.model_copy(
        update={"agreements": str(tmp_path / "signed")})})
    form = workshop.form
    workshop.panels["marketing"].mql.value = 40
    workshop.panels["sales"].mql.value = 52
    assert form.button.disabled and "choose the MQL threshold (40 or 52)" in form.missing.value
    form.signer["marketing"].value = "Maria"
    form.signer["sales"].value = "Sam"
    assert form.button.disabled, "a difference is still open"
    form.differences["mql"].choice.value = "sales"
    for name in ("fast_track", "recycle"):
        if form.differences[name].values is not None:
            form.differences[name].choice.value = "typed"
            form.differences[name].typed.value = 75 if name == "fast_track" else 20
    assert not form.button.disabled and form.missing.value == ""
    assert "<td>52</td>" in form.summary.value
    workshop.save()
    workshop.save()  # a double-click: the same values again
    versions = list_agreements(tmp_path / "signed")
    assert [a.version for a in versions] == [1]
    saved = versions[0]
    assert saved.thresholds.mql == 52 and saved.signed_by.sales == "Sam"
    assert saved.model_version == str(workshop.engine.model_version_)
    assert saved.service_levels.mql_per_month == workshop.panels["marketing"].levers["mql_per_month"].value
    today = dt.datetime.now(dt.UTC).date()
    assert f"Agreement v1 signed — in force from {today}</span>" in form.status.value
    assert "data-path" not in form.status.value and str(tmp_path) not in form.status.value
    assert form.button.disabled and "Change a value to sign a new version" in form.missing.value
    assert "agreement v1</b>" in workshop.header.value
    # A new screen says which agreement is in force and starts both panels from it.
    again = Workshop(workshop.engine, workshop.config)
    assert again.panels["marketing"].mql.value == again.panels["sales"].mql.value == 52
    assert "In force: <b>agreement v1</b>" in again.header.value and "Maria (marketing)" in again.header.value


def test_a_capacity_sales_changes_is_written_into_the_agreement_notes(workspace, tmp_path):
    workshop = build_workshop(workspace)
    workshop.config = workshop.config.model_copy(update={"paths": workshop.config.paths.model_copy(
        update={"agreements": str(tmp_path / "signed")})})
    for panel in workshop.panels.values():
        panel.mql.value, panel.fast_track.value, panel.recycle.value = 50, 70, 20
    workshop.panels["sales"].levers["capacity_per_week"].value = 400
    workshop.form.signer["marketing"].value, workshop.form.signer["sales"].value = "M", "S"
    assert "sales can work 400 MQLs a week (the config says 180)" in workshop.form.summary.value
    saved = workshop.save()
    assert saved is not None and "sales can work 400 MQLs a week" in saved.notes


def test_amounts_carry_the_currency_and_the_grades_have_a_key(workspace, tmp_path):
    from alignment.config import load_config

    config = tmp_path / "alignment.toml"
    config.write_text(workspace.read_text().replace("[sales]\n", '[sales]\ncurrency = "EUR"\n'))
    loaded = load_config(config)
    workshop = Workshop(engine_for(workspace), loaded)
    assert " EUR</td>" in workshop.compare.value and " EUR" in workshop.header.value
    assert "A = best fit" in workshop.grades.value and "1 = most engaged" in workshop.grades.value
    dollars = Workshop(engine_for(workspace), loaded.model_copy(update={"sales": loaded.sales.model_copy(
        update={"currency": "$"})}))
    assert "<td>$" in dollars.compare.value
    # Results only: the panels' inputs are not repeated in the side-by-side table.
    assert "Follow-up within" not in workshop.compare.value and "MQL threshold" not in workshop.compare.value


def test_the_figure_is_sharp_and_its_axes_hold_what_matters(fitted_model_dir, demo_config):
    import io

    from PIL import Image

    workshop = build_workshop(demo_config, fitted_model_dir)
    width, height = Image.open(io.BytesIO(workshop.figure.image.value)).size
    assert width >= 1600 and height >= 1000, "twice the ~800 px it takes on a 1920-wide screen"
    y_low, y_high = workshop.figure.axes.get_ylim()
    min_rate = workshop.levels()["min_win_rate"]
    rates = [v.mql.expected_win_rate for v in workshop.views.values()]
    assert y_low <= min(rates + [min_rate]) and y_high >= max(rates + [min_rate])
    assert y_high < workshop.engine.curve_["expected_win_rate"].max(), "not the near-empty top of the scale"
    workshop.panels["sales"].levers["min_win_rate"].value = 90.0  # a floor far above: the axis follows it
    assert workshop.figure.axes.get_ylim()[1] >= 0.9
    assert workshop.figure.axes.get_legend() is None and workshop.figure.figure.legends, "legend outside"
    marketing, sales = (workshop.figure._markers[t] for t in ("marketing", "sales"))
    assert marketing.get_marker() != sales.get_marker()
    assert marketing.get_markersize() > sales.get_markersize()
    assert "linear-gradient" in workshop.zone_tracks.value


def test_the_points_tab_reads_in_words_biggest_movers_first(fitted_model_dir, demo_config):
    import pandas as pd

    workshop = build_workshop(demo_config, fitted_model_dir)
    page = workshop.scale.value
    points = pd.read_csv(fitted_model_dir / "points.csv")
    assert "label" in points.columns and not points["label"].str.contains("_decayed| to < ").any()
    assert " to < " not in page and "_decayed" not in page
    spreads = points.groupby("attribute")["points"].agg(lambda p: p.max() - p.min()).sort_values()
    biggest = spreads.index[-1]
    from alignment.labels import attribute_words

    assert page.index(attribute_words(biggest)) < page.index(attribute_words(spreads.index[0]))
    assert "more attributes that move a score less" in page


@pytest.mark.slow
def test_notebook_runs_under_papermill(workspace, tmp_path):
    out = tmp_path / "workshop.ipynb"
    executed = execute(notebook_path(NOTEBOOK), out, {"config_path": str(workspace), "model_dir": None},
                       progress=False)
    outputs = [o for cell in executed.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
    committed = json.loads(notebook_path(NOTEBOOK).read_text())
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in committed["cells"] if c["cell_type"] == "code"), "commit the notebook without outputs"


# --- the launcher --------------------------------------------------------------------------------


def test_voila_command_is_locked_down():
    command = voila_command(9999)
    for flag in ("--Voila.ip=127.0.0.1", "--strip_sources=True", "--show_tracebacks=False", "--no-browser",
                 "--port=9999"):
        assert flag in command


def test_kernel_falls_back_to_this_interpreter(tmp_path, monkeypatch):
    import sys

    from jupyter_client.kernelspec import KernelSpecManager

    from alignment.serve import _kernel_path

    assert _kernel_path(tmp_path / "registered") is None  # `make install` registers the kernel
    monkeypatch.setattr(KernelSpecManager, "find_kernel_specs", lambda self: {"python3": "/x"})
    path = _kernel_path(tmp_path / "fallback")
    spec = json.loads((Path(path) / "kernels" / "alignment" / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable and "ipykernel_launcher" in spec["argv"]


def test_server_refuses_a_missing_model(workspace, tmp_path):
    with pytest.raises(ModelError, match="model folder not found.*alignment fit"):
        WorkshopServer(workspace, tmp_path / "nope").start()
    with pytest.raises(ValueError, match="startup_timeout"):
        WorkshopServer(workspace, startup_timeout=0).start()
    with pytest.raises(ServeError, match="not a TCP port"):
        WorkshopServer(workspace, port=70000).start()
    result = CliRunner().invoke(cli, ["workshop", "--config", str(workspace),
                                      "--model", str(tmp_path / "nope")])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "model folder not found" in result.output


@pytest.mark.slow
def test_workshop_command_prints_url_and_stops_cleanly(workspace):
    import queue
    import signal
    import socket
    import subprocess
    import sys
    import threading
    import urllib.error
    import urllib.request

    from alignment.serve import free_port

    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "alignment.cli", "workshop", "--config", str(workspace),
                                "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    try:
        first = lines.get(timeout=180)
        assert first.startswith(f"Workshop: http://127.0.0.1:{port}/"), first
        from alignment.config import load_config

        assert f"(model {load_config(workspace).model_dir.resolve()};" in first  # the folder it serves
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/voila/static/", timeout=10)
        except urllib.error.HTTPError:
            pass  # any HTTP answer: the server is up
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "Voilà must stop with the command"


# --- the real browser ----------------------------------------------------------------------------

SIZES = [(1280, 720), (1920, 1080)]
"""A projector and a large screen."""
RED = "rgb(180, 35, 24)"


@pytest.fixture(scope="module")
def served(workspace):
    """The served workshop and a headless Chromium (one server for the module)."""
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with WorkshopServer(workspace, startup_timeout=120) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield server, browser
        browser.close()


def _close(page) -> None:
    """Leave the page as a person does (its unload beacon shuts its kernel down), then close it."""
    page.goto("about:blank")
    page.wait_for_timeout(300)
    page.close()


def _open(served, size=(1280, 720)):
    server, browser = served
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.goto(server.url, timeout=180_000)
    page.wait_for_selector(".marketing-panel .mql-volume", timeout=180_000)
    page.wait_for_selector("img.tradeoff-figure", timeout=60_000)
    return page


@pytest.fixture(scope="module")
def browser_page(served):
    """One page at the projector's size, for the tests that only need the page to be there."""
    page = _open(served)
    yield page, served[0]
    _close(page)


FIRST_SCREEN = [f".{team}-{name}-slider" for team in ("marketing", "sales")
                for name in ("mql", "fast-track", "recycle")]
FIRST_SCREEN += [f".{team}-panel .{number}" for team in ("marketing", "sales")
                 for number in ("mql-volume", "win-rate", "wins-captured", "capacity-used")]
FIRST_SCREEN += [".marketing-panel .lever-mql-per-month", ".sales-panel .lever-min-win-rate",
                 ".sales-panel .lever-capacity-per-week", ".sales-panel .lever-follow-up-hours",
                 ".sales-panel .lever-accept-within-days", "img.tradeoff-figure", ".zone-note"]


@pytest.mark.browser
@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_first_screen_holds_both_proposals_their_numbers_and_the_figure(served, size, tmp_path):
    page = _open(served, size)
    width, height = size
    outside = []
    for selector in FIRST_SCREEN:
        box = page.locator(selector).first.bounding_box()
        if box is None or box["x"] < 0 or box["y"] < 0 or box["x"] + box["width"] > width + 0.5 \
                or box["y"] + box["height"] > height + 0.5:
            outside.append((selector, box))
    page.screenshot(path=str(tmp_path / f"workshop-{width}x{height}.png"))
    assert outside == [], f"not on the first screen at {width}x{height}: {outside}"
    figure = page.locator("img.tradeoff-figure")
    natural, shown = figure.evaluate("img => [img.naturalWidth, img.clientWidth]")
    assert natural >= 1.9 * shown, f"a {natural} px bitmap shown at {shown} px is not sharp"
    track = page.locator(".marketing-mql-slider .noUi-connects").evaluate(
        "e => getComputedStyle(e).backgroundImage")
    zone_shown = page.locator(".zone-note .zone-range").count() > 0
    assert "linear-gradient" in track and ("26, 152, 80" in track) == zone_shown, "the zone on the track"
    zone_font = float(page.locator(".zone-note").evaluate("e => getComputedStyle(e).fontSize")[:-2])
    assert zone_font >= 17, "the zone sentence is the most important line: large"
    _close(page)


@pytest.mark.browser
def test_browser_shows_engine_numbers_as_a_slider_moves(browser_page, workspace):
    page, _ = browser_page
    engine = engine_for(workspace)
    handle = page.locator(".marketing-mql-slider .noUi-handle")
    readout = page.locator(".marketing-mql-slider .widget-readout")
    start = int(readout.inner_text())
    direction = -1 if start >= 90 else 1
    target = start + 3 * direction
    m = engine.metrics(target)
    assert m.leads != engine.metrics(start).leads, "pick a move that changes the numbers"
    handle.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight" if direction > 0 else "ArrowLeft")
    page.wait_for_function(
        "([vol, rate]) => document.querySelector('.marketing-panel .mql-volume').textContent === vol"
        " && document.querySelector('.marketing-panel .win-rate').textContent === rate",
        arg=[format_count(m.leads_per_month), format_rate(m.expected_win_rate)], timeout=20_000)
    assert int(readout.inner_text()) == target
    exact = float(page.locator(".marketing-panel .mql-volume").get_attribute("data-value"))
    assert exact == pytest.approx(m.leads_per_month, rel=1e-12)
    assert "load_workshop" not in page.content(), "sources must be stripped"


def _type(page, selector: str, value: str) -> None:
    box = page.locator(f"{selector} input")
    box.fill(value)
    box.press("Enter")


@pytest.mark.browser
@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_a_red_number_is_red_where_it_stands_and_named_under_the_panel(served, size):
    page = _open(served, size)
    _type(page, ".sales-panel .lever-capacity-per-week", "5")
    page.wait_for_selector(".sales-panel .capacity-used.broken", timeout=20_000)
    colour = page.locator(".sales-panel .capacity-used").evaluate("e => getComputedStyle(e).color")
    assert colour == RED
    reason = page.locator(".sales-panel .broken-capacity").inner_text()
    assert reason.startswith("over sales capacity: ") and reason.endswith("capacity 5")
    assert page.locator(".sales-panel .broken-capacity").bounding_box()["y"] < size[1], "on the first screen"
    _type(page, ".marketing-panel .lever-mql-per-month", "9000000")
    page.wait_for_selector(".marketing-panel .broken-commitment", timeout=20_000)
    assert "below marketing's commitment:" in page.locator(".marketing-panel .broken-commitment").inner_text()
    assert "No MQL threshold meets both teams" in page.locator(".zone-note").inner_text()
    _close(page)


@pytest.mark.browser
@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_signing_in_the_browser_resolves_the_differences_and_a_double_click_is_one_version(
        served, size, workspace):
    page = _open(served, size)
    folder = workspace.parent / "agreements"
    before = len(list_agreements(folder)) if folder.is_dir() else 0
    handle = page.locator(".marketing-mql-slider .noUi-handle")
    handle.focus()
    start = int(page.locator(".marketing-mql-slider .widget-readout").inner_text())
    page.keyboard.press("ArrowLeft" if start > 50 else "ArrowRight")
    page.locator(".workshop-tabs .lm-TabBar-tab", has_text="Sign the agreement").click()
    page.wait_for_selector(".difference.widget-hbox >> visible=true", timeout=20_000)
    button = page.locator("button.save-agreement")
    assert button.is_disabled()
    assert "choose the MQL threshold" in page.locator(".sign-missing").inner_text()
    page.locator(".resolve-mql button", has_text="Sales's").click()
    for name in ("fast-track", "recycle"):
        row = page.locator(f".resolve-{name}")
        if row.is_visible():
            row.locator("button", has_text="Sales's").click()
    for team, name in (("marketing", "Maria Marketing"), ("sales", "Sam Sales")):
        page.locator(f".signer-{team} input").fill(name)
    page.locator(".agreement-notes textarea").fill("agreed in the browser test")
    page.locator(".agreement-notes textarea").blur()
    page.wait_for_function("() => !document.querySelector('button.save-agreement').disabled", timeout=20_000)
    button.dblclick()
    page.wait_for_selector(".save-status .save-ok", timeout=20_000)
    status = page.locator(".save-status").inner_text()
    import re

    assert re.fullmatch(r"Agreement v\d+ signed — in force from \d{4}-\d{2}-\d{2}", status.strip()), status
    page.wait_for_timeout(1500)  # a second click, were it to save, would have landed by now
    saved = list_agreements(folder)
    assert len(saved) == before + 1, "a double-click must save one version"
    latest = saved[-1]
    assert (latest.signed_by.marketing, latest.signed_by.sales) == ("Maria Marketing", "Sam Sales")
    assert latest.notes == "agreed in the browser test"
    assert button.is_disabled()
    _close(page)
    # Reloaded, the page says which agreement is in force and starts both panels from it.
    page = _open(served, size)
    assert f"agreement v{latest.version}" in page.locator(".agreement-line").inner_text()
    for team in ("marketing", "sales"):
        assert int(page.locator(f".{team}-mql-slider .widget-readout").inner_text()) == latest.thresholds.mql
    _close(page)


@pytest.mark.browser
@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_the_points_tab_reads_in_words(served, size):
    page = _open(served, size)
    page.locator(".workshop-tabs .lm-TabBar-tab", has_text="The points scale").click()
    table = page.locator(".points-scale table.scale-attribute").first
    table.wait_for(state="visible", timeout=20_000)
    text = page.locator(".points-scale").inner_text()
    assert " to < " not in text and "moves a score by up to" in text
    _close(page)


@pytest.mark.browser
@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_every_input_on_the_page_changes_what_the_room_sees(served, size):
    page = _open(served, size)
    screen = ("() => document.querySelector('.alignment-workshop').innerText"
              " + document.querySelector('img.tradeoff-figure').src.length"
              " + document.querySelector('.zone-track').outerHTML")

    def changes(act, what: str) -> None:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        before = page.evaluate(screen)
        act()
        try:
            page.wait_for_function(f"(before) => ({screen})() !== before", arg=before, timeout=20_000)
        except PlaywrightTimeout:
            pytest.fail(f"{what} changed nothing on screen")

    for team in ("marketing", "sales"):
        for name in ("mql", "fast-track", "recycle"):
            handle = page.locator(f".{team}-{name}-slider .noUi-handle")
            value = int(page.locator(f".{team}-{name}-slider .widget-readout").inner_text())
            key = "ArrowLeft" if value > 50 else "ArrowRight"
            changes(lambda handle=handle, key=key: (handle.focus(), page.keyboard.press(key)),
                    f"{team}'s {name} slider")
    for selector, value in ((".marketing-panel .lever-mql-per-month", "200"),
                            (".sales-panel .lever-min-win-rate", "12"),
                            (".sales-panel .lever-capacity-per-week", "150"),
                            (".sales-panel .lever-follow-up-hours", "8"),
                            (".sales-panel .lever-accept-within-days", "3")):
        changes(lambda selector=selector, value=value: _type(page, selector, value), selector)
    _close(page)


@pytest.mark.browser
def test_a_reload_leaves_no_extra_kernel(served):
    import time

    from tests.browser import kernel_count

    server, _ = served
    page = _open(served)

    def settled(expected: int) -> int:
        count = kernel_count(server.process)
        for _ in range(60):
            if count == expected:
                break
            time.sleep(0.5)
            count = kernel_count(server.process)
        return count

    time.sleep(3)
    with_page = kernel_count(server.process)
    page.reload()
    page.wait_for_selector(".marketing-panel .mql-volume", timeout=180_000)
    assert settled(with_page) == with_page, "the reloaded page's old kernel must stop"
    _close(page)
    assert settled(with_page - 1) == with_page - 1, "a closed page's kernel must stop"


@pytest.mark.browser
def test_browser_cannot_execute_code(browser_page, tmp_path):
    """An execute_request sent over the kernel websocket from the page must not run; a
    kernel_info_request on the same socket is answered, so the channel itself works."""
    page, server = browser_page
    marker = tmp_path / f"pwned-{uuid.uuid4().hex}"
    result = page.evaluate(
        """async ([code]) => {
          const config = JSON.parse(document.getElementById('jupyter-config-data').textContent);
          const url = `ws://${location.host}/api/kernels/${config.kernelId}/channels?session_id=probe`;
          const ws = new WebSocket(url);
          const replies = [];
          ws.onmessage = (e) => { try { replies.push(JSON.parse(e.data).header.msg_type); } catch (_) {} };
          await new Promise((ok, fail) => { ws.onopen = ok; ws.onerror = fail; });
          const msg = (type, content) => JSON.stringify({
            header: {msg_id: crypto.randomUUID(), msg_type: type, session: 'probe', username: 'x',
                     date: new Date().toISOString(), version: '5.3'},
            parent_header: {}, metadata: {}, content: content, channel: 'shell', buffers: []});
          ws.send(msg('execute_request', {code: code, silent: false, store_history: false,
                                          user_expressions: {}, allow_stdin: false, stop_on_error: true}));
          ws.send(msg('kernel_info_request', {}));
          const deadline = Date.now() + 8000;
          while (Date.now() < deadline && !replies.includes('kernel_info_reply')) {
            await new Promise(r => setTimeout(r, 100));
          }
          await new Promise(r => setTimeout(r, 2000));
          ws.close();
          return replies;
        }""", [f"open({str(marker)!r}, 'w').write('ran')"])
    assert "kernel_info_reply" in result, f"the probe never reached the kernel: {result}"
    assert "execute_reply" not in result and not marker.exists()


@pytest.mark.browser
def test_malformed_widget_messages_send_no_traceback_to_the_page(browser_page):
    """A comm_open with a widget protocol that does not exist, one to an unknown target and a comm_msg to
    no comm: the page gets no stream message with a traceback or the server's paths (they go to the log)."""
    page, server = browser_page
    replies = page.evaluate(
        """async () => {
          const config = JSON.parse(document.getElementById('jupyter-config-data').textContent);
          const ws = new WebSocket(`ws://${location.host}/api/kernels/${config.kernelId}/channels?session_id=p2`);
          const replies = [];
          ws.onmessage = (e) => { if (typeof e.data === 'string') replies.push(e.data); };
          await new Promise((ok, fail) => { ws.onopen = ok; ws.onerror = fail; });
          const msg = (type, content) => JSON.stringify({
            header: {msg_id: crypto.randomUUID(), msg_type: type, session: 'p2', username: 'x',
                     date: new Date().toISOString(), version: '5.3'},
            parent_header: {}, metadata: {}, content: content, channel: 'shell', buffers: []});
          ws.send(msg('comm_open', {comm_id: crypto.randomUUID(), target_name: 'jupyter.widget',
                   data: {state: {_model_module: '@jupyter-widgets/controls', _model_module_version: '9.9.9',
                                  _model_name: 'NopeModel'}, buffer_paths: []}}));
          ws.send(msg('comm_open', {comm_id: crypto.randomUUID(), target_name: 'no.such.target', data: {}}));
          ws.send(msg('comm_msg', {comm_id: 'not-a-comm', data: {method: 'update', state: {}}}));
          ws.send(msg('kernel_info_request', {}));
          const deadline = Date.now() + 8000;
          while (Date.now() < deadline && !replies.some(r => r.includes('kernel_info_reply'))) {
            await new Promise(r => setTimeout(r, 100));
          }
          await new Promise(r => setTimeout(r, 2000));
          ws.close();
          return replies;
        }""")
    assert any("kernel_info_reply" in reply for reply in replies), "the probe never reached the kernel"
    streams = [json.loads(reply)["content"].get("text", "") for reply in replies
               if json.loads(reply)["header"]["msg_type"] in ("stream", "error")]
    leaked = [text for text in streams if "Traceback" in text or ".py" in text or "No such comm" in text]
    assert leaked == []


def test_entering_a_started_server_starts_nothing_more(fitted_model_dir, demo_config):
    """`with start_workshop_server(...)` must leave no Voilà running behind it."""
    from alignment.serve import start_workshop_server

    server = start_workshop_server(demo_config, fitted_model_dir)
    started = server.process
    with server:
        assert server.process is started and started.poll() is None
    assert started.poll() is not None


@pytest.mark.browser
def test_another_site_cannot_shut_the_rooms_kernel_down(browser_page):
    """The unload beacon is taken from the page's own origin only: a POST from elsewhere is refused."""
    import urllib.error
    import urllib.request

    page, server = browser_page
    kernel_id = page.evaluate(
        "() => JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId")
    url = f"{server.url}voila/api/shutdown/{kernel_id}"
    # From another site (the server's cross-origin check answers 404), and with no origin and no XSRF token
    # (a script outside any browser: 403): both refused.
    for headers, code in (({"Origin": "http://evil.example"}, 404), ({}, 403)):
        request = urllib.request.Request(url, data=b"", method="POST", headers=headers)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == code, headers
    with urllib.request.urlopen(f"{server.url}api/kernels/{kernel_id}", timeout=30) as alive:
        assert alive.status == 200, "the room's kernel is still running"
