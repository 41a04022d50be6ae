"""Seaborn figures of a fitted scale, for the calibration notebook and the reports.

Every function takes plain data (the model card dict, the points table, the scored
hold-out) and returns a matplotlib ``Figure``; nothing is computed here that the
model card does not already hold, so a figure always shows the reported numbers.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from alignment.exceptions import ModelError
from alignment.labels import points_labels

SCORERS = {"holdout": "points scale", "challenger": "gradient boosting (challenger)",
           "legacy": "legacy score", "oracle": "true probability (oracle)"}
GRADE_ROWS = ["A", "B", "C", "D"]
GRADE_COLUMNS = ["1", "2", "3", "4"]


def _require(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ModelError(f"{what} must be a DataFrame")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ModelError(f"{what} lacks a column", column=missing[0])


def summary_frame(card: dict) -> pd.DataFrame:
    """One row per scorer on the hold-out: AUC (with 95% interval), KS, lift@10%, Brier, ECE."""
    rows = []
    for key, name in SCORERS.items():
        m = card.get("metrics", {}).get(key)
        if not m:
            continue
        low, high = m.get("auc_ci") or (np.nan, np.nan)
        rows.append({"scorer": name, "leads": m["n"], "wins": m["wins"], "AUC": m["auc"],
                     "AUC 95% CI": f"{low:.3f}–{high:.3f}", "KS": m["ks"], "lift@10%": m["lift_at_10"],
                     "Brier": m.get("brier"), "ECE": m.get("ece")})
    return pd.DataFrame(rows).set_index("scorer").round(4)


def warnings_frame(card: dict) -> pd.DataFrame:
    """Warnings, leaky and suspected columns, and dropped columns of the card, one line each."""
    rows = [{"kind": "warning", "column": "", "detail": w} for w in card.get("warnings", [])]
    rows += [{"kind": "leakage (left out)", "column": item["column"], "detail": item["reason"]}
             for item in card.get("leakage", [])]
    rows += [{"kind": "suspected leakage (kept)", "column": item["column"], "detail": item["reason"]}
             for item in card.get("suspected_leakage", [])]
    rows += [{"kind": "dropped", "column": item["column"], "detail": item["reason"]}
             for item in card.get("features", {}).get("dropped", [])]
    if not rows:
        rows = [{"kind": "none", "column": "", "detail": "no warnings, no leakage, nothing dropped"}]
    return pd.DataFrame(rows)


def plot_points(points: pd.DataFrame) -> Figure:
    """Points per band with their bootstrap 95% interval, one panel row per attribute."""
    _require(points, ["attribute", "family", "band", "points", "n_train"], "points table")
    shown = points[points["n_train"] > 0].copy()
    if "label" not in shown.columns:  # a model folder written before the labels
        shown["label"] = points_labels(shown)
    fig, ax = plt.subplots(figsize=(9, max(4, 0.22 * len(shown))))
    sns.barplot(data=shown, y="label", x="points", hue="family", dodge=False, ax=ax, orient="h")
    if {"points_ci_low", "points_ci_high"} <= set(shown.columns):
        ax.errorbar(shown["points"], np.arange(len(shown)), fmt="none", ecolor="0.3", elinewidth=0.8,
                    xerr=[(shown["points"] - shown["points_ci_low"]).clip(lower=0),
                          (shown["points_ci_high"] - shown["points"]).clip(lower=0)])
    ax.set(xlabel="points (95% bootstrap interval)", ylabel="", title="The points scale")
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    return fig


def plot_reliability(card: dict) -> Figure:
    """Mean predicted win probability against the observed win rate on the hold-out (equal-count bins)."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    top = 0.0
    for key in ("holdout", "challenger", "oracle"):
        m = card.get("metrics", {}).get(key)
        if not m or "reliability" not in m:
            continue
        curve = pd.DataFrame(m["reliability"])
        top = max(top, curve["mean_predicted"].max(), curve["observed"].max())
        sns.lineplot(data=curve, x="mean_predicted", y="observed", marker="o", ax=ax,
                     label=f"{SCORERS[key]} (ECE {m['ece']:.3f})")
    ax.plot([0, top], [0, top], color="0.6", linestyle="--", label="perfect calibration")
    ax.set(xlabel="mean predicted win probability", ylabel="observed win rate",
           title="Reliability on the hold-out")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_gains(card: dict) -> Figure:
    """Cumulative gains (share of wins captured) and lift per decile on the hold-out, per scorer."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    frames = []
    for key, name in SCORERS.items():
        m = card.get("metrics", {}).get(key)
        if not m or "gains" not in m:
            continue
        gains = pd.DataFrame(m["gains"])
        gains["scorer"] = name
        frames.append(gains)
        left.plot(np.r_[0, gains["cum_share_leads"]], np.r_[0, gains["cum_share_wins"]], marker="o",
                  label=f"{name} (AUC {m['auc']:.3f})")
    left.plot([0, 1], [0, 1], color="0.6", linestyle="--", label="random")
    left.set(xlabel="share of leads (best scores first)", ylabel="share of wins captured", title="Gains")
    left.legend(fontsize=8)
    if frames:
        sns.barplot(data=pd.concat(frames), x="group", y="lift", hue="scorer", ax=right)
    right.axhline(1, color="0.6", linestyle="--")
    right.set(xlabel="score decile (1 = best)", ylabel="lift (win rate ÷ average)", title="Lift by decile")
    right.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_score_distributions(validation: pd.DataFrame) -> Figure:
    """Score distributions of won and not-won hold-out leads."""
    _require(validation, ["score", "won"], "scored hold-out")
    frame = validation.assign(outcome=np.where(validation["won"] == 1, "won", "not won"))
    fig, ax = plt.subplots(figsize=(7, 4))
    sns.histplot(data=frame, x="score", hue="outcome", stat="density", common_norm=False, bins=25,
                 element="step", ax=ax)
    ax.set(xlabel="score (0–100)", title="Scores of won and not-won leads (hold-out)")
    fig.tight_layout()
    return fig


def grade_table(validation: pd.DataFrame) -> pd.DataFrame:
    """Win rate, leads and wins per grade cell (fit A-D rows x engagement 1-4 columns)."""
    _require(validation, ["fit_grade", "engagement_grade", "won"], "scored hold-out")
    table = validation.groupby(["fit_grade", "engagement_grade"])["won"].agg(["mean", "size", "sum"])
    return table.rename(columns={"mean": "win_rate", "size": "leads", "sum": "wins"})


def plot_grade_heatmap(validation: pd.DataFrame) -> Figure:
    """Fit x engagement heat map of hold-out win rates, each cell annotated with rate and lead count."""
    table = grade_table(validation)
    rate = table["win_rate"].unstack().reindex(index=GRADE_ROWS, columns=GRADE_COLUMNS)
    leads = table["leads"].unstack().reindex(index=GRADE_ROWS, columns=GRADE_COLUMNS).fillna(0)
    labels = np.where(leads.to_numpy() > 0,
                      [[f"{r:.1%}\n{int(n)} leads" if n else "" for r, n in zip(rr, nn, strict=True)]
                       for rr, nn in zip(rate.to_numpy(), leads.to_numpy(), strict=True)], "")
    fig, ax = plt.subplots(figsize=(6.5, 5))
    sns.heatmap(rate, annot=labels, fmt="", cmap="YlGn", ax=ax, cbar_kws={"label": "win rate"},
                annot_kws={"fontsize": 8})
    ax.set(xlabel="engagement grade (1 = most engaged)", ylabel="fit grade (A = best fit)",
           title="Win rate by grade (hold-out)")
    fig.tight_layout()
    return fig


def plot_comparison(card: dict) -> Figure:
    """Hold-out AUC with its bootstrap 95% interval for the scale, the challenger, legacy and oracle."""
    rows = []
    for key, name in SCORERS.items():
        m = card.get("metrics", {}).get(key)
        if m:
            low, high = m.get("auc_ci") or (m["auc"], m["auc"])
            rows.append({"scorer": name, "auc": m["auc"], "low": low, "high": high})
    frame = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(7, 0.6 * len(frame) + 1.5))
    sns.barplot(data=frame, y="scorer", x="auc", ax=ax, orient="h", color="#4c9f70")
    ax.errorbar(frame["auc"], np.arange(len(frame)), xerr=[frame["auc"] - frame["low"],
                                                          frame["high"] - frame["auc"]],
                fmt="none", ecolor="0.2")
    ax.set(xlim=(0.5, 1), xlabel="ROC AUC on the hold-out (95% bootstrap interval)", ylabel="",
           title="The scale against the challenger, the legacy score and the truth")
    fig.tight_layout()
    return fig
