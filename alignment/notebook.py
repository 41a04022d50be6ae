"""Run a parameterized notebook with papermill and turn it into code-free HTML.

Shared by the monthly report and anyone else who renders a notebook: execution always uses the registered
``alignment`` kernel, a failing cell becomes one :class:`~alignment.exceptions.ReportError` line naming the
cell and the error, and the HTML is one self-contained file (inputs hidden, images embedded, no script fetched
from the network).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from alignment.exceptions import AlignmentError, ReportError


def _import_nbformat() -> Any:
    """``import nbformat``, without the second jsonschema (under it) spends building 38 parsers of the
    optional ``rfc3987_syntax`` to check IRIs, which no notebook holds: the module reads as absent while
    jsonschema loads, and is importable again afterwards."""
    if "jsonschema" in sys.modules or "rfc3987_syntax" in sys.modules:
        import nbformat as module
        return module
    sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]  # "import" now raises ImportError
    try:
        import nbformat as module
    finally:
        del sys.modules["rfc3987_syntax"]
    return module


nbformat = _import_nbformat()

KERNEL = "alignment"
REVIEW_NOTEBOOK = "03_monthly_review.ipynb"
"""The monthly review's notebook (``alignment report`` renders it; its kernel starts before the review
module is even imported)."""
MAX_HTML_BYTES = 5 * 1024 * 1024
NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
"""The repository's notebooks (``notebooks/`` beside the package)."""

# The lab template links require.js and MathJax from a CDN; the reports use neither, and a report must open
# offline as one file, so external script tags are dropped.
_EXTERNAL_SCRIPT = re.compile(r'<script[^>]*\bsrc="https?://[^"]*"[^>]*>\s*</script>\s*', re.IGNORECASE)


def _error_names(base: type) -> set[str]:
    return {base.__name__}.union(*(_error_names(sub) for sub in base.__subclasses__()))


_USER_ERRORS = _error_names(AlignmentError)
"""Exception names raised in a notebook cell that are the user's to fix (reported as they are)."""


def prefetch_modules(names: tuple[str, ...]) -> threading.Thread:
    """Import ``names`` on a background thread: while this process waits on a kernel, it loads what it needs
    afterwards (an import already under way is waited for, not repeated, when the main thread gets there)."""
    def load() -> None:
        for name in names:
            with contextlib.suppress(ImportError):
                importlib.import_module(name)

    thread = threading.Thread(target=load, name="alignment-prefetch", daemon=True)
    thread.start()
    return thread


KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]
"""The kernel's start-up notices (TCP without encryption) are nothing a person or a scheduler needs."""


class Kernel:
    """A kernel started ahead of the notebook it will run, importing what the notebook will import.

    Starting a kernel and importing pandas, matplotlib and the workbook takes seconds in which the caller
    has its own loading to do: started first, the kernel does both on the second core while the caller
    works, and papermill then runs the notebook in it (:func:`execute` with ``warm=``). The warm-up runs
    silently, outside the history and in a function's scope: the notebook's own import cell runs as
    written (its modules already loaded), its names are bound by it alone, and its cells are numbered from 1
    as in a fresh kernel.

    Parameters
    ----------
    warm_up : str
        Code to run while the caller works (:func:`notebook_imports`); what fails in it is left to the
        notebook's own cells to report.
    name : str
        Jupyter kernel name.
    """

    def __init__(self, warm_up: str = "", name: str = KERNEL) -> None:
        self.warm_up = warm_up
        self.name = name
        self.manager_: Any = None
        self._client: Any = None

    def start(self) -> Kernel:
        """Start the kernel process and send it the warm-up; returns at once (self).

        Raises
        ------
        ReportError
            The kernel is not registered or does not start.
        """
        from jupyter_client.blocking import BlockingKernelClient
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        # The asynchronous manager is the kind nbclient (under papermill) drives; run_sync runs it on this
        # thread's event loop, the one nbclient runs on too.
        manager = AsyncKernelManager(kernel_name=self.name)
        try:
            run_sync(manager.start_kernel)(extra_arguments=KERNEL_ARGUMENTS)
        except Exception as exc:  # noqa: BLE001 - no such kernel, a spec that does not start: one line
            message = " ".join(str(exc).split()) or type(exc).__name__
            raise ReportError(f"could not start the '{self.name}' kernel: {type(exc).__name__}: "
                              f"{message[:300]}", hint="is the kernel registered? (make install)") from None
        self.manager_ = manager
        # A blocking client sends at once, with no event loop running; it stays open until shutdown so that
        # nothing it sent is dropped.
        self._client = BlockingKernelClient()
        self._client.load_connection_info(manager.get_connection_info())
        self._client.start_channels()
        if self.warm_up:
            self.run_silently(self.warm_up)
        return self

    def run_silently(self, code: str) -> None:
        """Queue ``code`` in the kernel, before anything sent later, without output or history."""
        self._client.execute(code, silent=True, store_history=False)

    def chdir(self, folder: str | Path) -> None:
        """Make ``folder`` the kernel's working folder (papermill's ``cwd`` for a kernel already running)."""
        self.run_silently(f"__import__('os').chdir({str(Path(folder).resolve())!r})")

    def shutdown(self) -> None:
        """Stop the kernel and its client; safe to call twice."""
        from jupyter_core.utils import run_sync

        if self._client is not None:
            self._client.stop_channels()
            self._client = None
        if self.manager_ is not None:
            with contextlib.suppress(Exception):  # already gone: nothing left to stop
                run_sync(self.manager_.shutdown_kernel)(now=True)
            self.manager_ = None

    def __enter__(self) -> Kernel:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()


