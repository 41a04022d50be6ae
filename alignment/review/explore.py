"""The analysts' sections (notebook 04): lead quality by segment, buyer personas, the grade grid."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from alignment.exceptions import DataError
from alignment.review.sections import _column, _is_won, _rate, join_scores


def segment_quality(leads: pd.DataFrame, by: str, scores: pd.DataFrame | None = None) -> list[dict]:
    """Lead quality per value of ``by`` over whatever leads are given (a window, a cohort).

    Returns
    -------
    list of dict
        Per value: ``leads``, ``mqls``, ``mql_rate``, ``acceptance_rate`` (SAL / MQL), ``won``, ``closed``,
        ``win_rate`` (won / closed: lost and won only, open leads are not counted as lost), ``mean_score``;
        largest segments first.
    """
    if by not in leads.columns:
        raise DataError(f"no column '{by}' in the leads", column=by)
    frame = leads
    if scores is not None and "score" in scores.columns:
        frame = join_scores(frame, scores, ["score"], how="left")
    names = frame[by].astype("string").fillna(f"(no {by})")
    table = pd.DataFrame({
        "segment": names,
        "mql": _column(frame, "mql_at").notna(),
        "sal": _column(frame, "sal_at").notna(),
        "won": _is_won(frame),
        "closed": frame["outcome"].astype("string").isin(["won", "lost"]).fillna(False).astype(bool),
        "score": frame["score"] if "score" in frame else np.nan,
    })
    rows = []
    for name, part in table.groupby("segment", sort=True):
        n, mqls, closed = len(part), int(part["mql"].sum()), int(part["closed"].sum())
        rows.append({by: str(name), "leads": n, "mqls": mqls, "mql_rate": _rate(mqls, n),
                     "acceptance_rate": _rate(int(part["sal"].sum()), mqls), "won": int(part["won"].sum()),
                     "closed": closed, "win_rate": _rate(int(part["won"].sum()), closed),
                     "mean_score": float(part["score"].mean()) if part["score"].notna().any() else None})
    return sorted(rows, key=lambda r: (-r["leads"], r[by]))


def buyer_personas(leads: pd.DataFrame, attributes: Sequence[str], *, max_depth: int = 3,
                   min_leaf_share: float = 0.03, seed: int = 0) -> list[dict]:
    """Which combinations of attributes make up won deals: the leaves of a shallow decision tree.

    A :class:`~sklearn.tree.DecisionTreeClassifier` is fitted on the closed leads (won against lost), one-hot
    on ``attributes``; each leaf is a persona described in words ("industry is Software and company_size is
    not 1-10"). This describes the history; it is not a validated model.

    Parameters
    ----------
    leads : DataFrame
        Canonical leads; only closed ones (won / lost) are used.
    attributes : sequence of str
        Categorical attributes (e.g. the demographics family).
    max_depth : int
        Conditions per persona at most.
    min_leaf_share : float
        Smallest persona, as a share of the closed leads (0 < share <= 0.5).
    seed : int
        Random state of the tree (ties between equally good splits).

    Returns
    -------
    list of dict
        Per persona: ``persona`` (words), ``leads``, ``won``, ``win_rate``, ``share_of_wins``,
        ``share_of_leads``; best win rate first.
    """
    from sklearn.tree import DecisionTreeClassifier

    if max_depth < 1:
        raise ValueError(f"max_depth must be >= 1, got {max_depth}")
    if not 0 < min_leaf_share <= 0.5:
        raise ValueError(f"min_leaf_share must be in (0, 0.5], got {min_leaf_share}")
    if not attributes:
        raise ValueError("attributes must name at least one column")
    if missing := [a for a in attributes if a not in leads.columns]:
        raise DataError(f"no column '{missing[0]}' in the leads", column=missing[0])
    outcome = leads["outcome"].astype("string")
    closed = leads[outcome.isin(["won", "lost"]).fillna(False).to_numpy()]
    won = _is_won(closed).to_numpy()
    if not won.any() or won.all():
        raise DataError("buyer personas need both won and lost leads", column="outcome")
    values = closed[list(attributes)].astype("string").fillna("(missing)")
    X = pd.get_dummies(values, prefix_sep="\x00").astype(np.uint8)
    tree = DecisionTreeClassifier(max_depth=max_depth, min_samples_leaf=max(1, int(min_leaf_share * len(X))),
                                  random_state=seed).fit(X.to_numpy(), won)
    structure = tree.tree_
    levels = {a: sorted(values[a].unique()) for a in attributes}
    conditions: dict[int, list[tuple[str, str, bool]]] = {0: []}
    for node in range(structure.node_count):  # parents come before children in sklearn's node order
        left, right = structure.children_left[node], structure.children_right[node]
        if left == -1:
            continue
        attribute, value = X.columns[structure.feature[node]].split("\x00", 1)
        conditions[left] = [*conditions[node], (attribute, value, False)]
        conditions[right] = [*conditions[node], (attribute, value, True)]
    leaf = tree.apply(X.to_numpy())
    total_wins = int(won.sum())
    rows = []
    for node in np.unique(leaf):
        members = leaf == node
        wins = int(won[members].sum())
        rows.append({"persona": _describe_path(conditions[node], levels),
                     "leads": int(members.sum()), "won": wins, "win_rate": wins / int(members.sum()),
                     "share_of_wins": wins / total_wins, "share_of_leads": int(members.sum()) / len(X)})
    return sorted(rows, key=lambda r: (-r["win_rate"], -r["leads"], r["persona"]))


def _describe_path(conditions: list[tuple[str, str, bool]], levels: dict[str, list[str]]) -> str:
    """A tree path in words, one clause per attribute: "industry is Software and company_size is not 1-10"."""
    clauses = []
    for attribute in dict.fromkeys(a for a, _, _ in conditions):
        own = [(value, is_value) for a, value, is_value in conditions if a == attribute]
        chosen = next((value for value, is_value in own if is_value), None)
        excluded = sorted({value for value, is_value in own if not is_value})
        remaining = [v for v in levels[attribute] if v not in excluded]
        if chosen is not None or len(remaining) == 1:
            clauses.append(f"{attribute} is {chosen if chosen is not None else remaining[0]}")
        elif len(remaining) < len(excluded):
            clauses.append(f"{attribute} is one of {', '.join(remaining)}")
        else:
            clauses.append(f"{attribute} is not {' or '.join(excluded)}")
    return " and ".join(clauses) or "everyone"


def grade_grid(scored: pd.DataFrame) -> pd.DataFrame:
    """Leads, wins and win rate per fit grade (A-D) x engagement grade (1-4), from scored closed leads.

    ``scored`` holds ``fit_grade``, ``engagement_grade`` and ``outcome``; open leads are left out.
    """
    for column in ("fit_grade", "engagement_grade", "outcome"):
        if column not in scored.columns:
            raise DataError(f"no column '{column}' in the scored leads", column=column)
    outcome = scored["outcome"].astype("string")
    closed = scored[outcome.isin(["won", "lost"]).fillna(False).to_numpy()]
    frame = pd.DataFrame({"fit_grade": closed["fit_grade"].astype("string"),
                          "engagement_grade": closed["engagement_grade"].astype("string"),
                          "won": _is_won(closed).astype(int)})
    grid = frame.groupby(["fit_grade", "engagement_grade"]).agg(leads=("won", "size"), won=("won", "sum"))
    grid["win_rate"] = grid["won"] / grid["leads"]
    return grid.reset_index()
