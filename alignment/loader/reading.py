"""Reading one table: CSV/TSV (separator and encoding detected), Parquet, Excel, or a SQL database opened
read-only."""

from __future__ import annotations

import codecs
import csv
import difflib
import os
import re
from pathlib import Path
from warnings import catch_warnings, simplefilter

import numpy as np
import pandas as pd

from alignment.config import DEFAULT_MISSING, Config, is_url
from alignment.exceptions import DataError

SEPARATORS = (",", ";", "\t", "|")
SNIFF_BYTES = 1 << 16
PARQUET_SUFFIXES = (".parquet", ".pq")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
EXAMPLE_ROWS = 5
"""How many example rows a warning names."""
NUMBER_PROBE = 200
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
    # Text stays in Arrow (pandas' own "str"), not a Python object per value: 1M leads read in 0.3 GiB, not
    # 0.8; each Arrow buffer is released as soon as pandas holds it.
    text = pd.StringDtype("pyarrow", na_value=float("nan"))
    return table.to_pandas(types_mapper={pa.string(): text, pa.large_string(): text}.get, split_blocks=True,
                           self_destruct=True)


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
    """Placeholders to missing (case and surrounding spaces ignored); all-number text columns to numbers.

    Empties ``frame`` as it goes (each raw column is dropped once cleaned), so a large export is never
    held twice."""
    placeholders = {str(v).strip().lower() for v in missing_values}
    cleaned = {}
    index = frame.index
    for column in list(frame.columns):
        series = frame.pop(column)  # the raw column goes as its cleaned one comes: never the table twice
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
    return pd.DataFrame(cleaned, index=index)


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
    frame = frame.reset_index(drop=True)
    frame = _clean(frame, DEFAULT_MISSING if missing_values is None else missing_values)
    frame.attrs.update(source=label, row_offset=row_offset, **workbook)
    return frame




def resolve_location(config: Config, location: str) -> str:
    """Like ``Config.resolve``, and a relative ``sqlite:///file.db`` also resolves against the workspace."""
    resolved = config.resolve(location)
    database = _sqlite_file(resolved) if is_url(resolved) else None
    if database is not None and not Path(database).is_absolute():
        resolved = resolved.replace(database, str(config.workspace / database), 1)
    return resolved


