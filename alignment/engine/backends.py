"""The ``[engine]`` config section as an Ibis connection, opened once per process and settings."""

from __future__ import annotations

import functools
import re
from typing import Any

from alignment.config import ENGINE_BACKENDS, EngineConfig
from alignment.exceptions import ConfigError

SPARK_SETTINGS = {
    # Event times are UTC everywhere: the session's zone decides how a zoned timestamp becomes a plain one.
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.shuffle.partitions": "8",
    # pandas writes Parquet times in nanoseconds, which Spark refuses to read as timestamps: read the
    # number, and the engine turns it into a timestamp (alignment.engine.activities).
    "spark.sql.legacy.parquet.nanosAsLong": "true",
}


def _without_credentials(url: str) -> str:
    """A connection URL safe to print: the password (and any token in the query) replaced by ``***``."""
    url = re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)
    return re.sub(r"(?i)((?:password|token|secret|key)=)[^&]+", r"\1***", url)


def connect(settings: EngineConfig) -> Any:
    """The Ibis backend the settings name (one per process and settings: a Spark session is costly).

    Parameters
    ----------
    settings : EngineConfig
        The config's ``[engine]`` section.

    Returns
    -------
    ibis.backends.BaseBackend

    Raises
    ------
    ConfigError
        The backend is not installed, or cannot be reached (the URL is named without its credentials).
    """
    return _connect(settings.backend, settings.master, settings.url, settings.threads, settings.memory_limit)


def default_engine() -> Any:
    """The embedded DuckDB engine, for callers that pass plain tables rather than a config."""
    return connect(EngineConfig())


@functools.lru_cache(maxsize=4)
def _connect(backend: str, master: str, url: str | None, threads: int | None,
             memory_limit: str | None) -> Any:
    try:
        import ibis
    except ImportError:  # pragma: no cover - a dependency of the package
        raise ConfigError("the engine needs ibis-framework",
                          hint="pip install 'ibis-framework[duckdb]'") from None
    if backend == "duckdb":
        return _duckdb(ibis, url, threads, memory_limit)
    if backend == "spark":
        return _spark(ibis, master)
    if backend not in ENGINE_BACKENDS:
        raise ConfigError(f"unknown engine backend {backend!r}",
                          hint=f"use one of {', '.join(ENGINE_BACKENDS)}")
    if not url:
        raise ConfigError(f"engine backend '{backend}' needs a url", hint=f"set [engine] url = \"{backend}://...\"")
    try:
        return ibis.connect(url)
    except ImportError as exc:
        raise ConfigError(f"the '{backend}' engine is not installed ({exc.name or exc})",
                          hint=f"pip install 'ibis-framework[{backend}]'") from None
    except Exception as exc:  # noqa: BLE001 - any driver's connection failure is one line for the user
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"cannot reach the {backend} engine at {_without_credentials(url)} "
                          f"({_without_credentials(reason)})",
                          hint="check [engine] url and that it is up") from None


def _duckdb(ibis: Any, url: str | None, threads: int | None, memory_limit: str | None) -> Any:
    options: dict[str, Any] = {}
    if threads:
        options["threads"] = threads
    if memory_limit:
        options["memory_limit"] = memory_limit.replace(" ", "")
    database = url.removeprefix("duckdb://") if url else ":memory:"
    try:
        connection = ibis.duckdb.connect(database, read_only=database != ":memory:", **options)
    except Exception as exc:  # noqa: BLE001 - duckdb raises its own IOException / CatalogException
        raise ConfigError(f"cannot open the duckdb database {database} ({str(exc).splitlines()[0]})",
                          hint="check [engine] url") from None
    connection.raw_sql("SET TimeZone = 'UTC'")
    return connection


def _spark(ibis: Any, master: str) -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError("the spark engine is not installed",
                          hint="pip install 'ibis-framework[pyspark]'") from None
    builder = SparkSession.builder.master(master).appName("alignment")
    for key, value in SPARK_SETTINGS.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # noqa: BLE001 - a missing Java runtime or an unreachable master
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"cannot start spark at {master} ({reason})",
                          hint="spark needs a Java runtime (apt-get install openjdk-17-jre-headless) and a "
                               "reachable [engine] master") from None
    # A failed query is the one line the product prints, not a Java stack trace on the terminal.
    session.sparkContext.setLogLevel("OFF")
    return ibis.pyspark.connect(session)
