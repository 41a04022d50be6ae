"""``alignment score``: new leads scored with a model folder, written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from alignment import csvsafe, loader
from alignment.config import Config, load_config
from alignment.exceptions import AlignmentError, DataError, ModelError
from alignment.features import activity_feature_name
from alignment.files import writable_folder
from alignment.model.folder import SCORE_COLUMNS, _check_parent, load_model


def read_leads_to_score(input_path: str | os.PathLike, config: Config) -> pd.DataFrame:
    """Read an export of new leads with the real loader and map it with the model's config.

    New leads usually carry no outcome (or all "open"): the loader's ``history=False`` mode
    accepts that, and keeps the outcome as exported where there is one.
    """
    source = config.source
    raw = loader.read_table(input_path, separator=source.separator, encoding=source.encoding,
                            sheet=source.sheet, missing_values=source.missing_values)
    # The same lookup tables as the history (accounts, products...): new leads come in the same shape.
    label, offset = raw.attrs["source"], raw.attrs["row_offset"]
    warnings: list[str] = []
    raw = loader.apply_joins(raw, config, label, warnings, strict=False)
    leads, conform_warnings, _ = loader.conform_leads(raw, config, label, offset, history=False)
    leads.attrs["warnings"] = warnings + conform_warnings
    return leads


def _check_table_out(out_path: Path) -> None:
    """Refuse an output that is not .csv/.parquet, already exists, or lies under a file."""
    if out_path.suffix.lower() not in (".csv", ".parquet"):
        raise ModelError("the output must be a .csv or .parquet file", file=str(out_path))
    if out_path.exists():
        raise ModelError("the output file already exists; it will not be overwritten", file=str(out_path),
                         hint="choose another --out, or delete it first")
    _check_parent(out_path)
    problem = writable_folder(out_path.parent)
    if problem:
        raise ModelError(f"the scores cannot be written there ({problem})", file=str(out_path),
                         hint="choose another --out")


def _write_table_atomic(frame: pd.DataFrame, out_path: Path) -> None:
    _check_table_out(out_path)
    suffix = out_path.suffix.lower()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=suffix, dir=out_path.parent)
    os.close(handle)
    try:
        if suffix == ".csv":
            safe = csvsafe.neutralise(frame, ["lead_id", "reason_1", "reason_2", "reason_3"])
            safe.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
        os.replace(tmp, out_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_score(model_dir: str | os.PathLike, input_path: str | os.PathLike, out_path: str | os.PathLike,
              config_path: str | os.PathLike | None = None) -> pd.DataFrame:
    """``alignment score``: score an export of leads and write the scores (CSV or Parquet).

    Parameters
    ----------
    model_dir : path
        A model folder from ``alignment fit``.
    input_path : path
        The leads to score (any format the loader reads; export headers mapped by the config).
    out_path : path
        ``.csv`` or ``.parquet``; never overwritten.
    config_path : path, optional
        The workspace config (default: the one the model was fitted with). Its
        activities source, when it has one, supplies the leads' activities.

    Returns
    -------
    DataFrame
        The scores written.
    """
    import click

    model = load_model(model_dir)
    out_path = Path(out_path)
    _check_table_out(out_path)  # before the work, not after it
    config = load_config(config_path) if config_path else model.config
    leads = read_leads_to_score(input_path, config)
    activities = None
    activity_features = {activity_feature_name(t) for t in model.pipeline["activity_types"]}
    if activity_features & set(model.scorecard.attributes_):
        if not config.source.activities:
            raise ModelError("the scale uses activity features but the config names no activities source",
                             hint="pass --config with [source] activities = FILE")
        warnings: list[str] = []
        location = loader.resolve_location(config, config.source.activities)
        try:
            activities = loader.load_activities(location, config, leads["lead_id"], warnings)
        except AlignmentError:
            raise
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read the activities ({exc})", file=config.source.activities) from None
    scores = model.score(leads, activities)
    for line in leads.attrs.get("warnings", []):
        click.echo(f"warning: {line}", err=True)
    _write_table_atomic(scores[SCORE_COLUMNS + ["scored_at"]], out_path)
    click.echo(f"{len(scores):,} leads scored with model {model.version} → {out_path}")
    return scores
