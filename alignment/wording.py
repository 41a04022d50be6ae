"""Plain-words helpers shared by every message: a list of names that never runs on for a whole screen."""

from __future__ import annotations

import math
from collections.abc import Iterable

LIST_LIMIT = 8
"""Names shown in a message before "… and N more"."""


def listing(items: Iterable[object], limit: int = LIST_LIMIT) -> str:
    """``"a, b, c"``, or ``"a, b, … and 99,990 more"`` past ``limit`` items.

    Parameters
    ----------
    items : iterable
        Already formatted (``str()`` is applied).
    limit : int, default 8

    Returns
    -------
    str
    """
    shown, more = [], 0
    for count, item in enumerate(items):
        if count < limit:
            shown.append(str(item))
        else:
            more += 1
    return ", ".join(shown) + (f", … and {more:,} more" if more else "")


def format_count(value: float | None) -> str:
    """A whole number with thousands separators (``"—"`` when unknown)."""
    return "—" if value is None or not math.isfinite(value) else f"{value:,.0f}"


def format_rate(value: float | None) -> str:
    """A percentage with one decimal (``"—"`` when unknown)."""
    return "—" if value is None or not math.isfinite(value) else f"{value:.1%}"


def format_money(value: float | None, currency: str = "") -> str:
    """An amount with its currency: a symbol before it (``$12,000``, ``€12,000``), a code after it
    (``12,000 EUR``), nothing when the config names none (``"—"`` when unknown)."""
    if value is None or not math.isfinite(value):
        return "—"
    amount = f"{value:,.0f}"
    if amount.startswith("-"):
        sign, amount = "−", amount[1:]
    else:
        sign = ""
    currency = currency.strip()
    if not currency:
        return sign + amount
    if currency.isalpha():
        return f"{sign}{amount} {currency}"
    return f"{sign}{currency}{amount}"
