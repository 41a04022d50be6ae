"""The model folder: written atomically beside the previous one, read back as a :class:`FittedModel`."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import joblib
import numpy as np
import pandas as pd

from alignment import csvsafe
from alignment.config import Config, parse_config
from alignment.engine import ActivityTable
from alignment.exceptions import ModelError
from alignment.features import activity_feature_name, build_features
from alignment.files import writable_folder
from alignment.scorecard import PointsScorecard

SCORE_COLUMNS = ["lead_id", "score", "fit_score", "engagement_score", "grade", "fit_grade",
                 "engagement_grade", "probability", "reason_1", "reason_2", "reason_3"]
VALIDATION_COLUMNS = ["lead_id", "created_at", "scored_at", "score", "fit_score", "engagement_score", "grade",
                      "fit_grade", "engagement_grade", "probability", "won", "amount", "source", "campaign",
                      "reason_1", "reason_2", "reason_3"]
CARD = "model.json"
POINTS = "points.csv"
PIPELINE = "scorecard.joblib"
VALIDATION = "scored_validation.parquet"


# --- the fitted model --------------------------------------------------------------------------


@dataclass
class FittedModel:
    """A fitted scale: the card, the points table, the scored hold-out and the estimators.

    Attributes
    ----------
    card : dict
        The model card (``model.json``).
    points : DataFrame
        The points table (``points.csv``).
    validation : DataFrame
        The scored hold-out leads (``scored_validation.parquet``).
    pipeline : dict
        ``scorecard`` (PointsScorecard), ``calibrator`` (CalibratedClassifierCV),
        ``families`` (attribute -> family of the workspace) and ``activity_types``.
    path : Path or None
        The model folder it was written to or read from.
    """

    card: dict
    points: pd.DataFrame
    validation: pd.DataFrame
    pipeline: dict
    path: Path | None = None

    @property
    def version(self) -> str:
        return str(self.card["version"])

    @property
    def scorecard(self) -> PointsScorecard:
        return self.pipeline["scorecard"]

    @property
    def config(self) -> Config:
        """The workspace config the scale was fitted with (paths resolve against its original folder)."""
        config_file = self.card.get("config_file")
        return parse_config(self.card["config"], Path(config_file) if config_file else None)

    def score(self, leads: pd.DataFrame, activities: ActivityTable | pd.DataFrame | None = None, *,
              n_reasons: int = 3) -> pd.DataFrame:
        """Score leads with the fitted scale.

        Parameters
        ----------
        leads : DataFrame
            Leads in the canonical layout (as :func:`alignment.loader.load_workspace` or
            :func:`alignment.loader.conform_leads` return them); ``outcome`` is not needed.
        activities : ActivityTable or DataFrame, optional
            Their activities (``lead_id, occurred_at, activity_type``); required when the
            scale uses activity features. Only events before each lead's scoring moment count.
        n_reasons : int, default 3
            How many reasons per lead (0: none, for callers that show no reasons: the texts are the
            costliest part of scoring many leads).

        Returns
        -------
        DataFrame
            One row per lead: ``lead_id, score, fit_score, engagement_score, grade, fit_grade,
            engagement_grade, probability, reason_1 .. reason_<n_reasons>, scored_at``.
        """
        if not isinstance(leads, pd.DataFrame):
            raise ModelError("leads to score must be a DataFrame")
        card = self.scorecard
        activity_features = {activity_feature_name(t) for t in self.pipeline["activity_types"]}
        needs_activities = sorted(activity_features & set(card.attributes_))
        if needs_activities and activities is None:
            raise ModelError(f"the scale uses activity features ({', '.join(needs_activities[:3])}) but no "
                             "activities were given", hint="pass the activities table of these leads")
        workspace = SimpleNamespace(leads=leads, activities=activities, families=self.pipeline["families"],
                                    as_of=None)
        config = self.config
        try:
            feature_set = build_features(workspace, config, for_fitting=False,
                                         activity_types=self.pipeline["activity_types"])
        except TypeError as exc:
            raise ModelError(f"cannot build features for these leads: {exc}") from None
        X = feature_set.X
        frame = card.score_frame(X, n_reasons=n_reasons)
        frame.insert(0, "lead_id", X.index.to_numpy())
        frame.insert(7, "probability", self.pipeline["calibrator"].predict_proba(X)[:, 1])
        frame["scored_at"] = feature_set.scored_at.to_numpy()
        return frame.reset_index(drop=True)


# --- helpers -------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """Numpy, pandas and NaN values made JSON-safe (NaN -> null)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if value is pd.NaT:
        return None
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    return value


