"""The fit run: the time split, the points scale, its calibration, the challenger, the hold-out checks and
the model card."""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import math
import os
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

import alignment
from alignment import contract, features, guards, loader, metrics, scorecard, shift
from alignment.config import FAMILIES, Config, find_config, load_config, parse_config
from alignment.exceptions import ModelError
from alignment.features import FeatureSet, activity_feature_name, activity_slug, build_features
from alignment.model.folder import (
    CARD,
    PIPELINE,
    POINTS,
    VALIDATION,
    VALIDATION_COLUMNS,
    FittedModel,
    _check_out,
    _jsonable,
    _points_for_spreadsheets,
    _write_model_dir,
)
from alignment.scorecard import PointsScorecard

SPLIT_SHARES = {"training": 0.6, "calibration": 0.2, "validation": 0.2}
"""Shares of the labelled leads in the three windows (oldest to newest)."""
CALIBRATION_METHOD = "sigmoid"
CHALLENGER_MAX_ROWS = 200_000
"""The challenger trains on at most this many training rows (seeded subsample above)."""
CHALLENGER_PROCESS_MIN_ROWS = 100_000
"""From this many leads in the history the challenger trains in a worker process, beside the scale."""
AUC_BOOT = 200
"""Bootstrap replicates of the hold-out AUC intervals."""
AUC_BOOT_MAX_ROWS = 50_000
TOP_GRADES_MIN_SHARE, TOP_GRADES_MAX_SHARE, TOP_GRADES_MIN_WINS = 0.15, 0.35, 0.60
BEST_TO_WORST_MIN = 10.0
EFFECT_MIN = 0.15
"""Planted effects smaller than this (logit, relative to the attribute mean) are too weak to call a sign."""
def with_scoring(config: Config, moment: str | None = None, horizon_days: int | None = None) -> Config:
    """A copy of ``config`` with another scoring moment (``"mql"`` / ``"created"``) or horizon.

    Parameters
    ----------
    config : Config
    moment : {"mql", "created"}, optional
    horizon_days : int, optional

    Returns
    -------
    Config
    """
    data = config.model_dump(mode="json", exclude={"path"})
    if moment is not None:
        data["scoring"]["moment"] = moment
    if horizon_days is not None:
        data["scoring"]["horizon_days"] = horizon_days
    return parse_config(data, config.path)


def _code_version() -> str:
    """The package version plus a digest of the modules that decide the numbers."""
    digest = hashlib.sha256()
    for module in (features, guards, scorecard, metrics, shift, inspect.getmodule(_code_version)):
        digest.update(inspect.getsource(module).encode())
    return f"{alignment.__version__}+{digest.hexdigest()[:8]}"


LOCATION_KEYS = ("leads", "activities", "truth", "leads_table", "leads_query", "activities_table",
                 "activities_query")
"""Where the data was read from: not part of what decides a score (the data digest covers the data)."""


def _decisive_config(config_json: dict) -> dict:
    """The config without paths, source locations and the engine: moving a folder, renaming a file or running
    the aggregation elsewhere changes no score, so it must not change the model version an agreement was
    signed on."""
    decisive = {key: value for key, value in config_json.items() if key not in ("paths", "engine")}
    source = dict(decisive.get("source") or {})
    for key in LOCATION_KEYS:
        source.pop(key, None)
    source["joins"] = [{k: v for k, v in join.items() if k not in ("path", "table", "query")}
                       for join in source.get("joins") or []]
    decisive["source"] = source
    return decisive


def _data_digest(X: pd.DataFrame, label: pd.Series, scored_at: pd.Series) -> str:
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(X.index, index=False).to_numpy().tobytes())
    for name in X.columns:  # a column at a time: never a second copy of the whole matrix
        column = X[name]
        # Fractional features to 9 decimals: engines sum in their own order, and a last digit that differs
        # changes no band (the edges keep off training values) so it must not change the version either.
        column = column.round(9) if column.dtype.kind == "f" else column
        digest.update(pd.util.hash_pandas_object(column, index=False).to_numpy().tobytes())
    digest.update(pd.util.hash_pandas_object(label, index=False).to_numpy().tobytes())
    digest.update(pd.util.hash_pandas_object(scored_at, index=False).to_numpy().tobytes())
    digest.update(json.dumps(list(map(str, X.columns))).encode())
    return digest.hexdigest()


