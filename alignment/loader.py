"""Reading real CRM exports onto the data contract.

:func:`read_table` reads one table from CSV/TSV (separator and encoding detected),
Parquet, Excel or a SQL database (a SQLAlchemy URL). :func:`load_workspace` reads
everything a workspace config names, joins the tables it declares, maps export
headers onto the contract (preset, then the config's ``[mapping]``), maps outcome
values, parses timestamps, checks the contract (pandera) and collects the
data-quality warnings. Structural problems raise one-line :class:`DataError` /
:class:`ConfigError`; data-quality problems become warnings and the rows they
concern are listed in :attr:`Workspace.excluded`.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from warnings import catch_warnings, simplefilter

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from alignment import contract
from alignment.config import DEFAULT_MISSING, Config, is_url
from alignment.exceptions import ConfigError, DataError
from alignment.presets import PRESET_CUMULATIVE, PRESET_OUTCOMES, PRESETS, preset_mapping
from alignment.wording import listing

SEPARATORS = (",", ";", "\t", "|")
SNIFF_BYTES = 1 << 16
PARQUET_SUFFIXES = (".parquet", ".pq")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
EXAMPLE_ROWS = 5
"""How many example rows a warning names."""
RARE_VARIANT_SHARE = 0.05
"""A spelling is a rare variant when it has at most this share of the rows of the spelling it resembles."""
VARIANT_SIMILARITY = 0.8
NO_TYPO_CHECK = ("owner",)
"""People's names: two reps with similar names are two reps."""
MAX_CATEGORIES_CHECKED = 500
NUMBER_PROBE = 200
INCOMPLETE_EVENT = "name no known lead, or have no time or no type"

# Name patterns for attributes no family lists (first match wins; the rest are demographics).
FAMILY_HEURISTIC = (
    ("interest", r"product|pricing|price|topic|interest|solution|use_case|plan|module|feature"),
    ("engagement", r"open|click|webinar|event|repl|respon|unsubscri|bounce|newsletter|engag|email_"),
    (
        "activity",
        r"visit|page_?view|session|login|download|form|submission|demo_request|last_activ|recency"
        r"|days_since|trial|signup|sign_up|free_",
    ),
    ("funnel", r"stage|status|lifecycle|funnel|mql|sql|sal|score|rating|grade|touch|source|channel|medium"),
)


@dataclass
class Workspace:
    """Everything loaded for one workspace config (see docs/architecture.md)."""

    leads: pd.DataFrame
    activities: pd.DataFrame | None
    truth: pd.DataFrame | None
    truth_effects: dict | None
    warnings: list[str]
    excluded: dict[str, pd.Index]
    families: dict[str, str]
    as_of: pd.Timestamp
    ignored: list[str] = field(default_factory=list)
    """Columns never used as features: the config's ``families.ignore`` plus contact details."""
    guessed_families: dict[str, str] = field(default_factory=dict)
    """The part of ``families`` assigned by the name heuristic (no family in the config lists them)."""
    notes: list[str] = field(default_factory=list)
    """What was assumed (ids numbered by row, no dates), for ``alignment validate`` and the model card."""


# --- reading one table ------------------------------------------------------------------------


def _label(location: str) -> str:
    """How a location is named in messages: a path relative to the current folder, or a URL sans password."""
    if is_url(location):
        from sqlalchemy.engine import make_url

        try:
            return make_url(location).render_as_string(hide_password=True)
        except Exception:  # noqa: BLE001 - any unparsable URL is reported as written
            return location
    relative = os.path.relpath(location)
    return relative if not relative.startswith("..") else str(location)


def detect_encoding(raw: bytes) -> str:
    """The text encoding of ``raw``: UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252/Latin-1.

    Short Western-European files are mis-guessed by statistical detectors, so a
    file that is not valid UTF-8 is read as Windows-1252 (what spreadsheet
    programs write), or Latin-1 when it holds bytes Windows-1252 leaves undefined.
    """
    if raw.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # A multi-byte sequence cut at the end of a sample is still UTF-8.
        if exc.start >= len(raw) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"
    try:
        raw.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def _looks_binary(sample: bytes, encoding: str) -> bool:
    if encoding != "utf-16" and b"\x00" in sample:
        return True
    text = sample.decode(encoding, errors="replace")
    control = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\r\n\f")
    return control > 0.01 * max(len(text), 1) or text.count("\ufffd") > 0.01 * max(len(text), 1)


def sniff_separator(text: str) -> str:
    """The separator among ``,`` ``;`` tab ``|`` that splits the first lines most consistently.

    The header's field count must repeat on the data lines (one more is allowed:
    exports that end every data line with a separator).
    """
    lines = [line for line in text.splitlines() if line.strip()][:50]
    if len(lines) > 1 and not text.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample may cut the last line
    best, best_score = ",", (-1.0, 0)
    for separator in SEPARATORS:
        counts = [len(row) for row in csv.reader(lines, delimiter=separator)]
        if not counts or counts[0] < 2:
            continue
        header = counts[0]
        consistent = sum(1 for c in counts[1:] if c in (header, header + 1)) / max(len(counts) - 1, 1)
        score = (consistent, header)
        if score > best_score:
            best, best_score = separator, score
    return best


def _parser_error(exc: Exception, label: str) -> DataError:
    message = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if match:
        expected, line, saw = match.groups()
        return DataError(
            f"this line has {saw} fields where the header has {expected}",
            file=label,
            row=int(line),
            hint="quote values that contain the separator, or pass the separator",
        )
    return DataError(
        f"cannot be read as a table: {message}", file=label, hint="export it again as CSV, Parquet or Excel"
    )


def _check_extra_fields(text: str, separator: str, label: str) -> None:
    """Refuse data lines with one more, non-empty field than the header (pandas would drop it silently)."""
    lines = text.splitlines()[:200]
    if len(lines) > 1 and not text.endswith(("\n", "\r")):
        lines = lines[:-1]
    rows = list(csv.reader(lines, delimiter=separator))
    if not rows:
        return
    width = len(rows[0])
    for number, row in enumerate(rows[1:], start=2):
        if len(row) == width + 1 and row[-1].strip():
            raise DataError(
                f"this line has {width + 1} fields where the header has {width}",
                file=label,
                row=number,
                hint="quote values that contain the separator, or pass the separator",
            )


def _check_width(n_columns: int, label: str) -> None:
    """Refuse a table wider than :data:`MAX_COLUMNS` early, before any per-column work."""
    if n_columns > MAX_COLUMNS:
        raise DataError(f"the table has {n_columns:,} columns, more than the {MAX_COLUMNS:,} alignment reads",
                        file=label, hint="export only the lead's attributes and the contract columns")


