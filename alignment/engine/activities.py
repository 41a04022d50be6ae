"""The activities as a table of the engine: read where they lie, conformed there, never all in pandas.

A Parquet file or hive-partitioned folder is scanned by the engine itself; a table the engine already holds
(``[engine] activities_table``) is used in place; anything the loader read into pandas (a CSV, an Excel sheet,
a SQLAlchemy query) is handed to the engine as an in-memory table. Either way the result is an
:class:`ActivityTable` with the canonical ``lead_id`` (string), ``occurred_at`` (timestamp, UTC) and
``activity_type`` (string), keeping only complete events of known leads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from alignment import contract
from alignment.exceptions import DataError

INCOMPLETE_EVENT = "name no known lead, or have no time or no type"


@dataclass
class ActivityTable:
    """Canonical activities in an engine, with the few facts the product asks of them computed once.

    Attributes
    ----------
    table : ibis.Table
        ``lead_id``, ``occurred_at``, ``activity_type``: complete events (of the known leads, or of any lead
        when read by the engine: the summary counts only the known leads', and the features join on them).
    backend : ibis.backends.BaseBackend
        The engine that runs it.
    source : str
        Where the events came from, for messages.
    known_leads_only : bool
        Whether the counts (``len``, the summary) are of the known leads' events only, as the loader makes
        them; False for a table of any events handed in directly.
    """

    table: Any
    backend: Any
    source: str = "activities"
    known_leads_only: bool = False
    _summary: pd.DataFrame | None = field(default=None, repr=False)

    def summary(self) -> pd.DataFrame:
        """Per raw activity type: its event count and latest time (one query, then kept)."""
        if self._summary is None:
            table = self.table
            grouped = table.group_by("activity_type").aggregate(events=table.count(),
                                                                latest=table.occurred_at.max())
            summary = self.backend.execute(grouped.order_by("activity_type"))
            summary["activity_type"] = summary["activity_type"].astype(str)
            self._summary = summary.reset_index(drop=True)
        return self._summary

    def __len__(self) -> int:
        return int(self.summary()["events"].sum())

    @property
    def activity_types(self) -> list[str]:
        """The raw activity types present, sorted."""
        return list(self.summary()["activity_type"])

    def type_counts(self) -> pd.Series:
        """Events per raw activity type, most frequent first."""
        counts = self.summary().set_index("activity_type")["events"].astype(int)
        return counts.sort_values(ascending=False, kind="stable")

    def latest(self) -> pd.Timestamp | None:
        """The latest event time (naive UTC), or None without events."""
        latest = self.summary()["latest"]
        return None if latest.isna().all() else pd.Timestamp(latest.max()).as_unit("ns").tz_localize(None)

    def to_pandas(self) -> pd.DataFrame:
        """The events as a DataFrame (small tables and tests: the point is not to need it)."""
        frame = self.backend.execute(self.table.order_by(["lead_id", "occurred_at", "activity_type"]))
        frame["occurred_at"] = pd.to_datetime(frame["occurred_at"]).astype("datetime64[ns]")
        return frame.reset_index(drop=True)


def activity_table(frame: pd.DataFrame, backend: Any, source: str = "activities",
                   known_leads_only: bool = False) -> ActivityTable:
    """Canonical activities already in pandas (what the loader read, or a test's table) as an engine table.

    Parameters
    ----------
    frame : DataFrame
        ``lead_id``, ``occurred_at`` (naive UTC or zoned), ``activity_type``.
    backend : ibis.backends.BaseBackend
    source : str, default "activities"
    known_leads_only : bool, default False
        True when ``frame`` holds only the known leads' events (the loader has filtered them).

    Returns
    -------
    ActivityTable
        Events with no lead, time or type are left out.
    """
    import ibis

    missing = [c for c in contract.ACTIVITY_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError("the activities table lacks a required column", column=missing[0],
                        hint="activities need lead_id, occurred_at and activity_type")
    occurred = frame["occurred_at"]
    if isinstance(occurred.dtype, pd.DatetimeTZDtype):
        occurred = occurred.dt.tz_convert("UTC").dt.tz_localize(None)
    if occurred.dtype.kind != "M":
        if not occurred.isna().all():
            raise DataError(f"expected timestamps, found {occurred.dtype}", column="occurred_at",
                            hint="load the data with alignment.loader.load_workspace")
        occurred = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    plain = pd.DataFrame({
        "lead_id": frame["lead_id"].astype(object).where(frame["lead_id"].notna()).astype("string"),
        "occurred_at": occurred.astype("datetime64[us]"),
        "activity_type": frame["activity_type"].astype(object).where(frame["activity_type"].notna())
                         .astype("string"),
    })
    plain = plain[plain["lead_id"].notna() & plain["occurred_at"].notna() & plain["activity_type"].notna()]
    return ActivityTable(ibis.memtable(plain.reset_index(drop=True)), backend, source, known_leads_only)


def read_activities(
    backend: Any,
    location: str,
    *,
    label: str,
    mapping: Mapping[str, str],
    lead_ids: pd.Series,
    warnings: list[str],
    engine_table: bool = False,
) -> ActivityTable:
    """Activities read by the engine itself: a Parquet file or folder, or a table the engine holds.

    Parameters
    ----------
    backend : ibis.backends.BaseBackend
    location : str
        A Parquet file, a (hive-partitioned) folder of them, or, with ``engine_table``, a table name
        (``crm.events``).
    label : str
        The source as messages name it.
    mapping : mapping
        The config's ``[mapping]`` (export header → contract column).
    lead_ids : Series
        The known leads; events of other leads are left out.
    warnings : list of str
        Appended to when events are left out.
    engine_table : bool, default False

    Returns
    -------
    ActivityTable
    """
    raw = _engine_table(backend, location, label) if engine_table else _parquet(backend, location, label)
    canonical = _canonical(raw, label, mapping, nanoseconds_as_numbers=backend.name == "pyspark"
                           and not engine_table)
    return _known_and_complete(canonical, backend, label, lead_ids, warnings)


def _parquet(backend: Any, location: str, label: str) -> Any:
    from pathlib import Path

    path = Path(location)
    source, options = str(path), {}
    if backend.name == "duckdb":
        # DuckDB can say which file and row a bad value sits in; Spark cannot (its errors name no row).
        options = {"file_row_number": True, "filename": True}
        if path.is_dir():  # Spark reads a folder as one table by itself; DuckDB is given the glob
            source, options["hive_partitioning"] = str(path / "**" / "*.parquet"), True
    try:
        return backend.read_parquet(source, **options)
    except Exception as exc:  # noqa: BLE001 - each engine raises its own error for an unreadable file
        raise DataError(f"not a readable Parquet file or folder ({str(exc).splitlines()[0]})",
                        file=label) from None


def _engine_table(backend: Any, name: str, label: str) -> Any:
    database, _, table = name.rpartition(".")
    try:
        return backend.table(table, database=database or None)
    except Exception:  # noqa: BLE001 - the engines disagree on the "no such table" error
        try:
            there = backend.list_tables(database=database or None)
        except Exception:  # noqa: BLE001
            there = []
        listed = ", ".join(sorted(there)[:10]) or "none"
        raise DataError(f"the engine has no table '{name}'", file=label,
                        hint=f"tables there: {listed}; set [engine] activities_table to one of them"
                        ) from None


def _canonical(raw: Any, label: str, mapping: Mapping[str, str], nanoseconds_as_numbers: bool = False) -> Any:
    """The three contract columns, renamed by ``[mapping]`` and cast: string, UTC timestamp, string."""
    import ibis.expr.datatypes as dt

    names = list(raw.columns)
    source_of = {target: header for header, target in mapping.items() if header in names}
    columns = {}
    for column in contract.ACTIVITY_COLUMNS:
        header = source_of.get(column, column)
        if header not in names:
            raise DataError("the activities table has no such column", file=label, column=column,
                            hint=f"columns: {', '.join(names[:10])}; map one onto '{column}' in [mapping]")
        columns[column] = raw[header]
    occurred = columns["occurred_at"]
    kind = occurred.type()
    if kind.is_timestamp() or kind.is_date():
        occurred = occurred.cast(dt.Timestamp())
    elif kind.is_string():
        occurred = occurred.try_cast(dt.Timestamp())
    elif kind.is_integer() and nanoseconds_as_numbers:
        occurred = _timestamp_micros(occurred // 1000)  # Spark reads pandas' nanosecond times as numbers
    else:
        raise DataError(f"holds {kind}, not timestamps", file=label, column="occurred_at",
                        hint="write it as a timestamp column (or dates as YYYY-MM-DD HH:MM text)")
    lead_id = columns["lead_id"]
    if lead_id.type().is_floating():
        lead_id = lead_id.cast("int64")
    where = {name: raw[name] for name in ("file_row_number", "filename") if name in names}
    return raw.select(lead_id=lead_id.cast("string"), occurred_at=occurred,
                      activity_type=columns["activity_type"].cast("string"), _text=columns["occurred_at"],
                      **where)


def _timestamp_micros(microseconds: Any) -> Any:
    """Spark's ``timestamp_micros``: Ibis's own conversion from a number knows seconds only there."""
    import ibis

    # The signature given outright: this module's annotations are strings Ibis cannot resolve.
    @ibis.udf.scalar.builtin(name="timestamp_micros", signature=(("int64",), "timestamp"))
    def timestamp_micros(value):
        ...

    return timestamp_micros(microseconds)


def _known_and_complete(canonical: Any, backend: Any, label: str, lead_ids: pd.Series,
                        warnings: list[str]) -> ActivityTable:
    import ibis

    ids = ibis.memtable(pd.DataFrame({"lead_id": pd.Series(lead_ids, dtype=object).astype(str)}))
    _no_unreadable_dates(canonical, backend, label)
    complete = (canonical.lead_id.notnull() & canonical.occurred_at.notnull()
                & canonical.activity_type.notnull())
    # One pass gives the warning and the summary; the table itself is not filtered on the known ids (the
    # features join the events onto the leads anyway, and a semi-join on every use costs a scan). Whether
    # an event is kept is a column of its own, so the engine looks each id up once, not once per aggregate.
    marked = canonical.mutate(kept=complete & canonical.lead_id.isin(ids.lead_id))
    summary = backend.execute(marked.group_by("activity_type").aggregate(
        total=marked.count(), events=marked.kept.sum(), latest=marked.occurred_at.max(where=marked.kept)))
    dropped = int(summary["total"].sum()) - int(summary["events"].fillna(0).sum())
    if dropped:
        warnings.append(f"{label}: {dropped:,} activities {INCOMPLETE_EVENT} — left out")
    summary = summary[summary["events"].fillna(0) > 0].drop(columns="total")
    summary["activity_type"] = summary["activity_type"].astype(str)
    summary = summary.sort_values("activity_type").reset_index(drop=True)
    extra = [name for name in ("_text", "file_row_number", "filename") if name in canonical.columns]
    return ActivityTable(canonical.filter(complete).drop(*extra), backend, label, known_leads_only=True,
                         _summary=summary)


def _no_unreadable_dates(canonical: Any, backend: Any, label: str) -> None:
    """Refuse text times that are not dates, naming the first (its file and row where the engine knows)."""
    from pathlib import Path

    if not canonical._text.type().is_string():
        return
    unreadable = canonical.filter(canonical._text.notnull() & canonical.occurred_at.isnull())
    order = [name for name in ("filename", "file_row_number") if name in canonical.columns]
    if order:
        unreadable = unreadable.order_by(order)
    example = backend.execute(unreadable.limit(1))
    if not len(example):
        return
    first = example.iloc[0]
    count = int(backend.execute(unreadable.count()))
    file = f"{label}/{Path(first['filename']).name}" if "filename" in first and label != Path(
        first["filename"]).name else label
    row = int(first["file_row_number"]) + 1 if "file_row_number" in first else None
    raise DataError(f"'{first['_text']}' is not a date ({count} such rows)", file=file, column="occurred_at",
                    row=row, hint="use YYYY-MM-DD (or YYYY-MM-DD HH:MM), or leave it empty")
