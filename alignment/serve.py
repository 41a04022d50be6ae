"""Serve the calibration workshop with Voilà on 127.0.0.1.

``alignment workshop`` checks the config and the model folder first (so a bad path is one clear
line, not a broken page), then starts Voilà on ``notebooks/02_threshold_workshop.ipynb`` with the
config and model passed through the environment (``ALIGNMENT_CONFIG``, ``ALIGNMENT_MODEL``), and
prints the URL once the server answers.

What the browser can do
-----------------------
Voilà executes the notebook itself, server side, and then only relays widget traffic: its kernel
manager allows exactly ``comm_open``, ``comm_msg``, ``comm_close``, ``comm_info_request``,
``kernel_info_request`` and ``shutdown_request`` from the page; any other message (an
``execute_request`` sent over the kernel websocket by hand included) is dropped. Sources are
stripped from the page (``--strip_sources=True``), tracebacks are hidden
(``--show_tracebacks=False``), the server listens on the loopback interface only, and the browser
is not opened. ``tests/test_workshop_browser.py`` sends an ``execute_request`` from the page and
checks that it does not run.

The page opens at once: Voilà keeps :data:`POOL_SIZE` kernel preheated, which has already read the model
and built the engine (the notebook's heavy cells) and waits for a page (``voila.utils.wait_for_request``)
before it reads the agreement in force and builds the screen, so a page never shows an agreement older than
its load. When a page takes the kernel, the pool starts the next one; closing or reloading a page shuts its
kernel down (Voilà's ``beforeunload`` beacon, let through from the page's own origin:
:func:`accept_own_shutdowns`).

Every page load takes a kernel (about 270 MB), so the page is guarded before it does (:func:`page_guard`, run
in the page handler's ``prepare``; Voilà's prelaunch hook cannot be combined with preheated kernels): a load
that another web site triggers (a cross-origin image, script or frame: the browser's
``Sec-Fetch-Site``/``Origin`` headers say so) is refused with 403; beyond :data:`MAX_KERNELS` open pages a
load is refused with 503 and a sentence saying why. A kernel whose page is gone (no websocket) is stopped
after :data:`IDLE_SECONDS` without activity (preheated kernels are never culled).
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import click

from alignment.config import find_config
from alignment.exceptions import AlignmentError, ModelError
from alignment.notebook import notebook_path
from alignment.thresholds import ThresholdEngine

NOTEBOOK = "02_threshold_workshop.ipynb"
KERNEL = "alignment"
HOST = "127.0.0.1"
MAX_KERNELS = 4
"""Workshop pages open at once (the projector, a laptop or two); one more is refused until one closes."""
POOL_SIZE = 1
"""Kernels kept preheated for the next page (each holds the engine: about 270 MB at demo size)."""
IDLE_SECONDS = 600
"""A kernel without a connected page and without activity for this long is stopped."""
CULL_INTERVAL_SECONDS = 30
ALLOWED_FETCH_SITES = ("none", "same-origin")
"""``Sec-Fetch-Site`` values of a page the user opened (typed, bookmarked, reloaded); others come from
another site."""
ALLOWED_FETCH_DESTS = ("document", "empty")


def page_guard(handler, notebook=None, cwd=None, *, max_kernels: int = MAX_KERNELS, spare_kernels: int = 0):
    """Refuse a page load from another site, or beyond the cap of open pages.

    Parameters
    ----------
    handler : tornado.web.RequestHandler
        The page request (Voilà's handler: ``kernel_manager`` lists the running kernels).
    notebook, cwd
        Unused (the signature of Voilà's prelaunch hook).
    max_kernels : int
        Pages open at once (the server passes its own cap).
    spare_kernels : int
        Preheated kernels waiting for a page (running, but no page holds them).

    Raises
    ------
    tornado.web.HTTPError
        403 for a cross-origin load, 503 when the cap is reached.
    """
    from tornado.web import HTTPError

    headers = handler.request.headers
    site, dest = headers.get("Sec-Fetch-Site"), headers.get("Sec-Fetch-Dest")
    origin = headers.get("Origin")
    own = f"{handler.request.protocol}://{handler.request.host}"
    if (site is not None and site not in ALLOWED_FETCH_SITES) or (dest is not None and
                                                                  dest not in ALLOWED_FETCH_DESTS) \
            or (origin is not None and origin != own):
        raise HTTPError(403, reason="The workshop opens only from its own address, not from another page")
    running = max(0, len(handler.kernel_manager.list_kernel_ids()) - spare_kernels)
    if running >= max_kernels:
        raise HTTPError(503, reason=f"The workshop is already open in {running} pages: close one, or wait "
                                    "a few minutes for an idle one to stop")
    return None


def guard_pages(handler_class, *, max_kernels: int, spare_kernels: int) -> None:
    """Run :func:`page_guard` first in every page request of ``handler_class`` (Voilà's page handler)."""
    original = handler_class.prepare

    async def prepare(self, *args, **kwargs):
        page_guard(self, max_kernels=max_kernels, spare_kernels=spare_kernels)
        result = original(self, *args, **kwargs)
        return await result if inspect.isawaitable(result) else result

    handler_class.prepare = prepare


def accept_own_shutdowns(handler_class) -> None:
    """Let the page's own "shut my kernel down" beacon through ``handler_class`` (Voilà's shutdown handler).

    A page that closes or reloads asks Voilà to stop its kernel with ``navigator.sendBeacon``, which
    carries no XSRF token: the server refused it (403), and every refresh left a kernel running until it
    was culled. The beacon comes from the page's own origin (the browser sets ``Origin``, which a page
    cannot forge); a request from anywhere else still needs the token.
    """
    original = handler_class.check_xsrf_cookie

    def check_xsrf_cookie(self):
        own = f"{self.request.protocol}://{self.request.host}"
        if self.request.headers.get("Origin") == own:
            return None
        return original(self)

    handler_class.check_xsrf_cookie = check_xsrf_cookie


def _voila_config(workdir: Path, idle_seconds: float, max_kernels: int, pool_size: int = POOL_SIZE) -> Path:
    """A ``voila.py`` in ``workdir``: preheated kernels, :func:`page_guard` on the page, kernel culling."""
    interval = max(1, min(CULL_INTERVAL_SECONDS, int(idle_seconds) // 2))
    (workdir / "voila.py").write_text(
        "from voila.handler import VoilaHandler\n"
        "from voila.shutdown_kernel_handler import VoilaShutdownKernelHandler\n"
        "from alignment.serve import accept_own_shutdowns, guard_pages\n"
        f"guard_pages(VoilaHandler, max_kernels={int(max_kernels)}, spare_kernels={int(pool_size)})\n"
        "accept_own_shutdowns(VoilaShutdownKernelHandler)\n"
        f"c.VoilaConfiguration.preheat_kernel = {pool_size > 0}\n"
        f"c.VoilaConfiguration.default_pool_size = {int(pool_size)}\n"
        f"c.MappingKernelManager.cull_idle_timeout = {int(idle_seconds)}\n"
        f"c.MappingKernelManager.cull_interval = {interval}\n"
        "c.MappingKernelManager.cull_connected = False\n", encoding="utf-8")
    return workdir


class ServeError(AlignmentError):
    """The workshop server could not be started."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _kernel_path(workdir: Path) -> str | None:
    """A ``JUPYTER_PATH`` entry defining the ``alignment`` kernel as this interpreter, when it is not
    registered (e.g. an installed package without ``make install``); None when it is."""
    from jupyter_client.kernelspec import KernelSpecManager

    if KERNEL in KernelSpecManager().find_kernel_specs():
        return None
    spec_dir = workdir / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python (alignment)", "language": "python"}), encoding="utf-8")
    return str(workdir)


def voila_command(port: int, config_dir: Path | None = None) -> list[str]:
    """The Voilà command line: loopback only, no sources, no tracebacks, no browser, fixed port; with
    ``config_dir``, the ``voila.py`` of :func:`_voila_config` (page guard, kernel culling)."""
    command = [sys.executable, "-m", "voila", str(notebook_path(NOTEBOOK)), "--no-browser",
               f"--port={port}", f"--Voila.ip={HOST}", "--Voila.port_retries=0",
               "--strip_sources=True", "--show_tracebacks=False", "--theme=light"]
    if config_dir is not None:
        command.append(f"--Voila.config_file_paths={config_dir}")
    return command


class WorkshopServer:
    """Voilà serving the workshop in a subprocess (a context manager).

    Parameters
    ----------
    config_path : str, Path or None
        Workspace config (None = ``./alignment.toml``).
    model_dir : str, Path or None
        Model folder (None = the config's ``paths.model``).
    port : int or None
        None = a free port.
    startup_timeout : float
        Seconds to wait for the server to answer.
    log_path : str, Path or None
        Where Voilà's own log goes (default: a temporary file).
    idle_seconds : float
        A kernel without a page for this long is stopped (:data:`IDLE_SECONDS`).
    max_kernels : int
        Pages open at once (:data:`MAX_KERNELS`).
    """

    def __init__(self, config_path: str | Path | None, model_dir: str | Path | None = None,
                 port: int | None = None, startup_timeout: float = 60.0,
                 log_path: str | Path | None = None, idle_seconds: float = IDLE_SECONDS,
                 max_kernels: int = MAX_KERNELS) -> None:
        self.idle_seconds = idle_seconds
        self.max_kernels = max_kernels
        self.config_path = config_path
        self.model_dir = model_dir
        self.port = port
        self.startup_timeout = startup_timeout
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.model_path: Path | None = None
        """The model folder served (absolute), once :meth:`start` has checked it."""

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def check(self) -> tuple[Path, Path]:
        """Resolve and check the config and the model folder; return both as absolute paths."""
        config = find_config(self.config_path)
        model_dir = Path(self.model_dir) if self.model_dir else config.model_dir
        if not model_dir.is_dir():
            raise ModelError("model folder not found", file=str(model_dir),
                             hint="run `alignment fit` first, or pass --model DIR")
        ThresholdEngine.from_model_dir(model_dir, config)  # fails here, in one line, if it is unusable
        return Path(config.path or Path.cwd() / "alignment.toml").resolve(), model_dir.resolve()

    def start(self) -> WorkshopServer:
        """Start Voilà and wait until it answers; return self (already running: nothing more to do)."""
        if self.process is not None and self.process.poll() is None:
            # `with start_workshop_server(...)` enters a started server: a second start would orphan it.
            return self
        if self.startup_timeout <= 0:
            raise ValueError(f"startup_timeout must be > 0, got {self.startup_timeout}")
        config_path, model_dir = self.check()
        self.model_path = model_dir
        if self.port is None:
            self.port = free_port()
        elif not 0 < self.port < 65536:
            raise ServeError(f"port {self.port} is not a TCP port", hint="pass --port between 1 and 65535")
        self._workdir = Path(tempfile.mkdtemp(prefix="alignment-workshop-"))
        env = {**os.environ, "ALIGNMENT_CONFIG": str(config_path), "ALIGNMENT_MODEL": str(model_dir),
               "MPLBACKEND": "Agg", "ALIGNMENT_KERNEL_LOG": str(self._workdir / "kernel.log")}
        extra_path = _kernel_path(self._workdir)
        if extra_path:
            env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [extra_path, env.get("JUPYTER_PATH")]))
        log = Path(self.log_path) if self.log_path else self._workdir / "voila.log"
        self._log_path = log
        with open(log, "ab") as log_handle:
            command = voila_command(self.port, _voila_config(self._workdir, self.idle_seconds,
                                                             self.max_kernels))
            self.process = subprocess.Popen(command, env=env, stdout=log_handle,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.startup_timeout
        # Any HTTP answer means the server is up; the page itself is not fetched (it starts a kernel).
        probe = f"{self.url}voila/static/"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self._log_tail()
                self.stop()
                raise ServeError(f"Voilà exited at start ({tail})", hint="is the port already in use?")
            try:
                with urllib.request.urlopen(probe, timeout=2):
                    return self
            except urllib.error.HTTPError:
                return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        self.stop()
        raise ServeError(f"Voilà did not answer within {self.startup_timeout:g} s",
                         hint="the machine may be busy")

    def _log_tail(self) -> str:
        try:
            lines = [ln for ln in self._log_path.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return "no log"
        return lines[-1].strip()[:200] if lines else "no log"

    def stop(self) -> None:
        """Stop Voilà (and its kernels) and remove the temporary folder."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if getattr(self, "_workdir", None) is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> WorkshopServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def start_workshop_server(config_path: str | Path | None, model_dir: str | Path | None = None,
                          port: int | None = None, startup_timeout: float = 60.0) -> WorkshopServer:
    """Start the workshop on a (free) local port and wait until it answers.

    Use as ``with start_workshop_server(cfg, model) as server: ... server.url``.
    """
    return WorkshopServer(config_path, model_dir, port=port, startup_timeout=startup_timeout).start()


def run_workshop(config_path: str | Path | None, model_dir: str | Path | None, port: int = 8866) -> None:
    """``alignment workshop``: serve until Ctrl-C, printing the URL once it answers."""
    server = WorkshopServer(config_path, model_dir, port=port)
    # A plain `kill` must stop Voilà and its kernels too, not orphan them.
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.start()
        click.echo(f"Workshop: {server.url}  (model {server.model_path}; Ctrl-C to stop)")
        server.process.wait()
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