def _windows(feature_set, rows: np.ndarray, y: np.ndarray, seed: int) -> tuple[dict[str, np.ndarray], str]:
    """Row positions (into ``feature_set.X``) of the training / calibration / validation windows.

    ``rows`` are the labelled rows and ``y`` their labels. A time split orders them by scoring moment
    (ties keep the order of the leads file); without dates a seeded stratified random split.
    """
    n = len(rows)
    if feature_set.has_dates:
        moments = feature_set.scored_at.to_numpy()[rows]
        order = rows[np.argsort(moments, kind="stable")]
        cut_1 = int(round(n * SPLIT_SHARES["training"]))
        cut_2 = int(round(n * (SPLIT_SHARES["training"] + SPLIT_SHARES["calibration"])))
        windows = {"training": order[:cut_1], "calibration": order[cut_1:cut_2], "validation": order[cut_2:]}
        kind = "time"
    else:
        label_of = dict(zip(rows.tolist(), y.tolist(), strict=True))
        rest, validation = train_test_split(rows, test_size=SPLIT_SHARES["validation"], stratify=y,
                                            random_state=seed)
        share = SPLIT_SHARES["calibration"] / (1 - SPLIT_SHARES["validation"])
        training, calibration = train_test_split(rest, test_size=share,
                                                 stratify=[label_of[r] for r in rest.tolist()],
                                                 random_state=seed)
        windows = {"training": np.sort(training), "calibration": np.sort(calibration),
                   "validation": np.sort(validation)}
        kind = "random"
    label = feature_set.label.to_numpy()
    for name, part in windows.items():
        labels = label[part]
        if len(part) == 0 or len(np.unique(labels)) < 2:
            raise ModelError(f"the {name} window has {int(np.nansum(labels))} wins among {len(part)} leads; "
                             "every window needs wins and non-wins",
                             hint="use a longer history or a longer scoring.horizon_days")
    return windows, kind


def _challenger_frame(X: pd.DataFrame, categories: dict[str, pd.Index] | None = None
                      ) -> tuple[pd.DataFrame, dict[str, pd.Index]]:
    """Categories as pandas categoricals (at most 250 levels, the rest missing) for the challenger."""
    learn = categories is None
    categories = {} if learn else categories
    out = {}
    for column in X.columns:
        values = X[column]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            out[column] = values.astype(float)
            continue
        if learn:
            strings = values.astype("string").astype(object)
            common = strings.value_counts().index[:250].astype(str)
            categories[column] = pd.Index(sorted(common), dtype=object)
        out[column] = pd.Categorical.from_codes(_codes_in(values, categories[column]),
                                                categories=categories[column])
    return pd.DataFrame(out, index=X.index), categories


def _codes_in(values: pd.Series, categories: pd.Index) -> np.ndarray:
    """Each value's position in ``categories`` (-1 for a value not there, or missing)."""
    if isinstance(values.dtype, pd.CategoricalDtype):  # look up the few distinct values, not every row
        lookup = np.append(categories.get_indexer(values.cat.categories.astype(str).astype(object)), -1)
        return lookup[values.cat.codes.to_numpy()]  # code -1 (missing) takes the appended -1
    return categories.get_indexer(values.astype("string").astype(object))


def _top_grades(train_frame: pd.DataFrame, y_train: np.ndarray) -> list[str]:
    """Grade cells by training win rate, best first, taken until they hold ≥ 15% of the training leads."""
    table = pd.DataFrame({"grade": train_frame["grade"].to_numpy(), "y": y_train}).groupby("grade")["y"].agg(
        ["mean", "size"]).sort_values(["mean", "size"], ascending=[False, False])
    chosen, share = [], 0.0
    for grade, row in table.iterrows():
        chosen.append(str(grade))
        share += row["size"] / len(y_train)
        if share >= TOP_GRADES_MIN_SHARE:
            break
    return chosen


def practitioner_check(validation: pd.DataFrame, top_grades: list[str]) -> dict:
    """The MadKudu check on a scored hold-out (see the module docstring for the definitions).

    Parameters
    ----------
    validation : DataFrame
        With ``grade``, ``score`` and ``won``.
    top_grades : list of str
        The grade cells counted as top grades (chosen on the training window).

    Returns
    -------
    dict
        Figures and ``passed`` for each part, and ``passed`` overall.
    """
    won = validation["won"].to_numpy(dtype=float)
    top = validation["grade"].isin(top_grades).to_numpy()
    lead_share = float(top.mean())
    win_share = float(won[top].sum() / won.sum()) if won.sum() else float("nan")
    gains = metrics.gains_table(won, validation["score"].to_numpy(dtype=float), n_bins=10)
    best, worst = float(gains["win_rate"].iloc[0]), float(gains["win_rate"].iloc[-1])
    ratio = best / worst if worst > 0 else float("inf")
    out = {
        "top_grades": top_grades,
        "top_grades_lead_share": lead_share,
        "top_grades_win_share": win_share,
        "top_grades_passed": bool(TOP_GRADES_MIN_SHARE <= lead_share <= TOP_GRADES_MAX_SHARE
                                  and win_share >= TOP_GRADES_MIN_WINS),
        "best_decile_win_rate": best,
        "worst_decile_win_rate": worst,
        "best_to_worst": ratio if math.isfinite(ratio) else None,
        "best_to_worst_note": (None if math.isfinite(ratio)
                               else "the worst decile has no wins (ratio infinite)"),
        "best_to_worst_passed": bool(ratio >= BEST_TO_WORST_MIN),
        "rule": (f"top grades hold {TOP_GRADES_MIN_SHARE:.0%}-{TOP_GRADES_MAX_SHARE:.0%} of leads and ≥ "
                 f"{TOP_GRADES_MIN_WINS:.0%} of wins; best score decile converts ≥ {BEST_TO_WORST_MIN:.0f}× "
                 "the worst (on the hold-out)"),
    }
    out["passed"] = out["top_grades_passed"] and out["best_to_worst_passed"]
    return out


