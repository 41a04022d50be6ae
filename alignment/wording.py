"""Plain-words helpers shared by every message: a list of names that never runs on for a whole screen."""

from __future__ import annotations

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