def _read_text(
    path: Path, label: str, separator: str | None, encoding: str | None, columns: list[str] | None
) -> pd.DataFrame:
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(
            "the file is empty", file=label, hint="export it again with a header row and data rows"
        )
    sample = raw[:SNIFF_BYTES]
    detected = detect_encoding(raw)
    if _looks_binary(sample, detected):
        raise DataError(
            "this is binary data, not a text table",
            file=label,
            hint="export the table as CSV (UTF-8), Parquet or Excel .xlsx",
        )
    encoding = encoding or detected
    try:
        text = sample.decode(encoding, errors="ignore")
    except LookupError:
        raise DataError(f"unknown encoding '{encoding}'", file=label, hint="use utf-8 or latin-1") from None
    separator = separator or sniff_separator(text)
    header = raw.split(b"\n", 1)[0].decode(encoding, errors="ignore")
    _check_width(header.count(separator) + 1, label)  # before parsing the whole file
    _check_extra_fields(text, separator, label)
    try:
        with catch_warnings():
            # A trailing separator on every data line is expected; real extra fields were refused above.
            simplefilter("ignore", pd.errors.ParserWarning)
            frame = pd.read_csv(
                path,
                sep=separator,
                encoding=encoding,
                dtype=str,
                keep_default_na=False,
                index_col=False,
                usecols=columns,
                skip_blank_lines=True,
            )
    except pd.errors.EmptyDataError:
        raise DataError(
            "the file is empty", file=label, hint="export it again with a header row and data rows"
        ) from None
    except UnicodeDecodeError as exc:
        raise DataError(
            f"not readable as {encoding}: {exc.reason}", file=label, hint="set source.encoding (e.g. latin-1)"
        ) from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise _parser_error(exc, label) from None
    # Every line ending in a separator leaves an empty, unnamed last column.
    empty_unnamed = [
        c
        for c in frame.columns
        if re.fullmatch(r"Unnamed: \d+", str(c)) and frame[c].str.strip().eq("").all()
    ]
    frame = frame.drop(columns=empty_unnamed)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _read_parquet(path: Path, label: str, columns: list[str] | None) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, columns=columns)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(
            f"not a readable Parquet file ({str(exc).splitlines()[0]})",
            file=label,
            hint="write it again with pandas.DataFrame.to_parquet or export CSV",
        ) from None
    return table.to_pandas()


def _read_excel(path: Path, label: str, sheet: str | int | None) -> pd.DataFrame:
    from openpyxl import load_workbook

    try:
        names = load_workbook(path, read_only=True).sheetnames
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for a damaged workbook
        raise DataError(
            f"not a readable Excel workbook ({type(exc).__name__})",
            file=label,
            hint="save it again as .xlsx, or export CSV",
        ) from None
    if isinstance(sheet, str) and sheet not in names:
        close = difflib.get_close_matches(sheet, names, n=1)
        raise DataError(
            f"no sheet named '{sheet}'",
            file=label,
            hint=f"did you mean '{close[0]}'?" if close else f"sheets: {', '.join(names)}",
        )
    if isinstance(sheet, int) and not 0 <= sheet < len(names):
        raise DataError(
            f"no sheet number {sheet} (the workbook has {len(names)})",
            file=label,
            hint="sheets are numbered from 0",
        )
    # dtype=object keeps text cells as written ("01234" stays text); _clean infers numbers after.
    frame = pd.read_excel(path, sheet_name=sheet if sheet is not None else 0, engine="openpyxl", dtype=object)
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.attrs["sheets"] = names
    frame.attrs["sheet"] = sheet if isinstance(sheet, str) else names[sheet or 0]
    return frame.drop(
        columns=[c for c in frame.columns if re.fullmatch(r"Unnamed: \d+", c) and frame[c].isna().all()]
    )


def _sqlite_file(url: str) -> str | None:
    match = re.match(r"sqlite(\+\w+)?:///(.+)$", url)
    return None if not match or match.group(2).startswith(":memory:") else match.group(2).split("?")[0]


MAX_COLUMNS = 2_000
"""Widest table read: a CRM export of leads has tens to a few hundred columns; 100,000 is not an export."""

SQL_DIALECTS = {"sqlite": "sqlite", "postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql",
                "mssql": "tsql", "oracle": "oracle", "snowflake": "snowflake", "bigquery": "bigquery"}
"""SQLAlchemy backend name -> sqlglot dialect used to check that a configured query only reads."""
WRITING_NODES = ("Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "TruncateTable", "Command",
                 "Grant", "Copy")


def check_read_query(query: str, url: str, label: str) -> None:
    """Refuse, in one line, a configured query that is not one SELECT (or WITH ... SELECT) that only reads.

    The database connection is read-only as well (:func:`read_only_engine`); this check says *why* before
    the database does, and covers backends without a read-only mode.
    """
    import sqlglot
    from sqlglot import exp

    backend = url.split(":", 1)[0].split("+", 1)[0].lower()
    try:
        statements = [s for s in sqlglot.parse(query, dialect=SQL_DIALECTS.get(backend)) if s is not None]
    except sqlglot.errors.SqlglotError as exc:
        reason = " ".join(str(exc).split())[:120]
        raise DataError(f"the query could not be read as SQL ({reason})", file=label,
                        hint="give one SELECT statement") from None
    writing = tuple(getattr(exp, name) for name in WRITING_NODES if hasattr(exp, name))
    if (len(statements) != 1 or not isinstance(statements[0], (exp.Select, exp.SetOperation))
            or statements[0].args.get("into") is not None or any(statements[0].find_all(*writing))):
        what = "several statements" if len(statements) > 1 else "a statement that is not a plain read"
        raise DataError(f"the query is {what}: a source query may only read", file=label,
                        hint="give one SELECT (or WITH ... SELECT) statement; alignment never writes to a "
                             "database")


def read_only_engine(url: str, label: str):
    """A SQLAlchemy engine whose connections cannot write (SQLite ``mode=ro``; PostgreSQL and MySQL
    read-only transactions)."""
    import sqlite3

    from sqlalchemy import create_engine, event
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    database = _sqlite_file(url)
    try:
        if database is not None:
            uri = f"{Path(database).resolve().as_uri()}?mode=ro"
            return create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True))
        engine = create_engine(url)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise DataError(
            f"not a database URL that can be opened ({exc})",
            file=label,
            hint="e.g. sqlite:///crm.db or postgresql+psycopg://user:pw@host/db",
        ) from None
    statement = {"postgresql": "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
                 "mysql": "SET SESSION TRANSACTION READ ONLY",
                 "mariadb": "SET SESSION TRANSACTION READ ONLY"}.get(engine.dialect.name)
    if statement:
        @event.listens_for(engine, "connect")
        def _read_only(dbapi_connection, _record):  # every new connection, before any query
            cursor = dbapi_connection.cursor()
            cursor.execute(statement)
            cursor.close()
            dbapi_connection.commit()
    return engine