def _check_parent(path: Path) -> None:
    """Refuse a target whose nearest existing parent is a file: it could never be written."""
    existing = next((parent for parent in path.parents if parent.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ModelError("a parent of the output path is a file, not a folder", file=str(existing),
                         hint="choose another --out")


def _check_out(out: Path) -> None:
    """Refuse a target that exists and is not a model folder (never overwrite what a user saved), or whose
    folder cannot be written (before the fit, not after it)."""
    _check_parent(out)
    problem = writable_folder(out.parent)
    if problem:
        raise ModelError(f"the model folder cannot be written there ({problem})", file=str(out),
                         hint="choose another --out, or [paths] model in the config")
    if out.exists() and not out.is_dir():
        raise ModelError("the model folder path is a file", file=str(out), hint="choose another --out")
    if out.is_dir() and any(out.iterdir()) and not (out / CARD).is_file():
        raise ModelError("the folder exists and is not a model folder; it will not be overwritten",
                         file=str(out), hint="choose another --out, or empty the folder")


def _write_model_dir(out: Path, write: dict[str, Any]) -> Path | None:
    """Write files into a temporary sibling, move an existing model aside, rename into place.

    Returns the folder the previous model was moved to (None when there was none).
    """
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    _check_out(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    moved = None
    try:
        for name, writer in write.items():
            writer(tmp / name)
        if out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        elif out.is_dir():
            try:
                old = json.loads((out / CARD).read_text(encoding="utf-8")).get("version", "unknown")
            except (json.JSONDecodeError, AttributeError, OSError):
                old = "unknown"
            moved = out.parent / f"{out.name}.previous-{old}"
            counter = 2
            while moved.exists():
                moved = out.parent / f"{out.name}.previous-{old}-{counter}"
                counter += 1
            out.rename(moved)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return moved


# --- reading and scoring ------------------------------------------------------------------------


def find_model(model_dir: str | os.PathLike, version: str) -> Path | None:
    """The folder holding model ``version``: the model folder itself, or one a refit moved aside beside it
    (``<model>.previous-<version>``); None when it is gone."""
    model_dir = Path(model_dir)
    for folder in [model_dir, *sorted(model_dir.parent.glob(f"{model_dir.name}.previous-{version}*"))]:
        try:
            card = json.loads((folder / CARD).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if str(card.get("version")) == str(version):
            return folder
    return None


def load_model(model_dir: str | os.PathLike) -> FittedModel:
    """Read a model folder written by :func:`fit_model`.

    Parameters
    ----------
    model_dir : path

    Returns
    -------
    FittedModel
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelError("model folder not found", file=str(model_dir), hint="run `alignment fit` first")
    for name in (CARD, POINTS, PIPELINE, VALIDATION):
        if not (model_dir / name).is_file():
            raise ModelError("model folder is incomplete: file missing", file=str(model_dir / name),
                             hint="run `alignment fit` again")
    try:
        card = json.loads((model_dir / CARD).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelError(f"model card is not valid JSON ({exc.msg})", file=str(model_dir / CARD),
                         row=exc.lineno, hint="run `alignment fit` again") from None
    try:
        pipeline = joblib.load(model_dir / PIPELINE)
    except Exception as exc:  # unpickling raises many types for a damaged or foreign file
        raise ModelError(f"cannot read the fitted scale ({type(exc).__name__})",
                         file=str(model_dir / PIPELINE),
                         hint="run `alignment fit` again with this version of alignment") from None
    if not isinstance(pipeline, dict) or pipeline.get("version") != card.get("version"):
        raise ModelError("the fitted scale does not belong to this model card",
                         file=str(model_dir / PIPELINE), hint="run `alignment fit` again")
    points = pd.read_csv(model_dir / POINTS, keep_default_na=False, na_values=[""])
    validation = pd.read_parquet(model_dir / VALIDATION)
    return FittedModel(card=card, points=points, validation=validation, pipeline=pipeline,
                       path=model_dir.resolve())


def _points_for_spreadsheets(points: pd.DataFrame) -> pd.DataFrame:
    """points.csv as people open it: attribute names and category bands (from the export) neutralised."""
    categories = points["low"].isna() & points["high"].isna()  # numeric bands carry their edges
    named = csvsafe.neutralise(points, ["attribute", "label"])
    return csvsafe.neutralise(named, ["band"], rows=categories)