EFFECT_RULE = (
    "Categorical effects: for a category with its own band, the true effect relative to the attribute's "
    "mean effect (weighted by the training counts of the bands) must have the same sign as its points "
    "relative to the attribute's mean points. An effect is checked when the training window can resolve "
    "it: at least ``min_effect`` logit from the mean and at least two standard errors of the band's log-"
    "odds (``sqrt(1/wins + 1/non-wins)``); the others are listed as not checked. Activity effects (per "
    "unit of log1p decayed count): the sign of the effect must match the sign of (points of the highest "
    "non-missing band - points of the lowest band) of ``<type>_decayed``; an attribute left out of the "
    "scale recovers nothing."
)
"""The effects check as the model card states it (its own text: editing a docstring changes no output)."""


def effect_recovery(points: pd.DataFrame, truth_effects: dict, *, min_effect: float = EFFECT_MIN
                    ) -> pd.DataFrame:
    """Whether the fitted points recover each planted true effect with the right sign.

    Categorical effects: for a category with its own band, the true effect relative to the
    attribute's mean effect (weighted by the training counts of the bands) must have the same
    sign as its points relative to the attribute's mean points. An effect is checked when the
    training window can resolve it: at least ``min_effect`` logit from the mean and at least
    two standard errors of the band's log-odds (``sqrt(1/wins + 1/non-wins)``); the others are
    listed as not checked. Activity effects (per unit of log1p decayed count): the sign of the
    effect must match the sign of (points of the highest non-missing band - points of the
    lowest band) of ``<type>_decayed``; an attribute left out of the scale recovers nothing.

    Parameters
    ----------
    points : DataFrame
        The points table.
    truth_effects : dict
        ``truth_effects.json`` of the demo history.
    min_effect : float, default 0.15

    Returns
    -------
    DataFrame
        ``kind, attribute, value, true_effect, fitted, checked, recovered`` per planted effect
        (``true_effect`` and ``fitted`` relative to the attribute mean for categories; ``fitted``
        in points). ``recovered`` is None where the effect was not checked.
    """
    if not isinstance(truth_effects, dict):
        raise ModelError("truth_effects must be the dict of truth_effects.json")
    rows = []
    for attribute, effects in (truth_effects.get("categorical") or {}).items():
        table = points[points["attribute"] == attribute].set_index("band")
        own = {str(v): float(e) for v, e in effects.items() if str(v) in table.index}
        if not own:
            rows += [{"kind": "categorical", "attribute": attribute, "value": str(v),
                      "true_effect": float(e), "fitted": float("nan"), "checked": True, "recovered": False}
                     for v, e in effects.items()]
            continue
        counts = table.loc[list(own), "n_train"].to_numpy(dtype=float)
        wins = counts * table.loc[list(own), "win_rate_train"].fillna(0).to_numpy(dtype=float)
        weights = counts / counts.sum() if counts.sum() > 0 else np.full(len(own), 1 / len(own))
        true_mean = float(np.dot(weights, list(own.values())))
        fitted_mean = float(np.dot(weights, table.loc[list(own), "points"].to_numpy(dtype=float)))
        for i, (value, effect) in enumerate(own.items()):
            relative = effect - true_mean
            fitted = float(table.loc[value, "points"]) - fitted_mean
            standard_error = math.sqrt(1 / (wins[i] + 0.5) + 1 / (counts[i] - wins[i] + 0.5))
            checked = abs(relative) >= max(min_effect, 2 * standard_error)
            rows.append({"kind": "categorical", "attribute": attribute, "value": value,
                         "true_effect": relative, "fitted": fitted, "checked": bool(checked),
                         "recovered": bool(np.sign(fitted) == np.sign(relative)) if checked else None})
    for activity_type, effect in (truth_effects.get("activity") or {}).items():
        name = activity_feature_name(activity_slug(activity_type))
        table = points[(points["attribute"] == name) & (points["band"] != scorecard.MISSING_BAND)
                       & (points["n_train"] > 0)]
        fitted = float(table["points"].iloc[-1] - table["points"].iloc[0]) if len(table) else float("nan")
        checked = abs(effect) >= min_effect
        rows.append({"kind": "activity", "attribute": name, "value": str(activity_type),
                     "true_effect": float(effect), "fitted": fitted, "checked": bool(checked),
                     "recovered": (bool(len(table) and np.sign(fitted) == np.sign(effect)) if checked
                                   else None)})
    return pd.DataFrame(rows, columns=["kind", "attribute", "value", "true_effect", "fitted", "checked",
                                       "recovered"])


