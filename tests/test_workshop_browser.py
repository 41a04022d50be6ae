"""The workshop: widgets against the engine, the notebook through papermill, and the Voilà app in
headless Chromium (marker ``browser``; skipped without Chromium unless ALIGNMENT_REQUIRE_BROWSER=1)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from alignment.agreement import list_agreements, load_agreement
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


def test_panels_show_the_engine_numbers(workspace):
    workshop = build_workshop(workspace)
    assert isinstance(workshop, Workshop)
    engine = engine_for(workspace)
    panel = workshop.panels["marketing"]
    sales_before = workshop.views["sales"]
    panel.mql.value = 47
    m = engine.metrics(47)
    assert f'data-value="{m.leads_per_month!r}">{format_count(m.leads_per_month)}<' in panel.numbers.value
    assert f'data-value="{m.expected_win_rate!r}">{format_rate(m.expected_win_rate)}<' in panel.numbers.value
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


def test_zone_follows_marketing_volume_and_sales_rate(workspace):
    workshop = build_workshop(workspace)
    engine = engine_for(workspace)
    workshop.panels["marketing"].mql_per_month.value = 120
    workshop.panels["sales"].min_win_rate.value = 25.0
    zone = engine.feasible_zone(120, 0.25)
    assert workshop.views["marketing"].zone == zone == workshop.views["sales"].zone
    if zone.empty:
        assert "No threshold meets" in workshop.zone_note.value
    else:
        assert f"{zone.low:g}" in workshop.zone_note.value
    workshop.panels["marketing"].mql_per_month.value = 10_000_000
    assert "No threshold meets" in workshop.zone_note.value


def test_record_refuses_without_signers_then_saves(workspace, tmp_path):
    workshop = build_workshop(workspace)
    workshop.config = workshop.config.model_copy(update={"paths": workshop.config.paths.model_copy(
        update={"agreements": str(tmp_path / "signed")})})
    workshop.panels["sales"].mql.value = 52
    workshop.adopt.value = "sales"
    workshop.signer["marketing"].value = "Maria"
    workshop.save()
    assert "needs a signer for sales" in workshop.status.value and list_agreements(tmp_path / "signed") == []
    workshop.signer["sales"].value = "Sam"
    workshop.notes.value = "first"
    workshop.save()
    saved = load_agreement(tmp_path / "signed")
    assert saved.version == 1 and saved.thresholds.mql == 52 and saved.signed_by.sales == "Sam"
    assert saved.model_version == str(workshop.engine.model_version_)
    assert saved.grade_cutoffs == workshop.engine.grade_cutoffs_
    assert f'data-path="{saved.path}"' in workshop.status.value
    workshop.save()
    assert [a.version for a in list_agreements(tmp_path / "signed")] == [1, 2]
    # A new workshop starts both panels from the agreement in force.
    again = Workshop(workshop.engine, workshop.config)
    assert again.panels["marketing"].mql.value == again.panels["sales"].mql.value == 52


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


@pytest.fixture(scope="module")
def browser_page(workspace):
    """The served workshop, loaded in headless Chromium (one server and page for the module)."""
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with WorkshopServer(workspace, startup_timeout=120) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server.url, timeout=180_000)
        page.wait_for_selector(".marketing-panel .mql-volume", timeout=180_000)
        yield page, server
        browser.close()


def _shown(page, team: str, css_class: str) -> str:
    return page.locator(f".{team}-panel .{css_class}").inner_text()


@pytest.mark.browser
def test_browser_shows_engine_numbers_and_records_agreement(browser_page, workspace):
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
    threshold = int(readout.inner_text())
    assert threshold == target
    exact = float(page.locator(".marketing-panel .mql-volume").get_attribute("data-value"))
    assert exact == pytest.approx(m.leads_per_month, rel=1e-12)
    assert "build_workshop" not in page.content(), "sources must be stripped"

    page.locator(".signer-marketing input").fill("Maria Marketing")
    page.locator(".signer-marketing input").press("Enter")
    page.locator(".signer-sales input").fill("Sam Sales")
    page.locator(".signer-sales input").press("Enter")
    page.locator(".agreement-notes textarea").fill("agreed in the browser test")
    page.locator(".agreement-notes textarea").blur()
    page.locator(".adopt-choice button", has_text="Marketing").click()
    page.locator("button.save-agreement").click()
    page.wait_for_selector(".save-status .save-ok", timeout=20_000)
    path = Path(page.locator(".save-status .save-ok").get_attribute("data-path"))
    assert path.is_file() and path.parent == workspace.parent / "agreements"
    saved = load_agreement(path.parent)
    assert saved.path == path and saved.thresholds.mql == threshold
    assert (saved.signed_by.marketing, saved.signed_by.sales) == ("Maria Marketing", "Sam Sales")
    assert saved.notes == "agreed in the browser test"


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
