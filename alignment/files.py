"""Writing where the user pointed: checked before the work, so a long fit never ends in a PermissionError."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def writable_folder(folder: Path) -> str | None:
    """Why ``folder`` (made if missing) cannot take new files, or None when it can.

    A real probe (a temporary file created and removed), not ``os.access``: it also catches read-only file
    systems, full disks and permissions that only the kernel knows.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".alignment-probe-", dir=folder)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None
