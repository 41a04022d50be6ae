"""Reading real CRM exports onto the data contract.

:func:`read_table` reads one table from CSV/TSV (separator and encoding detected),
Parquet, Excel or a SQL database (a SQLAlchemy URL). :func:`load_workspace` reads
everything a workspace config names, joins the tables it declares, maps export
headers onto the contract (preset, then the config's ``[mapping]``), maps outcome
values, parses timestamps, checks the contract (pandera) and collects the
data-quality warnings. Structural problems raise one-line :class:`DataError` /
:class:`ConfigError`; data-quality problems become warnings and the rows they
concern are listed in :attr:`Workspace.excluded`.

``reading`` (one table from a file or a database, read-only), ``conforming`` (raw table to the contract:
joins, mapping, outcome values, timestamps, spellings), ``activities`` (activities and truth) and
``workspace`` (everything a config names, as one :class:`Workspace`).
"""

from alignment.loader.activities import load_activities, load_truth
from alignment.loader.conforming import (
    apply_joins,
    apply_mapping,
    conform_leads,
    guess_family,
    is_misspelling,
    outcome_candidates,
)
from alignment.loader.reading import (
    MAX_COLUMNS,
    check_read_query,
    detect_encoding,
    read_only_engine,
    read_table,
    resolve_location,
    sniff_separator,
)
from alignment.loader.workspace import Workspace, load_workspace

__all__ = [
    "MAX_COLUMNS",
    "Workspace",
    "apply_joins",
    "apply_mapping",
    "check_read_query",
    "conform_leads",
    "detect_encoding",
    "guess_family",
    "is_misspelling",
    "load_activities",
    "load_truth",
    "load_workspace",
    "outcome_candidates",
    "read_only_engine",
    "read_table",
    "resolve_location",
    "sniff_separator",
]
