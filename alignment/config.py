"""The workspace config file: one TOML or YAML file per workspace.

It holds where the data comes from, how export headers map onto the data
contract, which attribute belongs to which feature family, the scoring moment
and horizon, sales capacity and service levels. Unknown keys are refused by
name, with the closest known key suggested, so a typo never passes silently.
Relative paths are resolved against the folder of the config file.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from alignment.exceptions import ConfigError
from alignment.presets import PRESET_NAMES

FAMILIES = ("demographics", "funnel", "interest", "engagement", "activity")
"""The five feature families of the design brief. Fit = demographics; engagement = the rest."""

BEHAVIOUR_FAMILIES = ("funnel", "interest", "engagement", "activity")

DEFAULT_MISSING = ["", "Select", "select", "unknown", "Unknown", "UNKNOWN", "N/A", "n/a", "NA", "na",
                   "None", "none", "null", "NULL", "-", "--", "?"]
DEFAULT_WON = ["won", "closed won", "closed-won", "closed_won", "yes", "y", "true", "1", "converted",
               "customer", "win"]
DEFAULT_LOST = ["lost", "closed lost", "closed-lost", "closed_lost", "no", "n", "false", "0",
                "disqualified", "unqualified", "loss"]
DEFAULT_OPEN = ["open", "in progress", "working", "new", "nurturing", "pending", "", "open - not contacted",
                "open - contacted"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class JoinSpec(_Section):
    """A table joined onto the leads by a key (e.g. accounts on account_id)."""

    path: str
    on: str | list[str]
    how: Literal["left", "inner"] = "left"
    table: str | None = None
    query: str | None = None


class SourceConfig(_Section):
    leads: str
    """File path (CSV, TSV, Parquet, Excel) relative to the config, or a SQLAlchemy URL."""
    leads_table: str | None = None
    leads_query: str | None = None
    activities: str | None = None
    activities_table: str | None = None
    activities_query: str | None = None
    truth: str | None = None
    """Optional ground truth (the demo history writes it): lead_id, true_probability."""
    preset: Literal[PRESET_NAMES] = "none"
    separator: str | None = None
    encoding: str | None = None
    sheet: str | int | None = None
    missing_values: list[str] = Field(default_factory=lambda: list(DEFAULT_MISSING))
    joins: list[JoinSpec] = Field(default_factory=list)

    @field_validator("separator")
    @classmethod
    def _one_character(cls, separator: str | None) -> str | None:
        # "tab" and a literal backslash-t are what people type for a TSV.
        separator = {"tab": "\t", "\\t": "\t"}.get(separator, separator) if separator else None
        if separator is not None and len(separator) != 1:
            raise ValueError(f"the separator must be one character (',', ';', '|' or 'tab'): {separator!r}")
        return separator


class OutcomeConfig(_Section):
    won: list[str] = Field(default_factory=lambda: list(DEFAULT_WON))
    lost: list[str] = Field(default_factory=lambda: list(DEFAULT_LOST))
    open: list[str] = Field(default_factory=lambda: list(DEFAULT_OPEN))


class FamiliesConfig(_Section):
    demographics: list[str] = Field(default_factory=list)
    funnel: list[str] = Field(default_factory=list)
    interest: list[str] = Field(default_factory=list)
    engagement: list[str] = Field(default_factory=list)
    activity: list[str] = Field(default_factory=list)
    ignore: list[str] = Field(default_factory=list)
    """Columns never used as features (contact details, free text, ids)."""

    def family_of(self) -> dict[str, str]:
        """Map each listed column to its family name."""
        return {col: fam for fam in FAMILIES for col in getattr(self, fam)}


class ScoringConfig(_Section):
    moment: Literal["mql", "created"] = "mql"
    """When a lead is scored: at the MQL hand-off, or ``days_after_created`` after creation."""
    days_after_created: int = Field(0, ge=0)
    horizon_days: int = Field(180, gt=0)
    """Label = won within this many days of the scoring moment."""
    half_life_days: dict[str, float] = Field(default_factory=dict)
    """Decay half-life per activity type; types not listed use ``default_half_life_days``."""
    default_half_life_days: float = Field(30.0, gt=0)
    monotone: dict[str, Literal["increasing", "decreasing", "none"]] = Field(default_factory=dict)
    """Per-attribute monotone constraint; behavioural counts default to increasing."""
    after_outcome: list[str] = Field(default_factory=list)
    """Columns recorded after the outcome (leak it): always left out unless forced back in."""
    force_include: list[str] = Field(default_factory=list)
    """Columns the leakage guard would drop that the user insists on keeping."""
    as_of: str | None = None
    """The date the data was exported; default: the latest timestamp in the data."""
    seed: int = 42

    @field_validator("as_of", mode="before")
    @classmethod
    def _date_as_text(cls, as_of: Any) -> Any:
        # An unquoted date (`as_of = 2024-06-30` in TOML or YAML) arrives as a date, not text.
        return as_of.isoformat() if isinstance(as_of, dt.date) else as_of


class SalesConfig(_Section):
    reps: int = Field(10, gt=0)
    leads_per_rep_per_week: float = Field(25.0, gt=0)
    won_deal_value: float | None = Field(None, gt=0)
    """Value of a won deal; default: the median amount of won deals in the history."""
    cost_per_lead: float = Field(100.0, ge=0)
    """Cost of sales working one MQL (for the expected-value optimum)."""
    currency: str = Field("", max_length=8, pattern=r"^[^<>&\"']*$")
    """Shown with every amount: a symbol goes before it (``"$"``, ``"€"``), a code after it (``"EUR"``)."""


class ServiceLevelsConfig(_Section):
    follow_up_hours: float = Field(24.0, gt=0)
    accept_within_days: float = Field(5.0, gt=0)
    mql_per_month: int = Field(500, ge=0)
    min_win_rate: float = Field(0.05, ge=0, le=1)


class PathsConfig(_Section):
    model: str = "model"
    agreements: str = "agreements"
    reports: str = "reports"


class ReportConfig(_Section):
    """How the monthly review is printed."""

    paper: Literal["A4", "Letter"] = "A4"


ENGINE_BACKENDS = ("duckdb", "spark", "postgres", "bigquery", "snowflake", "trino", "databricks", "mssql",
                   "mysql", "clickhouse", "datafusion", "sqlite")
"""Where the activity aggregation runs: DuckDB in this process (the default), Spark, or an Ibis backend at
``url``."""


class EngineConfig(_Section):
    """The engine the activity aggregation runs in (``docs/scale.md``)."""

    backend: str = "duckdb"
    master: str = "local[2]"
    """Spark only: the master URL (``local[2]`` on one machine, ``spark://host:7077`` on a cluster)."""
    url: str | None = None
    """Other backends: the Ibis connection URL (``postgres://user@host/db``, ``snowflake://...``)."""
    threads: int | None = Field(None, gt=0)
    """DuckDB only: worker threads (default: one per core)."""
    memory_limit: str | None = Field(None, pattern=r"^\s*\d+(\.\d+)?\s*[KMGT]i?B\s*$")
    """DuckDB only: e.g. ``"6GB"``; beyond it DuckDB spills to disk."""
    activities_table: str | None = None
    """A table of the engine holding the activities (``crm.events``), read there instead of
    ``[source] activities``."""

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, backend: str) -> str:
        if backend not in ENGINE_BACKENDS:
            raise ValueError(f"unknown engine backend {backend!r}: use one of {', '.join(ENGINE_BACKENDS)}")
        return backend


