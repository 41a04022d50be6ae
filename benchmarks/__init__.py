"""Benchmarks: measured speed, memory and accuracy of the workbook at 1M leads.

``python -m benchmarks.run`` (``make bench``) measures everything in one run and writes
``benchmarks/results/latest.json``; ``--quick`` (``make bench-quick``) does the same on a small
history and writes ``benchmarks/results/quick.json``. See ``docs/benchmarks.md``.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any


class SectionUnavailable(Exception):
    """A benchmark section cannot run yet: what it measures is not written, or its input is missing."""


def require_module(name: str) -> Any:
    """Import ``name``; a module not written yet makes the section unavailable (other errors raise)."""
    if importlib.util.find_spec(name) is None:
        raise SectionUnavailable(f"{name.replace('.', '/')}.py is not written yet")
    return importlib.import_module(name)


def require_attribute(module: Any, name: str) -> Any:
    """``module.name``; a function not written yet makes the section unavailable."""
    value = getattr(module, name, None)
    if value is None:
        raise SectionUnavailable(f"{module.__name__} has no {name}() yet")
    return value