def _read_sql(
    url: str, label: str, table: str | None, query: str | None, columns: list[str] | None
) -> pd.DataFrame:
    from sqlalchemy import inspect, text
    from sqlalchemy.exc import SQLAlchemyError

    database = _sqlite_file(url)
    if database is not None and not Path(database).is_file():
        # SQLite would silently create an empty database file.
        raise DataError("database file not found", file=database, hint="check the path in the sqlite:/// URL")
    if not table and not query:
        raise DataError(
            "a database source needs a table or a query",
            file=label,
            hint="set source.leads_table (or leads_query) in the config",
        )
    if query:
        check_read_query(query, url, label)
    engine = read_only_engine(url, label)
    try:
        with engine.connect() as connection:
            if query:
                frame = pd.read_sql_query(text(query), connection)
            else:
                schema, _, name = table.rpartition(".")
                names = inspect(connection).get_table_names(schema=schema or None)
                if name not in names:
                    close = difflib.get_close_matches(name, names, n=1)
                    raise DataError(
                        f"no table '{table}' in the database",
                        file=label,
                        hint=f"did you mean '{close[0]}'?"
                        if close
                        else f"tables: {', '.join(names) or 'none'}",
                    )
                frame = pd.read_sql_table(name, connection, schema=schema or None, columns=columns)
    except (SQLAlchemyError, pd.errors.DatabaseError) as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, SQLAlchemyError) else exc
        reason = str(getattr(cause, "orig", None) or cause).strip().splitlines()[0]
        raise DataError(
            f"the database refused: {reason}",
            file=label,
            hint="check the URL, the table or query, and that the server is running",
        ) from None
    finally:
        engine.dispose()
    return frame