class Config(_Section):
    source: SourceConfig
    mapping: dict[str, str] = Field(default_factory=dict)
    """Export header -> contract column (applied after the preset, so it wins)."""
    outcome: OutcomeConfig = Field(default_factory=OutcomeConfig)
    families: FamiliesConfig = Field(default_factory=FamiliesConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    sales: SalesConfig = Field(default_factory=SalesConfig)
    service_levels: ServiceLevelsConfig = Field(default_factory=ServiceLevelsConfig)
    paths: PathsConfig = Field(default_factory=PathsConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)

    # Not part of the file: where it was read from.
    path: Path | None = Field(None, exclude=True)

    @field_validator("mapping")
    @classmethod
    def _no_duplicate_targets(cls, mapping: dict[str, str]) -> dict[str, str]:
        seen: dict[str, str] = {}
        for header, target in mapping.items():
            if target in seen:
                raise ValueError(f"'{header}' and '{seen[target]}' both map to '{target}'")
            seen[target] = header
        return mapping

    @property
    def workspace(self) -> Path:
        """The folder of the config file (the current folder for an in-memory config)."""
        return self.path.parent if self.path else Path.cwd()

    def resolve(self, location: str | None) -> str | None:
        """Resolve a path relative to the workspace; SQLAlchemy URLs are returned unchanged."""
        if location is None or is_url(location):
            return location
        path = Path(location).expanduser()
        return os.path.normpath(path if path.is_absolute() else self.workspace / path)

    @property
    def model_dir(self) -> Path:
        return Path(self.resolve(self.paths.model))

    @property
    def agreements_dir(self) -> Path:
        return Path(self.resolve(self.paths.agreements))

    @property
    def reports_dir(self) -> Path:
        return Path(self.resolve(self.paths.reports))


def is_url(location: str) -> bool:
    """True for a SQLAlchemy URL such as ``sqlite:///crm.db`` or ``postgresql://...``."""
    return "://" in location and not Path(location).exists()


def _known_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The field names allowed at ``loc`` (for suggesting a fix for a typo)."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        candidates = [annotation, *args]
        current = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if current is None:
            return []
    return list(getattr(current, "model_fields", {}))


def _describe(error: dict, path: Path | None) -> str:
    loc = tuple(error["loc"])
    dotted = ".".join(str(p) for p in loc)
    if error["type"] == "extra_forbidden":
        known = [k for k in _known_keys(Config, loc) if k != "path"]
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known keys here: {', '.join(known)}"
        return f"unknown key '{dotted}' — {hint}"
    if error["type"] == "missing":
        return f"missing key '{dotted}' — add it to the config"
    return f"'{dotted}': {error['msg']}"


def parse_config(data: dict, path: Path | None = None) -> Config:
    """Validate a config mapping; raise :class:`ConfigError` naming every problem on one line."""
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_describe(e, path) for e in exc.errors())
        raise ConfigError(problems, file=str(path) if path else None) from None
    config.path = path.resolve() if path else None
    return config