def _scorer_metrics(y: np.ndarray, prob: np.ndarray | None, score: np.ndarray, seed: int) -> dict:
    out = metrics.summary(y, prob, score)
    out["auc_ci"] = list(metrics.bootstrap_ci(y, score, n_boot=AUC_BOOT, seed=seed,
                                              max_rows=AUC_BOOT_MAX_ROWS))
    return out


def _shift_warnings(windows: dict[str, np.ndarray], label_values: np.ndarray, results: dict,
                    card: PointsScorecard, X_val: pd.DataFrame, score: np.ndarray) -> list[str]:
    """What :mod:`alignment.shift` finds in the windows and the scored hold-out."""
    counts = {name: (len(part), int(label_values[part].sum())) for name, part in windows.items()}
    found = [shift.window_win_rates({("hold-out" if name == "validation" else name): value
                                     for name, value in counts.items()}),
             shift.near_chance("scale", results["holdout"].get("auc")),
             shift.near_chance("challenger", results["challenger"].get("auc")),
             shift.calibration_off(results["holdout"].get("ece"))]
    return [line for line in found if line] + shift.unknown_categories(card, X_val, score)


# --- the fit ------------------------------------------------------------------------------------


def fit_model(config: Config | str | os.PathLike, *, out: str | os.PathLike | None = None,
              progress: bool = True) -> FittedModel:
    """Fit the points scale on the workspace's closed history and write the model folder.

    Parameters
    ----------
    config : Config or path
        The workspace config (or its file).
    out : path, optional
        The model folder (default: the config's ``paths.model``). An existing model
        folder is moved aside to ``<out>.previous-<version>``; any other existing,
        non-empty folder is refused.
    progress : bool, default True
        Show progress bars.

    Returns
    -------
    FittedModel
        The fitted scale, its card, points and scored hold-out (``path`` = the folder).

    Raises
    ------
    ModelError
        Too little data (fewer than 30 wins, or a window without wins), or a bad target folder.
    """
    if not isinstance(config, Config):
        config = load_config(config)
    out = Path(out) if out is not None else config.model_dir
    _check_out(out.resolve())
    seed = config.scoring.seed
    bar = tqdm(total=8, desc="fit", unit="step", disable=None if progress else True)
    try:
        # Single-threaded BLAS/OpenMP: on a shared 2-core machine the libraries' thread pools spin
        # against each other and the other processes (measured 4-10x slower than one thread).
        with threadpool_limits(limits=1):
            return _fit(config, out, seed, bar, progress)
    finally:
        bar.close()


@dataclass
class TrainingSplit:
    """The matrices ``alignment fit`` fits and validates its scale on (for benchmarks against other tools).

    ``scorecard`` is unfitted, configured exactly as the fit configures it; ``X_holdout``/``y_holdout`` is
    the validation window (the newest leads in a time split).
    """

    X_train: pd.DataFrame
    y_train: np.ndarray
    X_holdout: pd.DataFrame
    y_holdout: np.ndarray
    scorecard: PointsScorecard
    split_kind: str


def training_split(config: Config | str | os.PathLike) -> TrainingSplit:
    """The same features, guards and time split as :func:`fit_model`, stopped before fitting anything."""
    if not isinstance(config, Config):
        config = load_config(config)
    bar = tqdm(total=8, disable=True)
    return _fit(config, Path(), config.scoring.seed, bar, progress=False, split_only=True)


@dataclass
class Prepared:
    """What the fit knows before fitting anything: the labelled rows, the windows and the guards' findings."""

    label: pd.Series
    usable: pd.Series
    rows: np.ndarray
    y_rows: np.ndarray
    windows: dict[str, np.ndarray]
    split_kind: str
    screened: guards.GuardResult
    data_notes: list[str]
    warnings: list[str]


