"""The points scale in plain words (alignment.labels)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from alignment.labels import attribute_words, band_labels, biggest_movers, points_labels, readable_edges


def test_attribute_names_read_as_words():
    assert attribute_words("company_size") == "Company size"
    assert attribute_words("pricing_page_decayed") == "Recent pricing page"
    assert attribute_words("Total Time Spent on Website") == "Total Time Spent on Website"


def test_edges_are_rounded_to_the_fewest_digits_that_keep_bands_apart():
    assert readable_edges([0.943215, 0.985190]) == ["0.94", "0.99"]
    assert readable_edges([0.896, 0.943, 0.986]) == ["0.9", "0.94", "0.99"]
    assert readable_edges([1350.0, 5100.0]) == ["1,400", "5,100"]
    assert readable_edges([12.0, 12.4]) == ["12", "12.4"]


def test_numeric_categorical_and_decayed_bands():
    nan = np.nan
    numeric = band_labels(
        "Time on site",
        ["< 1,350", "1,350 to < 5,100", "≥ 5,100", "Missing"],
        [nan, 1350.0, 5100.0, nan],
        [1350.0, 5100.0, nan, nan],
        numeric=True,
    )
    assert numeric == [
        "Time on site: under 1,400",
        "Time on site: 1,400–5,100",
        "Time on site: 5,100 or more",
        "Time on site: not given",
    ]
    counts = band_labels(
        "visits", ["0", "1–2", "≥ 3", "Missing"], [nan, 1.0, 3.0, nan], [1.0, 3.0, nan, nan], numeric=True
    )
    assert counts[:2] == ["Visits: 0", "Visits: 1–2"]
    decayed = band_labels(
        "webinar_decayed", ["0", "0.211 to < 0.902"], [nan, 0.2106], [0.2106, 0.9019], numeric=True
    )
    assert decayed == ["Recent webinar: none", "Recent webinar: 0.21–0.9"]
    categories = band_labels(
        "industry", ["Software", "Other", "New category", "Missing"], [nan] * 4, [nan] * 4, numeric=False
    )
    assert categories == [
        "Industry: Software",
        "Industry: any other value",
        "Industry: a value not seen before",
        "Industry: not given",
    ]


def _points() -> pd.DataFrame:
    nan = np.nan
    rows = [
        ("industry", "Software", 9, nan, nan, 100),
        ("industry", "Retail", 2, nan, nan, 80),
        ("industry", "Other", 5, nan, nan, 0),
        ("webinar_decayed", "0", 0, nan, 0.21, 500),
        ("webinar_decayed", "0.211 to < 0.902", 3, 0.21, 0.9, 90),
        ("webinar_decayed", "0.902 to < 1.47", 3, 0.9, 1.47, 40),
        ("webinar_decayed", "≥ 1.47", 4, 1.47, nan, 20),
        ("webinar_decayed", "Missing", 1, nan, nan, 0),
    ]
    frame = pd.DataFrame(rows, columns=["attribute", "band", "points", "low", "high", "n_train"])
    frame["family"] = "x"
    return frame


def test_biggest_movers_first_equal_neighbours_merged_unseen_bands_left_out():
    table = biggest_movers(_points())
    assert list(table["attribute"].astype(str).unique()) == ["Industry", "Recent webinar"]  # spread 7, then 4
    assert table["label"].tolist() == [
        "Industry: Software",
        "Industry: Retail",
        "Recent webinar: none",
        "Recent webinar: 0.21–1.5",
        "Recent webinar: 1.5 or more",
    ]
    assert table.loc[table["label"] == "Recent webinar: 0.21–1.5", "leads"].item() == 130


def test_points_labels_cover_every_row():
    labels = points_labels(_points())
    assert labels.str.len().gt(0).all() and labels.iloc[-1] == "Recent webinar: not given"
