"""Plain words for the points scale: one label per band, the same in points.csv, the workshop, notebook 01
and each lead's reasons.

A band reads as what it means to a person: ``Company size: 201-1000``, ``Total visits: 1–2``,
``Time on website: 1,400–5,100``, ``Recent pricing page: 0.94–0.99``, ``Industry: not given``. Numeric
edges are rounded to the fewest significant digits (two at least) that keep the bands of an attribute
apart, so ``0.943 to < 0.985`` reads ``0.94–0.99``; a band's lower edge is included, its upper edge is not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

MISSING_BAND = "Missing"
OTHER_BAND = "Other"
NEW_BAND = "New category"
DECAYED_SUFFIX = "_decayed"
"""Activity counts where each event weighs less as it ages (``features``)."""

CATEGORY_WORDS = {MISSING_BAND: "not given", OTHER_BAND: "any other value",
                  NEW_BAND: "a value not seen before"}
MIN_SIGNIFICANT_DIGITS = 2
TOP_ATTRIBUTES = 6
"""Attributes shown open in the workshop's points tab (the biggest movers); the rest are folded."""


def attribute_words(name: str) -> str:
    """``company_size`` -> ``Company size``; ``pricing_page_decayed`` -> ``Recent pricing page``.

    A name the export already wrote for people (``Total Time Spent on Website``) is kept as it is.
    """
    name = str(name).strip()
    recent = name.endswith(DECAYED_SUFFIX)
    if recent:
        name = name.removesuffix(DECAYED_SUFFIX)
    if " " in name and "_" not in name:
        text = name
    else:
        text = name.replace("_", " ").strip()
    if recent:
        return f"Recent {text[:1].lower() + text[1:]}"
    return text[:1].upper() + text[1:]


def _number(value: float, digits: int) -> str:
    """``value`` to ``digits`` significant digits, as people write it (``5,100``, ``0.94``, ``12``)."""
    if value == 0:
        return "0"
    rounded = float(f"{value:.{digits}g}")
    if rounded.is_integer() and abs(rounded) >= 1:
        return f"{int(rounded):,}"
    decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(rounded)))))
    return f"{rounded:,.{decimals}f}".rstrip("0").rstrip(".")


def readable_edges(edges: Sequence[float]) -> list[str]:
    """Band edges rounded to the fewest significant digits (at least two) that keep them apart."""
    finite = [float(e) for e in edges]
    for digits in range(MIN_SIGNIFICANT_DIGITS, 8):
        words = [_number(e, digits) for e in finite]
        if len(set(words)) == len(words):
            return words
    return [_number(e, 8) for e in finite]


def _numeric_phrases(bands: Sequence[str], low: Sequence[float], high: Sequence[float]) -> list[str]:
    """Range words for the numeric bands of one attribute (missing band included)."""
    edges = sorted({float(v) for v in (*low, *high) if v is not None and np.isfinite(v)})
    words = dict(zip(edges, readable_edges(edges), strict=True))
    phrases = []
    for band, lo, hi in zip(bands, low, high, strict=True):
        lo_known = lo is not None and np.isfinite(lo)
        hi_known = hi is not None and np.isfinite(hi)
        if band == MISSING_BAND:
            phrases.append(CATEGORY_WORDS[MISSING_BAND])
        elif not _range_band(band):
            phrases.append(band)  # a band holding one value ("0", "3") or integer ranges ("1–2")
        elif lo_known and hi_known:
            phrases.append(f"{words[float(lo)]}–{words[float(hi)]}")
        elif hi_known:
            phrases.append(f"under {words[float(hi)]}")
        elif lo_known:
            phrases.append(f"{words[float(lo)]} or more")
        else:
            phrases.append(band)
    return phrases


def _range_band(band: str) -> bool:
    """True for the scorecard's continuous band names (``a to < b``, ``< b``, ``≥ a``)."""
    return " to < " in band or band.startswith(("< ", "≥ "))


def band_labels(attribute: str, bands: Sequence[str], low: Sequence[float], high: Sequence[float],
                numeric: bool) -> list[str]:
    """The plain label of each band of one attribute.

    Parameters
    ----------
    attribute : str
        The attribute's column name.
    bands : sequence of str
        The scorecard's band names, in order.
    low, high : sequence of float
        Numeric band edges (NaN for categories and open ends).
    numeric : bool

    Returns
    -------
    list of str
        ``"<Attribute>: <band in words>"`` per band.
    """
    name = attribute_words(attribute)
    if numeric:
        phrases = _numeric_phrases(bands, low, high)
        if attribute.endswith(DECAYED_SUFFIX):
            phrases = ["none" if p == "0" else p for p in phrases]
    else:
        phrases = [CATEGORY_WORDS.get(band, band) for band in bands]
    return [f"{name}: {phrase}" for phrase in phrases]