def _usable_rows(workspace, feature_set, config: Config) -> tuple[pd.Series, list[str]]:
    """Labelled leads the fit may use (horizon passed, not flagged by the loader), and what was left out."""
    label = feature_set.label
    usable = label.notna()
    data_notes = list(workspace.notes) + list(feature_set.notes)
    as_of = workspace.as_of
    if feature_set.has_dates and as_of is not None and not pd.isna(as_of):
        horizon_end = feature_set.scored_at + pd.Timedelta(days=config.scoring.horizon_days)
        inside = usable & (horizon_end > as_of)
        if inside.any():
            won_inside = int((inside & (label == 1)).sum())
            data_notes.append(f"{int(inside.sum()):,} closed leads whose horizon has not passed yet left "
                              f"out too ({won_inside:,} won, {int(inside.sum()) - won_inside:,} lost): their "
                              "open peers cannot be labelled yet, and keeping only the early outcomes of the "
                              "newest leads would distort their win rate")
        usable &= ~inside
    for reason in contract.FIT_EXCLUSIONS:
        flagged = workspace.excluded.get(reason)
        if flagged is not None and len(flagged):
            hit = usable & label.index.isin(flagged)
            if hit.any():
                data_notes.append(f"{int(hit.sum())} leads left out of fitting: {reason.replace('_', ' ')}")
            usable &= ~hit
    return usable, data_notes


def _prepare(workspace, feature_set, config: Config, seed: int) -> Prepared:
    """The usable rows, the three windows, and the guards screened on the training window."""
    label = feature_set.label
    usable, data_notes = _usable_rows(workspace, feature_set, config)
    rows = np.flatnonzero(usable.to_numpy())
    y_rows = label.to_numpy()[rows].astype(int)
    warnings = guards.check_minimum_data(int(len(rows)), int(y_rows.sum()))
    windows, split_kind = _windows(feature_set, rows, y_rows, seed)
    # The guards choose the columns of the scale: they see the training window's outcomes only (and the
    # leads without a label, whose open state is evidence), never the calibration or hold-out windows'.
    screened_rows = np.ones(len(feature_set.X), dtype=bool)
    screened_rows[windows["calibration"]] = False
    screened_rows[windows["validation"]] = False
    outcome = None
    if "outcome" in workspace.leads:
        outcome = pd.Series(workspace.leads["outcome"].array[screened_rows],
                            index=feature_set.X.index[screened_rows])
    screened = guards.screen_columns(feature_set.X[screened_rows], label.where(usable)[screened_rows],
                                     feature_set.family, config, outcome=outcome)
    warnings += screened.warnings
    if split_kind == "random":
        warnings.append("the data has no dates: the windows are a random stratified split (60/20/20), not a "
                        "time split; hold-out figures may flatter the scale on future leads")
    return Prepared(label, usable, rows, y_rows, windows, split_kind, screened, data_notes, warnings)


def screen_workspace(workspace, config: Config) -> Prepared:
    """The guards exactly as ``alignment fit`` runs them, without fitting (for ``alignment validate``).

    Parameters
    ----------
    workspace : Workspace
        From :func:`alignment.loader.load_workspace`.
    config : Config

    Returns
    -------
    Prepared
        ``screened`` holds the leakage left out and the suspected columns.

    Raises
    ------
    ModelError
        Too little data to split or screen.
    """
    with threadpool_limits(limits=1):
        feature_set = build_features(workspace, config, for_fitting=True)
        return _prepare(workspace, feature_set, config, config.scoring.seed)


