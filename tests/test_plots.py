"""Figures of a fitted scale, drawn from the real model folder of the session's demo fit."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pandas as pd
import pytest

from alignment import plots
from alignment.exceptions import ModelError
from alignment.model import load_model

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def fitted(fitted_model_dir: Path):
    return load_model(fitted_model_dir)


def test_every_figure_draws(fitted):
    figures = [plots.plot_points(fitted.points), plots.plot_reliability(fitted.card),
               plots.plot_gains(fitted.card), plots.plot_score_distributions(fitted.validation),
               plots.plot_grade_heatmap(fitted.validation), plots.plot_comparison(fitted.card)]
    assert all(figure.axes for figure in figures)


def test_tables_match_the_card(fitted):
    summary = plots.summary_frame(fitted.card)
    auc = fitted.card["metrics"]["holdout"]["auc"]
    assert summary.loc["points scale", "AUC"] == pytest.approx(auc, abs=1e-4)
    assert "true probability (oracle)" in summary.index
    grades = plots.grade_table(fitted.validation)
    assert grades["leads"].sum() == len(fitted.validation)
    assert grades["wins"].sum() == fitted.validation["won"].sum()
    by_hand = plots.grade_table(pd.DataFrame({"fit_grade": ["A", "A", "A", "B"],
                                              "engagement_grade": ["1", "1", "2", "1"], "won": [1, 0, 1, 0]}))
    assert by_hand.loc[("A", "1")].tolist() == [0.5, 2, 1] and by_hand.loc[("A", "2")].tolist() == [1.0, 1, 1]
    assert by_hand.loc[("B", "1")].tolist() == [0.0, 1, 0]
    assert not plots.warnings_frame({"warnings": []}).empty  # says "none" rather than an empty table


@pytest.mark.parametrize("call", [
    lambda: plots.plot_points("not a frame"),
    lambda: plots.plot_points(pd.DataFrame({"attribute": ["a"]})),
    lambda: plots.plot_score_distributions(pd.DataFrame({"score": [1]})),
    lambda: plots.grade_table(pd.DataFrame({"won": [1]})),
])
def test_bad_input_raises(call):
    with pytest.raises(ModelError):
        call()