def points_labels(points: pd.DataFrame) -> pd.Series:
    """The plain label of every row of a points table (``attribute, band, low, high``)."""
    labels = pd.Series("", index=points.index, dtype=object)
    for attribute, rows in points.groupby("attribute", sort=False):
        labels.loc[rows.index] = band_labels(str(attribute), rows["band"].astype(str).tolist(),
                                             rows["low"].tolist(), rows["high"].tolist(), _numeric(rows))
    return labels


def _numeric(rows: pd.DataFrame) -> bool:
    """Numeric bands carry their edges; categories carry none (a numeric attribute always has an edge:
    one with a single band is constant and never reaches the points table)."""
    return bool(rows["low"].notna().any() or rows["high"].notna().any())


def biggest_movers(points: pd.DataFrame) -> pd.DataFrame:
    """The points table people argue about: attributes by how far they move a score, bands in words.

    Bands never seen in training (Other, New category, Missing with no lead) are left out; next bands of
    one attribute with the same points are shown as one line.

    Parameters
    ----------
    points : DataFrame
        ``points.csv`` (a ``label`` column is made when it lacks one).

    Returns
    -------
    DataFrame
        ``attribute`` (in words), ``label``, ``points``, ``leads`` and ``spread`` (the attribute's largest
        minus smallest points), biggest spread first, bands in their order.
    """
    table = points.copy()
    if "label" not in table.columns:
        table["label"] = points_labels(table)
    table = table[table["n_train"] > 0]
    rows = []
    for attribute, bands in table.groupby("attribute", sort=False):
        name, spread = attribute_words(str(attribute)), int(bands["points"].max() - bands["points"].min())
        if _numeric(bands):  # in order, next bands with the same points as one line
            for run in _runs(bands):
                first, last = run.iloc[0], run.iloc[-1]
                label = first["label"] if len(run) == 1 else _merged_label(first, last)
                rows.append((name, label, int(first["points"]), int(run["n_train"].sum()), spread))
        else:  # categories, most points first
            for _, row in bands.sort_values("points", ascending=False, kind="stable").iterrows():
                rows.append((name, row["label"], int(row["points"]), int(row["n_train"]), spread))
    frame = pd.DataFrame(rows, columns=["attribute", "label", "points", "leads", "spread"])
    spreads = frame.groupby("attribute", sort=False)["spread"].first()
    order = spreads.sort_values(ascending=False, kind="stable")
    frame["attribute"] = pd.Categorical(frame["attribute"], categories=list(order.index), ordered=True)
    return frame.sort_values("attribute", kind="stable").reset_index(drop=True)


def _runs(bands: pd.DataFrame) -> list[pd.DataFrame]:
    """Consecutive numeric bands with the same points (the missing band stays on its own)."""
    runs: list[pd.DataFrame] = []
    start = 0
    values = bands["points"].tolist()
    names = bands["band"].astype(str).tolist()
    for i in range(1, len(bands) + 1):
        if i == len(bands) or values[i] != values[start] or MISSING_BAND in (names[i], names[start]):
            runs.append(bands.iloc[start:i])
            start = i
    return runs


def _merged_label(first: pd.Series, last: pd.Series) -> str:
    """One label for a run of bands: from the first band's lower words to the last band's upper words."""
    name, low_words = str(first["label"]).split(": ", 1)
    high_words = str(last["label"]).split(": ", 1)[1]
    low_part = low_words.split("–")[0] if "–" in low_words else low_words
    if high_words.endswith(" or more"):
        return f"{name}: {low_part.removeprefix('under ')} or more" if not low_words.startswith("under") \
            else f"{name}: any"
    high_part = high_words.split("–")[-1] if "–" in high_words else high_words.removeprefix("under ")
    if low_words.startswith("under ") or low_words == "none":
        return f"{name}: under {high_part}"
    return f"{name}: {low_part}–{high_part}"


def value_counts_as_text(values: pd.Series) -> pd.Series:
    """Rows per value, the values as text (missing left out), most frequent first and equal counts in text
    order. A categorical column is counted by its codes, not a string per row; two categories that read
    alike as text are one value."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        counts = np.bincount(codes[codes >= 0], minlength=len(values.cat.categories))
        levels = pd.Series(counts, index=pd.Index(values.cat.categories.astype(str), dtype=object))
        levels = levels[levels > 0].groupby(level=0).sum()
    else:
        levels = values.dropna().astype(str).value_counts()
        levels.index = levels.index.astype(object)
    return levels.sort_index().sort_values(ascending=False, kind="stable")