def _fit(config: Config, out: Path, seed: int, bar, progress: bool, split_only: bool = False) -> FittedModel:
    """The fit run, phase by phase (each phase moves the progress bar one step)."""
    bar.set_postfix_str("loading")
    workspace = loader.load_workspace(config)
    bar.update()
    bar.set_postfix_str("features")
    feature_set = build_features(workspace, config, for_fitting=True)
    bar.update()

    bar.set_postfix_str("guards")
    in_worker = len(feature_set.X) >= CHALLENGER_PROCESS_MIN_ROWS and not split_only
    if in_worker:
        # The guards keep one core busy: the challenger's worker starts on the other (its imports take
        # seconds), so it is ready when the training window is.
        _challenger_worker().submit(_worker_ready)
    prepared = _prepare(workspace, feature_set, config, seed)
    if not prepared.screened.kept:
        raise ModelError("no usable attribute is left after the guards",
                         hint="see the leakage and dropped columns; map more attributes in [families]")
    bar.update()

    bar.set_postfix_str("scale")
    windows = _Windows.split(feature_set, prepared)
    card = PointsScorecard(families={c: feature_set.family[c] for c in windows.kept},
                           monotone={c: feature_set.monotone.get(c, "none") for c in windows.kept},
                           random_state=seed, progress=progress)
    if split_only:  # training_split(): the benchmark fits its own copy on the same matrices
        return TrainingSplit(windows.X_train, windows.y_train, windows.X_val, windows.y_val, card,
                             prepared.split_kind)
    # The challenger shares nothing with the scale: it trains on the other core while the scale is fitted,
    # calibrated and checked on the hold-out (each single-threaded, see fit_model).
    challenger, challenger_rows, subsample_note = _start_challenger(windows, seed, in_worker)
    # What the card's version digests needs neither: digested while the challenger trains, and before the
    # scale (the digest's ~80 MB at 1M leads then meets the worker early, not at its peak).
    config_json = config.model_dump(mode="json", exclude={"path"})
    code_version = _code_version()
    version = _model_version(feature_set, prepared.label, config_json, code_version)
    card.fit(windows.X_train, windows.y_train)
    bar.update()

    bar.set_postfix_str("calibration")
    calibrator = CalibratedClassifierCV(FrozenEstimator(card), method=CALIBRATION_METHOD).fit(
        windows.X_cal, windows.y_cal)
    bar.update()

    bar.set_postfix_str("validation")
    scored = card.score_frame(windows.X_val)
    probability = calibrator.predict_proba(windows.X_val)[:, 1]
    score = scored["score"].to_numpy(dtype=float)
    # build_features keeps the leads' row order: row i of X is row i of the leads table.
    val_leads = workspace.leads.iloc[prepared.windows["validation"]]
    val_ids = feature_set.X.index[prepared.windows["validation"]]
    holdout = _scorer_metrics(windows.y_val, probability, score, seed)
    references = _reference_results(workspace, windows.y_val, val_leads, val_ids, seed)
    top = _top_grades(card.score_frame(windows.X_train, n_reasons=0), windows.y_train)
    validation = _validation_frame(feature_set, prepared.windows["validation"], scored, probability,
                                   windows.y_val, val_leads, val_ids)
    bar.update()

    bar.set_postfix_str("challenger")
    challenger_results = challenger.result()
    if in_worker:
        _challenger_worker().shutdown(wait=False)  # its memory back now, not at exit
    results = {"holdout": holdout, "challenger": challenger_results, **references}
    warnings = prepared.warnings  # the card's list: what follows adds to it
    warnings += [subsample_note] if subsample_note else []
    warnings += _shift_warnings(prepared.windows, prepared.label.to_numpy(), results, card, windows.X_val,
                                score)
    check = practitioner_check(validation, top)
    effects = effect_recovery(card.points_, workspace.truth_effects) if workspace.truth_effects else None
    bar.update()

    bar.set_postfix_str("writing")
    model_card = _model_card(version=version, code_version=code_version, seed=seed, config=config,
                             config_json=config_json, workspace=workspace, feature_set=feature_set,
                             prepared=prepared, card=card, results=results, check=check, effects=effects,
                             challenger_rows=challenger_rows)
    types = workspace.activities.activity_types if workspace.activities is not None else []
    pipeline = {"scorecard": card, "calibrator": calibrator, "families": dict(workspace.families),
                "activity_types": [activity_slug(t) for t in types], "version": version}
    card_text = json.dumps(model_card, indent=2, ensure_ascii=False, sort_keys=False)
    _write_model_dir(out, {
        CARD: lambda p: p.write_text(card_text + "\n", encoding="utf-8"),
        POINTS: lambda p: _points_for_spreadsheets(card.points_).to_csv(p, index=False),
        PIPELINE: lambda p: joblib.dump(pipeline, p),
        VALIDATION: lambda p: validation.to_parquet(p, index=False),
    })
    bar.update()
    return FittedModel(card=model_card, points=card.points_.copy(), validation=validation, pipeline=pipeline,
                       path=out.resolve())


@dataclass
class _Windows:
    """The kept attributes of the training, calibration and validation windows, with their labels."""

    kept: list[str]
    X_train: pd.DataFrame
    y_train: np.ndarray
    X_cal: pd.DataFrame
    y_cal: np.ndarray
    X_val: pd.DataFrame
    y_val: np.ndarray

    @classmethod
    def split(cls, feature_set: FeatureSet, prepared: Prepared) -> _Windows:
        kept = list(prepared.screened.kept)
        X_kept, label_values, windows = feature_set.X[kept], prepared.label.to_numpy(), prepared.windows
        parts = [(X_kept.iloc[windows[name]], label_values[windows[name]].astype(int))
                 for name in ("training", "calibration", "validation")]
        return cls(kept, *parts[0], *parts[1], *parts[2])


def _start_challenger(windows: _Windows, seed: int, in_worker: bool) -> tuple[Future, np.ndarray, str | None]:
    """Start the gradient-boosting challenger: its hold-out metrics (a future), the training rows it uses
    and, when those are a subsample, the warning that says so.

    ``in_worker`` (a large history) trains it in a worker process, beside the scale on the other core (a
    thread would contend with the scale for the interpreter); on a small history starting that worker would
    cost more than it saves, so it trains right here.
    """
    y_train = windows.y_train
    rows, note = np.arange(len(y_train)), None
    if len(y_train) > CHALLENGER_MAX_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(len(y_train), CHALLENGER_MAX_ROWS, replace=False))
        note = (f"the challenger was trained on a seeded subsample of {CHALLENGER_MAX_ROWS:,} of the "
                f"{len(y_train):,} training leads (for speed)")
    inputs = dataclasses.replace(windows, X_train=windows.X_train.iloc[rows], y_train=y_train[rows])
    if in_worker:
        return _challenger_worker().submit(_fit_challenger, inputs, seed), rows, note
    done: Future = Future()
    done.set_result(_fit_challenger(inputs, seed))
    return done, rows, note