def notebook_imports(path: str | Path) -> str:
    """The import statements of a notebook's code cells, as one function that runs them (a kernel's
    warm-up: the modules load, no name is bound). Cells that are not plain Python (magics) are skipped."""
    import ast

    statements = []
    for cell in nbformat.read(str(path), as_version=4).cells:
        if cell.get("cell_type") != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        statements += [ast.unparse(node) for node in tree.body
                       if isinstance(node, ast.Import | ast.ImportFrom)]
    if not statements:
        return ""
    body = "".join(f"    try:\n        {line}\n    except Exception:\n        pass\n" for line in statements)
    return f"def _alignment_warm_up():\n{body}\n_alignment_warm_up()\ndel _alignment_warm_up\n"


@contextlib.contextmanager
def warm_kernel(name: str):
    """A :class:`Kernel` warming up for the repository notebook ``name``, shut down on leaving; None when it
    cannot start (papermill's own start then says why, after the caller's checks)."""
    try:
        kernel = Kernel(notebook_imports(notebook_path(name))).start()
    except ReportError:
        kernel = None
    try:
        yield kernel
    finally:
        if kernel is not None:
            kernel.shutdown()


def notebook_path(name: str) -> Path:
    """The path of a repository notebook, e.g. ``notebook_path("03_monthly_review.ipynb")``.

    Raises
    ------
    ReportError
        When the notebook is not there (e.g. an installed package without the repository).
    """
    path = NOTEBOOKS_DIR / name
    if not path.is_file():
        raise ReportError("notebook not found", file=str(path), hint="run from a checkout of the repository")
    return path


