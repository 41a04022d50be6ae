"""Headless Debian Chromium for the browser tests (driven by Playwright; no browser is ever downloaded)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    """Debian's Chromium, or a skip (a failure when ALIGNMENT_REQUIRE_BROWSER=1, as in CI)."""
    candidate = os.environ.get("ALIGNMENT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if Path(candidate).is_file() and os.access(candidate, os.X_OK):
        return candidate
    reason = ("Chromium not found (looked for $ALIGNMENT_CHROMIUM, `chromium` on PATH, /usr/bin/chromium); "
              "install Debian's chromium package to run the browser tests")
    if os.environ.get("ALIGNMENT_REQUIRE_BROWSER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def kernel_count(process) -> int:
    """Kernels running under a server process (a culled kernel not yet reaped, a zombie, is not)."""
    import psutil

    running = 0
    for child in psutil.Process(process.pid).children(recursive=True):
        try:
            running += "ipykernel" in " ".join(child.cmdline())
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return running