def _is_text(series: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(series.dtype) or series.dtype == object


def _clean(frame: pd.DataFrame, missing_values: list[str]) -> pd.DataFrame:
    """Placeholders to missing (case and surrounding spaces ignored); all-number text columns to numbers."""
    placeholders = {str(v).strip().lower() for v in missing_values}
    cleaned = {}
    for column in frame.columns:
        series = frame[column]
        if not _is_text(series) or isinstance(series.dtype, pd.CategoricalDtype):
            cleaned[column] = series
            continue
        if series.dtype == object:  # mixed cells (Excel): only the text ones are cleaned
            is_text = series.map(lambda value: isinstance(value, str)).astype(bool)
            text = series.where(is_text).astype("str").str.strip()
            series = series.mask(is_text, text).mask(is_text & text.str.lower().isin(placeholders))
            kinds = set(series.dropna().map(type))
            if kinds <= {str}:
                series = series.astype("str")
            elif kinds <= {int, float, np.int64, np.float64}:
                series = pd.to_numeric(series)
        else:
            series = series.str.strip()
            series = series.mask(series.str.lower().isin(placeholders))
        present = series.dropna()
        if len(present) and pd.api.types.is_string_dtype(series.dtype) and series.dtype != object:
            # A failed conversion is slow on long text columns: try the first values before all of them.
            if pd.to_numeric(present.iloc[:NUMBER_PROBE], errors="coerce").isna().any():
                cleaned[column] = series
                continue
            numbers = pd.to_numeric(series, errors="coerce")
            # Leading zeros mark ids and postcodes: they stay text.
            if numbers.notna().sum() == len(present) and not present.str.match(r"^[+-]?0\d").any():
                series = numbers
        cleaned[column] = series
    return pd.DataFrame(cleaned, index=frame.index)


def read_table(
    location: str | os.PathLike,
    *,
    separator: str | None = None,
    encoding: str | None = None,
    sheet: str | int | None = None,
    table: str | None = None,
    query: str | None = None,
    missing_values: list[str] | None = None,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """Read one table from a CSV/TSV, Parquet or Excel file, or a SQL database.

    Parameters
    ----------
    location : str or PathLike
        A file path, or a SQLAlchemy URL (``sqlite:///crm.db``, ``postgresql+psycopg://...``).
    separator : str, optional
        CSV separator; default: detected among ``,`` ``;`` tab ``|``.
    encoding : str, optional
        Text encoding; default: detected (UTF-8 with or without BOM, else Windows-1252/Latin-1).
    sheet : str or int, optional
        Excel sheet name or 0-based number (default: the first).
    table, query : str, optional
        For a database: the table to read, or a SQL query.
    missing_values : list of str, optional
        Placeholders meaning missing (compared ignoring case and surrounding spaces);
        default: :data:`alignment.config.DEFAULT_MISSING`.
    columns : list of str, optional
        Read only these columns (Parquet, CSV and database tables).

    Returns
    -------
    DataFrame
        The raw table (export headers, not yet mapped), index = 0-based data row.
        ``attrs["source"]`` names it and ``attrs["row_offset"]`` turns an index into
        the row number a person sees (header = row 1 in CSV and Excel).

    Raises
    ------
    DataError
        The file is missing, empty, binary, has a header only, or cannot be parsed.
    ValueError
        A parameter is malformed (a separator of several characters, both a table and a query).
    """
    if separator is not None and len(separator) != 1:
        raise ValueError(f"separator must be one character, got {separator!r}")
    if table and query:
        raise ValueError("give a table or a query, not both")
    if sheet is not None and not isinstance(sheet, str | int):
        raise ValueError(f"sheet must be a name or a 0-based number, got {sheet!r}")
    location = str(location)
    label = _label(location)
    workbook: dict = {}
    if is_url(location):
        frame = _read_sql(location, label, table, query, columns)
        row_offset = 1
    else:
        path = Path(location)
        if not path.exists():
            raise DataError("file not found", file=label, hint="check the path (relative to the config file)")
        suffix = path.suffix.lower()
        head = b"" if path.is_dir() else path.open("rb").read(4)
        if path.is_dir() or suffix in PARQUET_SUFFIXES or head == b"PAR1":
            frame, row_offset = _read_parquet(path, label, columns), 1
        elif suffix in EXCEL_SUFFIXES or head.startswith(b"PK\x03\x04"):
            frame, row_offset = _read_excel(path, label, sheet), 2
            workbook = {key: frame.attrs[key] for key in ("sheets", "sheet")}
        elif suffix == ".xls":
            raise DataError(
                "old .xls workbooks are not supported", file=label, hint="save it as .xlsx or CSV"
            )
        else:
            frame, row_offset = _read_text(path, label, separator, encoding, columns), 2
    if frame.shape[1] == 0:
        raise DataError("the file has no columns", file=label, hint="export it again with a header row")
    _check_width(frame.shape[1], label)
    if len(frame) == 0:
        raise DataError(
            "there is a header but no data rows",
            file=label,
            hint="export again including the rows (check the export's filters)",
        )
    frame = _clean(
        frame.reset_index(drop=True), DEFAULT_MISSING if missing_values is None else missing_values
    )
    frame.attrs.update(source=label, row_offset=row_offset, **workbook)
    return frame


# --- from raw table to the contract -----------------------------------------------------------


def _rows(index: pd.Index, offset: int, limit: int = EXAMPLE_ROWS) -> str:
    shown = ", ".join(str(int(i) + offset) for i in index[:limit])
    return shown + (", …" if len(index) > limit else "")


def _as_key(series: pd.Series) -> pd.Series:
    """Ids and join keys as text ("17", not "17.0")."""
    if pd.api.types.is_float_dtype(series.dtype):
        present = series.dropna()
        if (present == np.floor(present)).all():
            series = series.astype("Int64")
    return series.astype("str").str.strip().where(series.notna())


def _squeezed(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", text.lower())


def _unmatched_keys(unmatched: pd.Series, other: pd.Series, limit: int = 3) -> str:
    """The commonest unmatched key values with their counts, each with the closest spelling over there."""
    counts = unmatched.dropna().value_counts()
    if counts.empty:
        return ": their key is empty"
    others = [str(v) for v in other.dropna().unique()]
    squeezed = {_squeezed(v): v for v in others}
    shown = []
    for value, count in counts.head(limit).items():
        close = squeezed.get(_squeezed(str(value)))
        if close is None:
            found = difflib.get_close_matches(str(value), others, n=1, cutoff=0.75)
            close = found[0] if found else None
        shown.append(f"'{value}' ({count:,})" + (f", closest there: '{close}'" if close else ""))
    more = f"; and {len(counts) - limit:,} more values" if len(counts) > limit else ""
    return "; unmatched: " + "; ".join(shown) + more


def apply_joins(frame: pd.DataFrame, config: Config, label: str, warnings: list[str], *,
                strict: bool = True) -> pd.DataFrame:
    """Join the config's ``[[source.joins]]`` lookup tables onto the leads (keys as text).

    ``strict`` (a history): a key that matches no row at all is an error. New leads to score pass False.
    """
    offset = frame.attrs.get("row_offset", 2)  # 1 for Parquet and databases: no header row
    for join in config.source.joins:
        location = resolve_location(config, join.path)
        right = read_table(
            location, table=join.table, query=join.query, missing_values=config.source.missing_values
        )
        right_label = right.attrs["source"]
        keys = [join.on] if isinstance(join.on, str) else list(join.on)
        for key in keys:
            for side, side_label in ((frame, label), (right, right_label)):
                if key not in side.columns:
                    close = difflib.get_close_matches(key, [str(c) for c in side.columns], n=1)
                    raise DataError(
                        f"the join key '{key}' is not a column here",
                        file=side_label,
                        column=key,
                        hint=f"did you mean '{close[0]}'?" if close else "fix source.joins.on",
                    )
        left = frame.assign(**{k: _as_key(frame[k]) for k in keys}, __row__=frame.index)
        right = right.assign(**{k: _as_key(right[k]) for k in keys})
        duplicated = right.duplicated(keys, keep=False)
        if duplicated.any():
            first = right.index[duplicated][0]
            value = ", ".join(str(right.at[first, k]) for k in keys)
            raise DataError(
                f"key '{value}' is on {int(duplicated.sum())} rows, so joining would duplicate leads",
                file=right_label,
                column=keys[0],
                row=int(first) + right.attrs["row_offset"],
                hint="keep one row per key in the joined table",
            )
        matched = left.set_index(keys).index.isin(right.set_index(keys).index)
        keyed = left[keys].notna().all(axis=1).to_numpy()
        # No match at all is a wrong key (or ids written two ways) in a history; in a small batch of new
        # leads, or when every key is blank, it is only that: a warning below.
        if not matched.any() and keyed.any() and strict:
            raise DataError(
                f"the join key matches no row of {right_label}",
                file=label,
                column=keys[0],
                hint="check both tables use the same ids (e.g. 'A-17' in one and '17' in the other)",
            )
        if not matched.all():
            unmatched = left.index[~matched]
            consequence = "dropped (inner join)" if join.how == "inner" else "kept with empty joined columns"
            warnings.append(
                f"{label}: {len(unmatched):,} leads (e.g. rows {_rows(unmatched, offset)}) have no match "
                f"in {right_label} on '{', '.join(keys)}' — {consequence}"
                + _unmatched_keys(left.loc[~matched, keys[0]], right[keys[0]])
            )
        merged = left.merge(right, how=join.how, on=keys, suffixes=("", f"_{Path(location).stem}"))
        frame = merged.set_index("__row__").rename_axis(None)
    return frame


def _activity_headers(config: Config) -> set[str]:
    """The activities table's own headers (a [mapping] entry may be meant for it)."""
    if not config.source.activities:
        return set()
    location = resolve_location(config, config.source.activities)
    path = Path(location)
    try:
        if not is_url(location) and (path.suffix.lower() in PARQUET_SUFFIXES or path.is_dir()):
            import pyarrow.parquet as pq

            return set(pq.read_schema(path).names)
        source = config.source
        if not is_url(location) and path.suffix.lower() not in EXCEL_SUFFIXES:
            sample = path.open("rb").read(SNIFF_BYTES)
            if not sample.startswith((b"PAR1", b"PK\x03\x04")):
                # The header line only: the whole table (millions of events) is read once, when it is loaded.
                encoding = source.encoding or detect_encoding(sample)
                text = sample.decode(encoding, errors="ignore")
                header = pd.read_csv(
                    path, sep=source.separator or sniff_separator(text), encoding=encoding, nrows=0
                )
                return {str(c).strip() for c in header.columns}
        return set(
            read_table(
                location,
                separator=source.separator,
                encoding=source.encoding,
                table=source.activities_table,
                query=source.activities_query,
            ).columns
        )
    except (DataError, OSError, ValueError, LookupError):
        return set()  # its own problems are reported when it is loaded


SCORING_NEEDS_NOT = frozenset(contract.LEAD_COLUMNS) - {"lead_id"}
"""Contract columns new leads to score may lack though the config maps them (the outcome, its dates...)."""


def apply_mapping(frame: pd.DataFrame, config: Config, label: str, *, history: bool = True) -> pd.DataFrame:
    """Rename export headers to contract columns: the preset, then the config ``[mapping]`` (which wins).

    Contract columns spelled another way (``Created At``) are recognised too. A ``[mapping]``
    header in neither this table nor the activities table, or two columns ending up with one
    name, raise :class:`DataError`. New leads to score (``history=False``) may lack the headers the
    config maps onto the outcome, stage dates and other contract columns: they need only their attributes.
    """
    headers = [str(c) for c in frame.columns]
    absent = [h for h in config.mapping if h not in frame.columns
              and (history or config.mapping[h] not in SCORING_NEEDS_NOT)]
    if absent:
        elsewhere = _activity_headers(config)
        for header in absent:
            if header in elsewhere:
                continue
            close = difflib.get_close_matches(header, headers, n=1)
            raise DataError(
                f"the config [mapping] names '{header}', which is not a column of this table",
                file=label,
                column=header,
                hint=f"did you mean '{close[0]}'?" if close else f"columns: {', '.join(headers[:12])}",
            )
    own = {h: t for h, t in config.mapping.items() if h in frame.columns}
    mapping = {
        h: t
        for h, t in preset_mapping(config.source.preset, headers).items()
        if h not in own and t not in own.values()
    }
    mapping.update(own)
    renamed = frame.rename(columns=mapping)
    # Contract columns written another way ("Created At", "OUTCOME") are recognised.
    taken = set(renamed.columns)
    spelled = {
        c: contract.normalise_header(c)
        for c in renamed.columns
        if c not in contract.LEAD_COLUMNS and contract.normalise_header(c) in contract.LEAD_COLUMNS
    }
    spelled = {c: n for c, n in spelled.items() if n not in taken}
    renamed = renamed.rename(columns=spelled)
    duplicated = renamed.columns[renamed.columns.duplicated()].unique()
    if len(duplicated):
        name = duplicated[0]
        sources = [h for h, n in zip(frame.columns, renamed.columns, strict=True) if n == name]
        raise DataError(
            f"{' and '.join(repr(s) for s in sources)} both become '{name}'",
            file=label,
            column=name,
            hint="map only one of them onto it in the config [mapping]",
        )
    return renamed


def _outcome_lookup(config: Config) -> dict[str, str]:
    lookup: dict[str, str] = {}
    extra = PRESET_OUTCOMES.get(config.source.preset, {})
    for category in contract.OUTCOMES:
        for value in [*getattr(config.outcome, category), *extra.get(category, [])]:
            key = str(value).strip().lower()
            if lookup.get(key, category) != category:
                raise ConfigError(
                    f"outcome value '{value}' is listed as both {lookup[key]} and {category}",
                    file=_label(str(config.path)) if config.path else None,
                    hint="keep it in one of the [outcome] lists",
                )
            lookup[key] = category
    return lookup


def _map_outcome(
    raw: pd.Series, config: Config, label: str, offset: int, *, history: bool = True
) -> pd.Series:
    lookup = _outcome_lookup(config)
    if pd.api.types.is_bool_dtype(raw.dtype):
        keys = raw.map({True: "true", False: "false"})
    elif pd.api.types.is_numeric_dtype(raw.dtype):
        keys = _as_key(raw)
    else:
        keys = raw.astype("str").str.strip().str.lower()
    mapped = keys.map(lookup)
    if "" in lookup:
        mapped = mapped.mask(keys.isna(), lookup[""])
    blank = keys.isna() & mapped.isna()
    if blank.any():
        rows = raw.index[blank]
        raise DataError(
            f"{int(blank.sum())} leads have no outcome (rows {_rows(rows, offset)})",
            file=label,
            column="outcome",
            row=int(rows[0]) + offset,
            hint='fill them in, or add "" to [outcome] open to count them as open',
        )
    unmapped = mapped.isna()
    if unmapped.any():
        counts = raw[unmapped].astype("str").value_counts()
        shown = listing(f"'{v}' ({n:,} rows)" for v, n in counts.items())
        first = raw.index[unmapped][0]
        raise DataError(
            f"outcome values not mapped to won/lost/open: {shown}",
            file=label,
            column="outcome",
            row=int(first) + offset,
            hint="add each to the won, lost or open list under [outcome] in the config",
        )
    outcome = pd.Series(pd.Categorical(mapped, dtype=contract.OUTCOME_DTYPE), index=raw.index)
    if not history:
        return outcome
    counts = outcome.value_counts()
    present = counts[counts > 0]
    if len(present) == 1:
        raise DataError(
            f"every lead has outcome '{present.index[0]}', so there is nothing to tell apart",
            file=label,
            column="outcome",
            hint="export both won and not-won leads, or check the [outcome] lists",
        )
    if counts["won"] == 0:
        values = ", ".join(f"'{v}'" for v in raw.astype("str").value_counts().index[:6])
        raise DataError(
            f"no lead is won (values seen: {values})",
            file=label,
            column="outcome",
            hint="add the value that means won to [outcome] won",
        )
    return outcome


def _day_first(text: pd.Series, column: str, label: str, offset: int) -> tuple[pd.Series, bool]:
    """Which dates are numeric with the year last (``03/04/2024``), and whether the column puts the day first.

    Parsed one by one, ``15/03/2024`` is read day first but ``03/04/2024`` month first, so every
    European date with a day up to 12 would silently swap. A first field above 12 anywhere means day
    first; a second field above 12 means month first; both in one column is refused. Only these rows
    take the column's order (``2024/03/04`` stays year-month-day).
    """
    fields = text.str.extract(r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-]\d{2,4}\b")
    first, second = (pd.to_numeric(fields[i]) for i in (0, 1))
    day_first, month_first = first > 12, second > 12
    if day_first.any() and month_first.any():
        rows = (text.index[day_first.to_numpy()][0], text.index[month_first.to_numpy()][0])
        raise DataError(
            f"mixes day-first ('{text[rows[0]]}') and month-first ('{text[rows[1]]}') dates",
            file=label,
            column=column,
            row=int(max(rows)) + offset,
            hint="export every date in one order, best YYYY-MM-DD",
        )
    return first.notna(), bool(day_first.any())


def _to_timestamps(raw: pd.Series, column: str, label: str, offset: int) -> pd.Series:
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        parsed = raw.dt.tz_convert("UTC").dt.tz_localize(None)
    elif pd.api.types.is_datetime64_dtype(raw.dtype):
        parsed = raw
    elif raw.isna().all():
        parsed = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    elif pd.api.types.is_numeric_dtype(raw.dtype):
        first = raw.first_valid_index()
        raise DataError(
            f"holds numbers ({raw[first]}), not dates",
            file=label,
            column=column,
            row=int(first) + offset,
            hint="export dates as YYYY-MM-DD or YYYY-MM-DD HH:MM",
        )
    else:
        text = raw.astype("str") if raw.dtype == object else raw
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
        # pandas reads "now" and "today" as the clock time: never a recorded date.
        clock = text.str.strip().str.lower().isin(["now", "today"])
        parsed = parsed.mask(clock)
        retry = text.notna() & parsed.isna() & ~clock
        if retry.any():
            year_last, day_first = _day_first(text[retry], column, label, offset)
            for chosen, dayfirst in ((year_last, day_first), (~year_last, False)):
                rows = chosen[chosen].index
                if len(rows):
                    again = pd.to_datetime(
                        text[rows], format="mixed", dayfirst=dayfirst, errors="coerce", utc=True
                    )
                    parsed = parsed.mask(parsed.index.isin(rows), again)
        bad = text.notna() & parsed.isna()
        if bad.any():
            first = raw.index[bad][0]
            raise DataError(
                f"'{raw[first]}' is not a date ({int(bad.sum())} such rows)",
                file=label,
                column=column,
                row=int(first) + offset,
                hint="use YYYY-MM-DD (or YYYY-MM-DD HH:MM), or leave it empty",
            )
        parsed = parsed.dt.tz_localize(None)
    # A typed year ("3024-01-01") parses at a coarser unit but overflows the contract's nanoseconds.
    beyond = parsed.notna() & ((parsed < pd.Timestamp.min) | (parsed > pd.Timestamp.max))
    if beyond.any():
        first = raw.index[beyond.to_numpy()][0]
        raise DataError(
            f"'{raw[first]}' is outside the dates a CRM can hold ({int(beyond.sum())} such rows)",
            file=label,
            column=column,
            row=int(first) + offset,
            hint="correct the year, or leave it empty",
        )
    return parsed.astype("datetime64[ns]")


def _to_float(raw: pd.Series, column: str, label: str, offset: int) -> pd.Series:
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        return raw.astype(float)
    text = raw.astype("str").str.replace(r"[\s$€£]", "", regex=True)
    # "1.234,56" and "12,5" (European exports) use a decimal comma; "1,234.56" and "1,234" a thousands comma.
    # Decided for the whole column: beside "12,50", "1.500" is one thousand five hundred, not one and a half.
    decimal_comma = text.str.contains(r",\d{1,2}$") | text.str.contains(r"\.\d{3},")
    decimal_point = text.str.contains(r",\d{3}\.\d+$")
    if decimal_comma.any() and decimal_point.any():
        rows = tuple(raw.index[flag.to_numpy(dtype=bool)][0] for flag in (decimal_comma, decimal_point))
        raise DataError(
            f"mixes decimal commas ('{raw[rows[0]]}') and decimal points ('{raw[rows[1]]}')",
            file=label,
            column=column,
            row=int(max(rows)) + offset,
            hint="export every amount in one number format",
        )
    if decimal_comma.any():
        text = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    numbers = pd.to_numeric(text.str.replace(",", "", regex=False), errors="coerce")
    bad = raw.notna() & numbers.isna()
    if bad.any():
        first = raw.index[bad][0]
        raise DataError(
            f"'{raw[first]}' is not a number",
            file=label,
            column=column,
            row=int(first) + offset,
            hint="export plain numbers (no units), or leave it empty",
        )
    return numbers.astype(float)


def _lead_ids(leads: pd.DataFrame, label: str, offset: int) -> pd.Series:
    if "lead_id" not in leads.columns:
        return pd.Series((leads.index + 1).astype("str"), index=leads.index, dtype="str")
    ids = _as_key(leads["lead_id"])
    missing = ids.isna()
    if missing.any():
        rows = leads.index[missing]
        raise DataError(
            f"{int(missing.sum())} leads have no id (rows {_rows(rows, offset)})",
            file=label,
            column="lead_id",
            row=int(rows[0]) + offset,
            hint="fill in the ids, or unmap the id column to number the rows instead",
        )
    duplicated = ids.duplicated(keep=False)
    if duplicated.any():
        rows = leads.index[duplicated]
        first_id = ids[rows[0]]
        same = rows[ids[rows] == first_id]
        raise DataError(
            f"lead id '{first_id}' appears {len(same)} times (rows {_rows(same, offset)}); "
            f"{int(ids.duplicated().sum())} duplicate ids in all",
            file=label,
            column="lead_id",
            row=int(same[1]) + offset,
            hint="every lead needs its own id: remove the duplicate rows",
        )
    return ids.astype("str")


def is_misspelling(rare: str, common: str) -> bool:
    """True when ``rare`` differs from ``common`` by a typo in one word (``Sofware`` / ``Software``).

    The words must line up one for one and differ in exactly one, of at least 4 letters and
    no digits, with a :class:`difflib.SequenceMatcher` ratio of at least ``VARIANT_SIMILARITY``.
    So ``Webinar A`` / ``Webinar B`` and ``Webinar 2024-03`` / ``Webinar 2024-04`` are
    different labels, not typos.
    """
    rare_words, common_words = rare.lower().split(), common.lower().split()
    if len(rare_words) != len(common_words):
        return False
    differing = [(a, b) for a, b in zip(rare_words, common_words, strict=True) if a != b]
    if len(differing) != 1:
        return False
    a, b = differing[0]
    if min(len(a), len(b)) < 4 or any(ch.isdigit() for ch in a + b):
        return False
    return difflib.SequenceMatcher(None, a, b).ratio() >= VARIANT_SIMILARITY


def _unify_spellings(
    leads: pd.DataFrame,
    columns: list[str],
    label: str,
    offset: int,
    warnings: list[str],
    excluded: dict[str, pd.Index],
) -> pd.DataFrame:
    """Case/space/punctuation variants are merged into the commonest spelling; rare typos are flagged."""
    flagged: list[pd.Index] = []
    for column in columns:
        series = leads[column]
        if not pd.api.types.is_string_dtype(series.dtype):
            continue
        counts = series.value_counts()
        if len(counts) < 2 or len(counts) > MAX_CATEGORIES_CHECKED:
            continue
        folded = counts.index.str.lower().str.replace(r"[\s\-_./]+", "", regex=True)
        canonical = {}
        for _, group in counts.groupby(folded.values, sort=False):
            if len(group) > 1:
                keep = group.idxmax()
                canonical.update({variant: keep for variant in group.index if variant != keep})
        if canonical:
            n_rows = int(series.isin(list(canonical)).sum())
            merged = "; ".join(f"'{a}' → '{b}'" for a, b in list(canonical.items())[:4])
            warnings.append(
                f"{label}, column '{column}': {n_rows:,} value(s) differing only in case, spaces or "
                f"punctuation were merged into the commonest spelling ({merged})"
            )
            series = series.replace(canonical)
            counts = series.value_counts()
        if column in NO_TYPO_CHECK:
            leads[column] = series
            continue
        for value, count in counts.items():
            common = [v for v, n in counts.items() if n * RARE_VARIANT_SHARE >= count and v != value]
            target = next((v for v in common if is_misspelling(value, v)), None)
            if target is None:
                continue
            rows = leads.index[series == value]
            warnings.append(
                f"{label}, column '{column}': '{value}' ({len(rows):,} row(s), e.g. rows "
                f"{_rows(rows, offset)}) looks like a misspelling of '{target}' ({counts[target]:,} "
                "rows) — counted as missing there; correct the spelling in the CRM"
            )
            series = series.mask(series == value)
            flagged.append(rows)
        leads[column] = series
    if flagged:
        union = flagged[0].append(flagged[1:]).unique()
        excluded["spelling_variant"] = pd.Index(leads.loc[union, "lead_id"], name=None)
    return leads


def _quality(
    leads: pd.DataFrame, label: str, offset: int, warnings: list[str], excluded: dict[str, pd.Index]
) -> pd.DataFrame:
    for check in contract.QUALITY_CHECKS:
        rows = contract.failing_rows(leads, check)
        if len(rows) == 0:
            continue
        examples = leads.loc[rows[:3], "lead_id"].tolist()
        warnings.append(
            f"{label}: {len(rows):,} leads with {check.describe} (e.g. rows {_rows(rows, offset)}; "
            f"lead ids {', '.join(examples)}) — {check.consequence}"
        )
        excluded[check.reason] = pd.Index(leads.loc[rows, "lead_id"], name=None)
        if check.reason == "negative_amount":
            leads.loc[rows, "amount"] = np.nan
    return leads


def guess_family(column: str) -> str:
    """The family an attribute no config family lists goes to, by its name (see docs/data-contract.md)."""
    name = contract.normalise_header(column)
    for family, pattern in FAMILY_HEURISTIC:
        if re.search(pattern, name):
            return family
    return "demographics"


NAME_COLUMNS = ("source", "campaign")
"""Contract columns that hold names: plain numbers under such a name are most likely something else."""


def _warn_numbers_as_names(values: pd.Series, column: str, label: str, warnings: list[str]) -> None:
    """Warn when a contract column that holds names (a campaign, a source) holds only numbers."""
    if column not in NAME_COLUMNS or not pd.api.types.is_numeric_dtype(values):
        return
    shown = ", ".join(_as_key(pd.Series(np.sort(values.dropna().unique())[:4])))
    warnings.append(
        f"{label}: column '{column}' holds numbers ({shown}, …), not {column} names: it is taken as the "
        f"{column} and banded as text; if it is a count or a code, map it onto another name in the config "
        f"[mapping] (e.g. \"{column}\" = \"{column}_count\")")


OUTCOME_NAME_HINT = re.compile(r"stage|status|outcome|result|won|convert|^y$|target|label|subscribed|closed",
                               re.IGNORECASE)


def outcome_candidates(leads: pd.DataFrame, config: Config) -> list[str]:
    """Columns that could be the outcome, best first: by how many of their values the [outcome] lists know
    (a bare yes/no column is one), then by a name that reads like an outcome."""
    lookup = _outcome_lookup(config)
    ranked = []
    for column in leads.columns:
        values = leads[column].dropna()
        if values.empty or values.nunique() > 20:
            continue
        keys = _as_key(values) if pd.api.types.is_numeric_dtype(values) else values.astype("str")
        keys = keys.str.strip()
        known = float(keys.str.lower().isin(lookup).mean())
        named = bool(OUTCOME_NAME_HINT.search(str(column)))
        if known >= 0.9 or named:
            ranked.append((known >= 0.9 and keys.nunique() >= 2, named, known, str(column)))
    ranked.sort(key=lambda item: (not item[0], not item[1], -item[2]))
    return [column for *_, column in ranked]


def conform_leads(
    raw: pd.DataFrame,
    config: Config,
    label: str | None = None,
    row_offset: int | None = None,
    *,
    history: bool = True,
) -> tuple[pd.DataFrame, list[str], dict[str, pd.Index]]:
    """Map a raw leads table onto the contract.

    Parameters
    ----------
    raw : DataFrame
        From :func:`read_table` (joins already applied), export headers.
    config : Config
        Gives the preset, mapping, outcome lists and ignored columns.
    label : str, optional
        The name of the source in messages (default ``raw.attrs["source"]``).
    row_offset : int, optional
        Index -> row number a person sees (default ``raw.attrs["row_offset"]``, else 2).
    history : bool
        True (default) for a history to learn from: an outcome column with won and not-won
        leads is required. False for new leads to score: a missing outcome means all open,
        any mix of outcomes (all open, say) is accepted, and spellings are not unified (that
        would make a lead's values depend on the other leads of the file).

    Returns
    -------
    leads : DataFrame
        Canonical columns first, then attributes; validated against :func:`contract.leads_schema`.
    warnings : list of str
    excluded : dict of str to Index
        Lead ids kept out of what they would distort, by reason.
    """
    label = label or raw.attrs.get("source", "leads")
    offset = raw.attrs.get("row_offset", 2) if row_offset is None else row_offset
    warnings: list[str] = []
    excluded: dict[str, pd.Index] = {}
    leads = apply_mapping(raw, config, label, history=history)
    exported_outcome = "outcome" in leads.columns
    if not exported_outcome and not history:
        # New leads without an outcome column: all open, already canonical.
        leads["outcome"] = pd.Categorical(["open"] * len(leads), dtype=contract.OUTCOME_DTYPE)
    if "outcome" not in leads.columns:
        candidates = outcome_candidates(leads, config)
        hint = (
            f"map one of {', '.join(repr(c) for c in candidates[:3])} onto outcome in [mapping]"
            if candidates
            else "map the column that says won/lost onto outcome in the config [mapping]"
        )
        sheets = raw.attrs.get("sheets") or []
        if len(sheets) > 1:
            names = listing(repr(s) for s in sheets)
            hint = (f"this is sheet '{raw.attrs.get('sheet')}' of the workbook's {names}: set source.sheet "
                    "to the one holding the leads, or " + hint)
        raise DataError(
            "there is no outcome column",
            file=label,
            column="outcome",
            hint=hint + f", or use a preset (--preset {'|'.join(PRESETS)})",
        )
    if exported_outcome:
        leads["outcome"] = _map_outcome(leads["outcome"], config, label, offset, history=history)
    numbered = "lead_id" not in leads.columns
    leads["lead_id"] = _lead_ids(leads, label, offset)
    for column in contract.TIMESTAMP_COLUMNS:
        if column in leads.columns:
            leads[column] = _to_timestamps(leads[column], column, label, offset)
    for column in contract.NUMERIC_COLUMNS:
        if column in leads.columns:
            leads[column] = _to_float(leads[column], column, label, offset)
    for column in contract.TEXT_COLUMNS:
        if column in leads.columns:
            _warn_numbers_as_names(leads[column], column, label, warnings)
            leads[column] = (
                _as_key(leads[column])
                if pd.api.types.is_numeric_dtype(leads[column])
                else leads[column].astype("str")
            )
    ignored = set(config.families.ignore) | {c for c in leads.columns if contract.is_contact_column(c)}
    categorical = [
        c
        for c in leads.columns
        if c not in ignored and c not in ("lead_id", "outcome") and c not in contract.TIMESTAMP_COLUMNS
    ]
    if history:
        # New leads to score keep their values as written: a lead's score must not depend on which other
        # leads share its file (the commonest spelling, the rare "typo", are properties of the batch).
        leads = _unify_spellings(leads, categorical, label, offset, warnings, excluded)
    leads = _quality(leads, label, offset, warnings, excluded)
    ordered = [c for c in contract.LEAD_COLUMNS if c in leads.columns]
    leads = leads[ordered + [c for c in leads.columns if c not in ordered]]
    contract.validate_frame(leads, contract.leads_schema(), file=label, row_offset=offset)
    leads = leads.reset_index(drop=True)
    leads.attrs["lead_id_numbered"] = numbered
    return leads, warnings, excluded


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


# --- the workspace ----------------------------------------------------------------------------


def resolve_location(config: Config, location: str) -> str:
    """Like ``Config.resolve``, and a relative ``sqlite:///file.db`` also resolves against the workspace."""
    resolved = config.resolve(location)
    database = _sqlite_file(resolved) if is_url(resolved) else None
    if database is not None and not Path(database).is_absolute():
        resolved = resolved.replace(database, str(config.workspace / database), 1)
    return resolved


def _families(
    leads: pd.DataFrame, config: Config, activity_types: list[str], label: str, warnings: list[str]
) -> tuple[dict[str, str], dict[str, str], list[str]]:
    listed = config.families.family_of()
    contact = [c for c in leads.columns if contract.is_contact_column(c)]
    for column in leads.columns:
        if column in contact or column in contract.LEAD_COLUMNS or column in listed:
            continue
        found = contract.holds_contact_details(leads[column])
        if found:  # contact data under a name nobody would guess: kept out of every artifact all the same
            contact.append(column)
            warnings.append(f"{label}: column '{column}' holds {found}: treated as contact details, never a "
                            "feature (list it under [families] to use it anyway)")
    cumulative = [
        c
        for c in PRESET_CUMULATIVE.get(config.source.preset, ())
        if c in leads.columns and c not in listed and c not in config.families.ignore
    ]
    if cumulative:
        warnings.append(
            f"{label}: {', '.join(cumulative)} are {config.source.preset} counts up to the export date, "
            "not at the scoring moment: left out (for closed leads they count what happened after the "
            "hand-off) — load the activities table instead, or list them under [families] to use them anyway"
        )
    ignored = list(dict.fromkeys([*config.families.ignore, *contact, *cumulative]))
    unknown = [
        c for c in [*listed, *config.families.ignore] if c not in leads.columns and c not in activity_types
    ]
    if unknown:
        warnings.append(
            f"{label}: the config [families] lists {', '.join(repr(c) for c in unknown)}, which is "
            "neither a column nor an activity type — check the spelling"
        )
    contract_columns = [*contract.LEAD_COLUMNS, *contract.ACTIVITY_COLUMNS]
    for header, target in config.mapping.items():
        close = difflib.get_close_matches(target, contract_columns, n=1, cutoff=0.8)
        if target not in contract_columns and close:
            warnings.append(
                f"the config [mapping] sends '{header}' to '{target}', which is not a contract column "
                f"(did you mean '{close[0]}'?): it is read as an attribute"
            )
    families = {
        c: f for c, f in listed.items() if c not in ignored and (c in leads.columns or c in activity_types)
    }
    guessed = {
        c: guess_family(c)
        for c in leads.columns
        if c not in contract.LEAD_COLUMNS and c not in families and c not in ignored
    }
    if guessed:
        shown = listing(f"{c} → {f}" for c, f in guessed.items())
        warnings.append(
            f"{label}: {len(guessed):,} columns are in no family and were assigned by name ({shown}) — "
            "list them under [families] (or families.ignore) to decide"
        )
    families.update(guessed)
    return families, guessed, ignored


def _as_of(config: Config, leads: pd.DataFrame, activities: pd.DataFrame | None) -> pd.Timestamp:
    if config.scoring.as_of:
        try:
            as_of = pd.Timestamp(config.scoring.as_of)
            # The contract's timestamps are naive UTC: an export date with an offset is converted, not cut.
            return (as_of.tz_convert("UTC").tz_localize(None) if as_of.tzinfo else as_of).as_unit("ns")
        except (ValueError, OverflowError):
            raise ConfigError(
                f"scoring.as_of '{config.scoring.as_of}' is not a date",
                file=_label(str(config.path)) if config.path else None,
                hint="use YYYY-MM-DD",
            ) from None
    latest = [leads[c].max() for c in contract.TIMESTAMP_COLUMNS if c in leads.columns]
    if activities is not None and len(activities):
        latest.append(activities["occurred_at"].max())
    latest = [t for t in latest if pd.notna(t)]
    return max(latest) if latest else pd.NaT


def load_workspace(config: Config) -> Workspace:
    """Read, join, map and check everything a workspace config names.

    Parameters
    ----------
    config : Config
        A loaded workspace config (:func:`alignment.config.load_config`).

    Returns
    -------
    Workspace
        Validated leads (and activities, truth), the data-quality warnings, the
        lead ids kept out by reason, the feature family of every attribute, and
        the export date ``as_of`` (NaT when the data holds no timestamps).

    Raises
    ------
    DataError, ConfigError
        A structural problem, in one line naming the file, column and row.
    TypeError
        ``config`` is not a :class:`~alignment.config.Config` (load it with ``load_config`` first).
    """
    if not isinstance(config, Config):
        raise TypeError(
            f"load_workspace needs a Config (alignment.config.load_config), got {type(config).__name__}"
        )
    source = config.source
    warnings: list[str] = []
    steps = tqdm(total=4, desc="loading", unit="step", disable=None, leave=False)
    try:
        location = resolve_location(config, source.leads)
        raw = read_table(
            location,
            separator=source.separator,
            encoding=source.encoding,
            sheet=source.sheet,
            table=source.leads_table,
            query=source.leads_query,
            missing_values=source.missing_values,
        )
        label, offset = raw.attrs["source"], raw.attrs["row_offset"]
        workbook = {key: raw.attrs[key] for key in ("sheets", "sheet") if key in raw.attrs}
        raw = apply_joins(raw, config, label, warnings)
        raw.attrs.update(workbook)
        steps.update()
        leads, lead_warnings, excluded = conform_leads(raw, config, label, offset)
        warnings.extend(lead_warnings)
        steps.update()
        activities = None
        if source.activities:
            activities = load_activities(
                resolve_location(config, source.activities), config, leads["lead_id"], warnings
            )
        steps.update()
        truth = effects = None
        if source.truth:
            truth, effects = load_truth(resolve_location(config, source.truth))
        steps.update()
    finally:
        steps.close()
    activity_types = list(activities["activity_type"].cat.categories) if activities is not None else []
    families, guessed, ignored = _families(leads, config, activity_types, label, warnings)
    notes = []
    if leads.attrs.get("lead_id_numbered"):
        notes.append("no lead_id column: leads are numbered by row (1 = first data row)")
    if "created_at" not in leads.columns or leads["created_at"].isna().all():
        notes.append("no created_at dates: there can be no time split (fitting will say so)")
    return Workspace(
        leads=leads,
        activities=activities,
        truth=truth,
        truth_effects=effects,
        warnings=warnings,
        excluded=excluded,
        families=families,
        as_of=_as_of(config, leads, activities),
        ignored=ignored,
        guessed_families=guessed,
        notes=notes,
    )


# Earlier private names, still used by alignment.model.
_apply_mapping = apply_mapping
_resolve = resolve_location
