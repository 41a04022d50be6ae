"""The activities table (a file, a folder of Parquet or a database) and the demo's ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from alignment import contract
from alignment.config import Config, is_url
from alignment.exceptions import DataError
from alignment.loader.conforming import _as_key, _rows, _to_timestamps
from alignment.loader.reading import PARQUET_SUFFIXES, _label, read_table

INCOMPLETE_EVENT = "name no known lead, or have no time or no type"

# --- activities and truth ---------------------------------------------------------------------


def _activities_parquet(
    path: Path, label: str, config: Config, lead_ids: pd.Series, warnings: list[str]
) -> pd.DataFrame:
    """Read only the three activity columns with pyarrow; no per-row Python."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"not a readable Parquet file ({str(exc).splitlines()[0]})", file=label) from None
    source_of = {target: header for header, target in config.mapping.items() if header in names}
    wanted = {c: source_of.get(c, c) for c in contract.ACTIVITY_COLUMNS}
    for column, header in wanted.items():
        if header not in names:
            raise DataError(
                "the activities table has no such column",
                file=label,
                column=column,
                hint=f"columns: {', '.join(names[:10])}; map one onto '{column}' in [mapping]",
            )
    table = pq.read_table(path, columns=list(wanted.values()))
    table = table.rename_columns([{v: k for k, v in wanted.items()}[n] for n in table.column_names])
    lead_id = table["lead_id"]
    if not pa.types.is_string(lead_id.type) and not pa.types.is_large_string(lead_id.type):
        lead_id = pc.cast(
            pc.cast(lead_id, pa.int64()) if pa.types.is_floating(lead_id.type) else lead_id, pa.string()
        )
    kind = table["activity_type"].type
    activity_type = (
        table["activity_type"]
        if pa.types.is_dictionary(kind)
        else pc.dictionary_encode(table["activity_type"])
    )
    occurred = table["occurred_at"]
    table = pa.table({"lead_id": lead_id, "occurred_at": occurred, "activity_type": activity_type})
    # One hashing pass gives both the filter and the codes: lead_id comes back as a Categorical over the
    # leads' own ids, so features never hash 20M strings again.
    known_ids = pd.Index(lead_ids.to_numpy(dtype=object))
    codes = pc.index_in(table["lead_id"], value_set=pa.array(known_ids.to_numpy(), pa.string()))
    complete = pc.and_(
        pc.and_(pc.is_valid(codes), pc.is_valid(table["occurred_at"])), pc.is_valid(table["activity_type"])
    )
    dropped = len(table) - pc.sum(complete).as_py()
    if dropped:
        warnings.append(f"{label}: {dropped:,} activities {INCOMPLETE_EVENT} — left out")
        table = table.filter(complete)
        codes = codes.filter(complete)
    frame = table.drop_columns(["lead_id"]).to_pandas()
    frame.insert(
        0, "lead_id",
        pd.Categorical.from_codes(codes.to_numpy(zero_copy_only=False).astype("int32"), categories=known_ids),
    )
    try:
        frame["occurred_at"] = _to_timestamps(frame["occurred_at"], "occurred_at", label, 1)
    except DataError as error:
        if not dropped or error.row is None:
            raise
        # The row counted in the filtered table: name the one in the file.
        kept = np.flatnonzero(complete.to_numpy(zero_copy_only=False))
        raise DataError(error.message, file=error.file, column=error.column, row=int(kept[error.row - 1]) + 1,
                        hint=error.hint) from None
    return frame


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
    frame["lead_id"] = pd.Categorical(
        frame["lead_id"].astype("str"), categories=pd.Index(lead_ids.astype("str"))
    )
    frame["activity_type"] = frame["activity_type"].astype("str").astype("category")
    return frame.reset_index(drop=True)


def load_activities(location: str, config: Config, lead_ids: pd.Series, warnings: list[str]) -> pd.DataFrame:
    """Read the activities table (``lead_id``, ``occurred_at``, ``activity_type``) for the known leads.

    Parameters
    ----------
    location : str
        A resolved path (Parquet is read column-wise with pyarrow) or a SQLAlchemy URL.
    config : Config
        Gives the ``[mapping]``, separator, encoding, table/query and placeholders.
    lead_ids : Series
        The leads' ids; activities naming another id are left out.
    warnings : list of str
        Appended to when rows are left out.

    Returns
    -------
    DataFrame
        ``lead_id`` (Categorical over the leads' ids), ``occurred_at`` (naive UTC ``datetime64[ns]``),
        ``activity_type`` (Categorical).
    """
    path = Path(location)
    if not is_url(location) and path.exists() and (path.suffix.lower() in PARQUET_SUFFIXES or path.is_dir()):
        frame = _activities_parquet(path, _label(location), config, lead_ids, warnings)
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
    return frame


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


