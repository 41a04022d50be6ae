"""Timing two or more ways of doing one job so their ratio holds from run to run on a shared machine.

Each side is timed several times, interleaved (a, b, then b, a, ...: neither always goes first or gets the
warm cache), and compared by the ratio of the medians; the spread (max - min) says how noisy each was.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

REPEATS = 5
"""Timings per side, interleaved."""


def timed(call: Callable[[], object]) -> float:
    """Wall seconds of one call."""
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def interleaved(sides: dict[str, Callable[[], object]], repeats: int = REPEATS) -> dict[str, list[float]]:
    """Each side's wall seconds over ``repeats`` interleaved rounds (the order reversed every other round)."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    for repeat in range(repeats):
        for name in (list(sides) if repeat % 2 == 0 else list(reversed(sides))):
            seconds[name].append(timed(sides[name]))
    return seconds


def median(times: list[float]) -> float:
    return float(np.median(times))


def spread(times: list[float]) -> float:
    """max - min of the timings: how noisy the median is."""
    return float(np.max(times) - np.min(times))


def ratio_range(slower: list[float], faster: list[float]) -> tuple[float, float]:
    """The lowest and highest per-round ratio ``slower / faster``."""
    ratios = [s / f for s, f in zip(slower, faster, strict=True)]
    return min(ratios), max(ratios)
