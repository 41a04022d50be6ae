"""The activities table (a file, a Parquet folder, a database or a table of the engine) and the demo's truth.

Parquet and tables of the engine are read by the engine itself (:mod:`alignment.engine.activities`); CSV,
Excel and SQLAlchemy sources go through the same messy-export handling as the leads, then to the engine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from alignment import contract
from alignment.config import Config, is_url
from alignment.engine import ActivityTable, activity_table, connect, read_activities
from alignment.engine.activities import INCOMPLETE_EVENT
from alignment.exceptions import DataError
from alignment.loader.conforming import _as_key, _rows, _to_timestamps
from alignment.loader.reading import PARQUET_SUFFIXES, _label, read_table

# --- activities and truth ---------------------------------------------------------------------


def _activities_table(
    raw: pd.DataFrame, config: Config, lead_ids: pd.Series, warnings: list[str]
) -> pd.DataFrame:
    label, offset = raw.attrs["source"], raw.attrs["row_offset"]
    frame = raw.rename(columns={h: t for h, t in config.mapping.items() if h in raw.columns})
    for column in contract.ACTIVITY_COLUMNS:
        if column not in frame.columns:
            raise DataError(
                "the activities table has no such column",
                file=label,
                column=column,
                hint=f"map one onto '{column}' in the config [mapping]",
            )
    frame = frame[list(contract.ACTIVITY_COLUMNS)].copy()
    frame["lead_id"] = _as_key(frame["lead_id"])
    frame["occurred_at"] = _to_timestamps(frame["occurred_at"], "occurred_at", label, offset)
    # A blank type is as common in exports as a blank time: the event is left out, not the whole table.
    complete = frame["lead_id"].isin(lead_ids) & frame["occurred_at"].notna() & frame["activity_type"].notna()
    if not complete.all():
        warnings.append(
            f"{label}: {int((~complete).sum()):,} activities (e.g. rows "
            f"{_rows(frame.index[~complete], offset)}) {INCOMPLETE_EVENT} — left out"
        )
        frame = frame[complete]
    frame["lead_id"] = frame["lead_id"].astype("str")
    frame["activity_type"] = frame["activity_type"].astype("str")
    return frame.reset_index(drop=True)


def load_activities(location: str | None, config: Config, lead_ids: pd.Series,
                    warnings: list[str]) -> ActivityTable:
    """Read the activities table (``lead_id``, ``occurred_at``, ``activity_type``) for the known leads.

    Parameters
    ----------
    location : str or None
        A resolved path (Parquet is scanned by the engine) or a SQLAlchemy URL; None when the config's
        ``[engine] activities_table`` names a table of the engine.
    config : Config
        Gives the ``[mapping]``, separator, encoding, table/query and placeholders.
    lead_ids : Series
        The leads' ids; activities naming another id are left out.
    warnings : list of str
        Appended to when rows are left out.

    Returns
    -------
    ActivityTable
        Canonical events of known leads, in the configured engine.
    """
    backend = connect(config.engine)
    if config.engine.activities_table:
        name = config.engine.activities_table
        return read_activities(backend, name, label=f"engine table {name}", mapping=config.mapping,
                               lead_ids=lead_ids, warnings=warnings, engine_table=True)
    if location is None:
        raise DataError("no activities source", hint="set [source] activities or [engine] activities_table")
    path = Path(location)
    if not is_url(location) and path.exists() and (path.suffix.lower() in PARQUET_SUFFIXES or path.is_dir()):
        return read_activities(backend, location, label=_label(location), mapping=config.mapping,
                               lead_ids=lead_ids, warnings=warnings)
    else:
        raw = read_table(
            location,
            separator=config.source.separator,
            encoding=config.source.encoding,
            table=config.source.activities_table,
            query=config.source.activities_query,
            missing_values=config.source.missing_values,
        )
        frame = _activities_table(raw, config, lead_ids, warnings)
    contract.validate_frame(frame, contract.activities_schema(), file=_label(location), row_offset=1)
    return activity_table(frame, backend, _label(location), known_leads_only=True)


def load_truth(location: str) -> tuple[pd.DataFrame, dict | None]:
    """The demo's ground truth and the true effects written beside it.

    Parameters
    ----------
    location : str
        A table with ``lead_id`` and ``true_probability``.

    Returns
    -------
    truth : DataFrame
        ``lead_id`` (str), ``true_probability`` (float).
    effects : dict or None
        ``truth_effects.json`` from the same folder, when present.
    """
    truth = read_table(location, missing_values=[])
    for column in ("lead_id", "true_probability"):
        if column not in truth.columns:
            raise DataError(
                "the truth table has no such column",
                file=truth.attrs["source"],
                column=column,
                hint="it needs lead_id and true_probability",
            )
    truth = pd.DataFrame(
        {
            "lead_id": _as_key(truth["lead_id"]).astype("str"),
            "true_probability": truth["true_probability"].astype(float),
        }
    )
    effects_path = Path(location).parent / "truth_effects.json"
    effects = None
    if not is_url(location) and effects_path.is_file():
        try:
            effects = json.loads(effects_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(
                f"not valid JSON ({exc.msg})", file=_label(str(effects_path)), row=exc.lineno
            ) from None
    return truth, effects