def _challenger_worker() -> Any:
    """The worker process the challenger trains in (started once, kept while the process fits)."""
    from joblib.externals.loky import get_reusable_executor

    return get_reusable_executor(max_workers=1)


def _worker_ready() -> bool:
    """Nothing: submitted first, it has the worker import this module (and scikit-learn) ahead of time."""
    return True


def _fit_challenger(windows: _Windows, seed: int) -> dict:
    """A calibrated gradient-boosting challenger's hold-out metrics (trained on all of ``X_train``)."""
    with threadpool_limits(limits=1):  # one core (the scale has the other), in a worker process too
        C_train, categories = _challenger_frame(windows.X_train)
        challenger = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.08, l2_regularization=1.0,
                                                    early_stopping=True, categorical_features="from_dtype",
                                                    random_state=seed)
        challenger.fit(C_train, windows.y_train)
        calibrated = CalibratedClassifierCV(FrozenEstimator(challenger), method=CALIBRATION_METHOD).fit(
            _challenger_frame(windows.X_cal, categories)[0], windows.y_cal)
        probability = calibrated.predict_proba(_challenger_frame(windows.X_val, categories)[0])[:, 1]
        return _scorer_metrics(windows.y_val, probability, probability, seed)


def _reference_results(workspace, y_val: np.ndarray, val_leads: pd.DataFrame, val_ids: pd.Index,
                       seed: int) -> dict:
    """The hold-out metrics of what the scale is compared with besides the challenger: the export's legacy
    score and, for the demo, the truth."""
    results = {}
    if "legacy_score" in val_leads and val_leads["legacy_score"].notna().any():
        legacy = val_leads["legacy_score"].to_numpy(dtype=float)
        has = ~np.isnan(legacy)
        if len(np.unique(y_val[has])) == 2:
            results["legacy"] = _scorer_metrics(y_val[has], None, legacy[has], seed)
            results["legacy"]["coverage"] = float(has.mean())
    if workspace.truth is not None:
        truth = workspace.truth.set_index("lead_id")["true_probability"]
        true_p = truth.reindex(val_ids).to_numpy(dtype=float)
        if not np.isnan(true_p).any():
            results["oracle"] = _scorer_metrics(y_val, true_p, true_p, seed)
    return results


def _validation_frame(feature_set: FeatureSet, rows: np.ndarray, scored: pd.DataFrame,
                      probability: np.ndarray, y_val: np.ndarray, val_leads: pd.DataFrame,
                      val_ids: pd.Index) -> pd.DataFrame:
    """``scored_validation.parquet``: the scored hold-out the workshop and the review read."""
    validation = pd.DataFrame({
        "lead_id": val_ids.to_numpy().astype(str),
        "created_at": feature_set.created_at.to_numpy()[rows],
        "scored_at": feature_set.scored_at.to_numpy()[rows],
        **{c: scored[c].to_numpy() for c in ("score", "fit_score", "engagement_score", "grade", "fit_grade",
                                              "engagement_grade")},
        "probability": probability,
        "won": y_val.astype(int),
        "amount": (val_leads["amount"].to_numpy(dtype=float) if "amount" in val_leads
                   else np.full(len(y_val), np.nan)),
        **{c: (val_leads[c].astype(object).to_numpy() if c in val_leads else np.full(len(y_val), None))
           for c in ("source", "campaign")},
        **{c: scored[c].to_numpy() for c in ("reason_1", "reason_2", "reason_3")},
    })[VALIDATION_COLUMNS]
    for column in ("grade", "fit_grade", "engagement_grade", "source", "campaign", "reason_1", "reason_2",
                   "reason_3"):
        validation[column] = validation[column].astype(object).where(validation[column].notna(), None)
    return validation


def _model_version(feature_set: FeatureSet, label: pd.Series, config_json: dict, code_version: str) -> str:
    """What decides a score, digested: the data, the decisive settings, the code (never paths)."""
    digest = hashlib.sha256()
    digest.update(_data_digest(feature_set.X, label, feature_set.scored_at).encode())
    digest.update(json.dumps(_decisive_config(config_json), sort_keys=True).encode())
    digest.update(code_version.encode())
    return digest.hexdigest()[:12]