def execute(template: str | Path, output: str | Path, parameters: Mapping[str, Any], *,
            cwd: str | Path | None = None, progress: bool = True, kernel: str = KERNEL,
            start_timeout: int = 120, warm: Kernel | None = None) -> nbformat.NotebookNode:
    """Execute ``template`` with ``parameters`` through papermill and save it to ``output``.

    Parameters
    ----------
    template : str or Path
        The parameterized notebook (a cell tagged ``parameters``).
    output : str or Path
        Where the executed notebook is written (also on failure, with the error in it).
    parameters : Mapping
        Injected after the ``parameters`` cell; values must be JSON-like (str, int, float, bool, None).
    cwd : str or Path, optional
        Working folder of the kernel.
    progress : bool
        Show papermill's per-cell progress bar.
    kernel : str
        Jupyter kernel name (the venv registers ``alignment``).
    start_timeout : int
        Seconds to wait for the kernel to start (the machine may be busy).
    warm : Kernel, optional
        A kernel already started (:class:`Kernel`): the notebook runs in it, in ``cwd``; the caller shuts it
        down. Default: papermill starts a kernel of its own.

    Returns
    -------
    nbformat.NotebookNode
        The executed notebook.

    Raises
    ------
    ReportError
        One line naming the notebook, the failing cell and the error.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    template = Path(template)
    if not template.is_file():
        raise ReportError("notebook not found", file=str(template))
    started = {}
    if warm is not None:
        if cwd:
            warm.chdir(cwd)
        started = {"km": warm.manager_}
        kernel = warm.name
    try:
        return papermill.execute_notebook(str(template), str(output), parameters=dict(parameters),
                                          kernel_name=kernel, progress_bar=progress and sys.stderr.isatty(),
                                          extra_arguments=KERNEL_ARGUMENTS, cwd=str(cwd) if cwd else None,
                                          start_timeout=start_timeout, **started)
    except PapermillExecutionError as exc:
        first_line = next((line.strip() for line in exc.source.splitlines()
                           if line.strip() and not line.lstrip().startswith("#")), "")
        evalue = " ".join(str(exc.evalue).split())
        if exc.ename in _USER_ERRORS:  # the data or config is at fault, and the message says what to do
            raise ReportError(evalue) from None
        raise ReportError(f"cell {exc.cell_index} (`{first_line[:60]}`) failed: {exc.ename}: {evalue}",
                          file=template.name) from None
    except Exception as exc:  # kernel missing, dead kernel, timeout: papermill raises many kinds
        if isinstance(exc, ReportError):
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise ReportError(f"could not execute the notebook: {type(exc).__name__}: {message[:300]}",
                          file=template.name,
                          hint=f"is the '{kernel}' kernel registered? (make install)") from None


def to_html(notebook: nbformat.NotebookNode | str | Path, html_path: str | Path, *, title: str | None = None,
            max_bytes: int = MAX_HTML_BYTES) -> Path:
    """Render an executed notebook as one self-contained, code-free HTML file (written atomically).

    Parameters
    ----------
    notebook : NotebookNode or path
        The executed notebook.
    html_path : str or Path
        The HTML file to write; written to a temporary file beside it, then renamed.
    title : str, optional
        The page title (default: the notebook's file name).
    max_bytes : int
        Refuse a page larger than this (embedded figures can grow without bound).

    Returns
    -------
    Path
        ``html_path``.
    """
    from nbconvert import HTMLExporter

    if max_bytes <= 0:
        raise ValueError(f"max_bytes must be > 0, got {max_bytes}")
    if not isinstance(notebook, nbformat.NotebookNode):
        notebook = nbformat.read(str(notebook), as_version=4)
    notebook = _without_widgets(notebook)
    templates = Path(__file__).parent / "templates"
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                            embed_images=True, exclude_anchor_links=True,
                            extra_template_basedirs=[str(templates)], template_name="review")
    resources = {"metadata": {"name": title or Path(html_path).stem}}
    body, _ = exporter.from_notebook_node(notebook, resources=resources)
    body = _EXTERNAL_SCRIPT.sub("", body)
    data = body.encode("utf-8")
    if len(data) > max_bytes:
        raise ReportError(f"the rendered page is {len(data) / 1e6:.1f} MB, above the "
                          f"{max_bytes / 1e6:.1f} MB limit", file=str(html_path),
                          hint="show fewer or smaller figures")
    write_atomic(html_path, data)
    return Path(html_path)


WIDGET_OUTPUTS = ("application/vnd.jupyter.widget-view+json", "application/vnd.jupyter.widget-state+json")


def _without_widgets(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy without widget state or widget outputs: a static page needs no widget viewer (which would be
    fetched from a CDN) and must not show a frozen progress bar."""
    notebook = nbformat.from_dict(notebook)
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:
        if cell.get("cell_type") != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            data = output.get("data") or {}
            widget_only = not (set(data) - set(WIDGET_OUTPUTS) - {"text/plain"})
            if any(kind in data for kind in WIDGET_OUTPUTS) and widget_only:
                continue  # only a widget (its text/plain is "HBox(...)")
            for kind in WIDGET_OUTPUTS:
                data.pop(kind, None)
            kept.append(output)
        cell["outputs"] = kept
    return notebook


def write_atomic(path: str | Path, data: bytes | str) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
        # mkstemp creates 0600; give the file the permissions a plain open() would (reports are shared).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