def load_config(path: str | Path) -> Config:
    """Read and validate a workspace config (``.toml``, ``.yaml`` or ``.yml``).

    Parameters
    ----------
    path : str or Path
        The config file.

    Returns
    -------
    Config
        The validated config; relative paths in it resolve against its folder.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError("config file not found", file=str(path),
                          hint="pass --config FILE, or run `alignment demo-data` to make one")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # Editors on Windows save Latin-1 ("Société" as one byte): name the line instead of a traceback.
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"line {line} is not UTF-8 text ({raw[exc.start:exc.start + 1]!r})", file=str(path),
                          hint="save the config as UTF-8") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        else:
            data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"not valid {'YAML' if path.suffix.lower() in ('.yaml', '.yml') else 'TOML'}: "
                          f"{str(exc).splitlines()[0]}", file=str(path)) from None
    if not isinstance(data, dict):
        raise ConfigError("the config must be a table of keys", file=str(path))
    return parse_config(data, path)


def find_config(path: str | Path | None) -> Config:
    """Load ``path``, or ``alignment.toml`` / ``alignment.yaml`` in the current folder."""
    if path:
        return load_config(path)
    for name in ("alignment.toml", "alignment.yaml", "alignment.yml"):
        if Path(name).is_file():
            return load_config(name)
    raise ConfigError("no config given and no alignment.toml in this folder",
                      hint="pass --config FILE (make demo writes data/demo/alignment.toml)")