def _model_card(*, version: str, code_version: str, seed: int, config: Config, config_json: dict, workspace,
                feature_set: FeatureSet, prepared: Prepared, card: PointsScorecard, results: dict,
                check: dict, effects: pd.DataFrame | None, challenger_rows: np.ndarray) -> dict:
    """``model.json``: everything a reader needs to judge the scale (JSON-ready)."""
    windows, split_kind, screened = prepared.windows, prepared.split_kind, prepared.screened
    label_values = prepared.label.to_numpy()

    def window_info(name: str) -> dict:
        part = windows[name]
        at = feature_set.scored_at.iloc[part]
        return {"from": at.min() if split_kind == "time" else None,
                "to": at.max() if split_kind == "time" else None,
                "n": len(part), "wins": int(label_values[part].sum()), "share": SPLIT_SHARES[name]}

    used = card.attributes_
    model_card = {
        "version": version,
        "code_version": code_version,
        "seed": seed,
        "config_file": str(config.path) if config.path else None,
        "data": {"n_leads": len(feature_set.X), "n_labelled": len(prepared.rows),
                 "n_wins": int(prepared.y_rows.sum()), "as_of": workspace.as_of, "notes": prepared.data_notes,
                 "load_warnings": list(workspace.warnings), "has_truth": workspace.truth is not None},
        "scoring": {"moment": config.scoring.moment, "days_after_created": config.scoring.days_after_created,
                    "horizon_days": config.scoring.horizon_days},
        "split": {"kind": split_kind, "shares": SPLIT_SHARES,
                  "note": ("time split by scoring moment: oldest → training, next → calibration, newest → "
                           "validation (hold-out)") if split_kind == "time" else
                          "random stratified split: the data has no dates",
                  "windows": {name: window_info(name) for name in SPLIT_SHARES}},
        "features": {
            "by_family": {fam: [c for c in used if card.families[c] == fam] for fam in FAMILIES},
            "monotone": {c: card.monotone[c] for c in used},
            "dropped": screened.dropped + [{"column": c, "reason": r} for c, r in card.dropped_.items()],
            "forced": screened.forced,
            "single_column_auc": screened.single_auc,
        },
        "leakage": screened.leakage,
        "suspected_leakage": screened.suspected,
        "warnings": prepared.warnings,
        "scale": {
            "C": card.C_, "intercept": card.intercept_, "offset": card.offset_, "slope": card.slope_,
            "coefficients": dict(zip(used, card.coef_, strict=True)),
            "grade_cutoffs": {"fit": card.fit_cutoffs_, "engagement": card.engagement_cutoffs_,
                              "rule": "quartiles of the training window's sub-scores; A and 1 best"},
            "calibration": {"method": CALIBRATION_METHOD, "window": "calibration"},
            "challenger": {"estimator": "HistGradientBoostingClassifier",
                           "training_rows": len(challenger_rows)},
        },
        "points": card.points_.to_dict(orient="records"),
        "metrics": results,
        "practitioner_check": check,
        "effects_check": None if effects is None else {
            "all_recovered": bool(effects.loc[effects["checked"], "recovered"].all()),
            "n_checked": int(effects["checked"].sum()), "n_not_checked": int((~effects["checked"]).sum()),
            "rule": EFFECT_RULE,
            "effects": effects.to_dict(orient="records")},
        "config": config_json,
    }
    return _jsonable(model_card)


def run_fit(config_path: str | os.PathLike | None, out: str | os.PathLike | None) -> FittedModel:
    """``alignment fit``: fit and write the model folder, then print a short summary."""
    import click

    config = find_config(config_path)
    model = fit_model(config, out=out, progress=True)
    m = model.card["metrics"]
    oracle = f", oracle {m['oracle']['auc']:.3f}" if "oracle" in m else ""
    legacy = f", legacy {m['legacy']['auc']:.3f}" if "legacy" in m else ""
    click.echo(f"model {model.version} written to {model.path}")
    click.echo(f"hold-out ({model.card['split']['kind']} split, {m['holdout']['n']:,} leads): AUC "
               f"{m['holdout']['auc']:.3f} (challenger {m['challenger']['auc']:.3f}{oracle}{legacy}), "
               f"ECE {m['holdout']['ece']:.3f}, Brier {m['holdout']['brier']:.3f}")
    check = model.card["practitioner_check"]
    click.echo(f"practitioner check: {'pass' if check['passed'] else 'FAIL'} (top grades "
               f"{check['top_grades_lead_share']:.0%} of leads, {check['top_grades_win_share']:.0%} of wins)")
    for line in model.card["warnings"]:
        click.echo(f"warning: {line}")
    for item in model.card["leakage"]:
        click.echo(f"left out (leakage): {item['column']}: {item['reason']}")
    for item in model.card.get("suspected_leakage", []):
        click.echo(f"suspected leakage (kept): {item['column']}: {item['reason']} — if the export fills "
                   "it after the outcome, list it in scoring.after_outcome")
    return model


