"""From a raw table to the data contract: joins, the header mapping, outcome values, timestamps, numbers,
ids, spellings and data-quality checks."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import numpy as np
import pandas as pd

from alignment import contract
from alignment.config import Config, is_url
from alignment.exceptions import ConfigError, DataError
from alignment.loader.reading import (
    EXAMPLE_ROWS,
    EXCEL_SUFFIXES,
    PARQUET_SUFFIXES,
    SNIFF_BYTES,
    _label,
    detect_encoding,
    read_table,
    resolve_location,
    sniff_separator,
)
from alignment.presets import PRESET_OUTCOMES, PRESETS, preset_mapping
from alignment.wording import listing

RARE_VARIANT_SHARE = 0.05
"""A spelling is a rare variant when it has at most this share of the rows of the spelling it resembles."""
VARIANT_SIMILARITY = 0.8
NO_TYPO_CHECK = ("owner",)
"""People's names: two reps with similar names are two reps."""
MAX_CATEGORIES_CHECKED = 500
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
            raise _first_bad(raw, bad, f"is not a date ({int(bad.sum())} such rows)", label, column, offset,
                             hint="use YYYY-MM-DD (or YYYY-MM-DD HH:MM), or leave it empty")
        parsed = parsed.dt.tz_localize(None)
    # A typed year ("3024-01-01") parses at a coarser unit but overflows the contract's nanoseconds.
    beyond = parsed.notna() & ((parsed < pd.Timestamp.min) | (parsed > pd.Timestamp.max))
    if beyond.any():
        raise _first_bad(raw, beyond, f"is outside the dates a CRM can hold ({int(beyond.sum())} such rows)",
                         label, column, offset, hint="correct the year, or leave it empty")
    return parsed.astype("datetime64[ns]")


def _first_bad(raw: pd.Series, bad: pd.Series, what: str, label: str, column: str, offset: int, *,
               hint: str) -> DataError:
    """The one-line error naming the first row where ``bad`` holds and its value: ``'<value>' <what>``."""
    first = raw.index[bad.to_numpy(dtype=bool)][0]
    return DataError(f"'{raw[first]}' {what}", file=label, column=column, row=int(first) + offset, hint=hint)


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
        raise _first_bad(raw, bad, "is not a number", label, column, offset,
                         hint="export plain numbers (no units), or leave it empty")
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


