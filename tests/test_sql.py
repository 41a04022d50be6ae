"""The scale as SQL (alignment sql, alignment.engine.sql): the DuckDB query gives every demo lead the score
``alignment score`` gives it; the Spark query does too on Spark local[2]; the other dialects compile."""

from __future__ import annotations

import os
import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import sqlglot
from click.testing import CliRunner

from alignment.cli import cli
from alignment.config import load_config
from alignment.features import _resolve_as_of
from alignment.loader import load_workspace
from alignment.model import load_model

EXACT = ["score", "fit_score", "engagement_score", "grade"]


@pytest.fixture(scope="module")
def scored(demo_config, fitted_model_dir):
    """The demo's canonical tables, their export moment, and what ``model.score`` gives every lead."""
    workspace = load_workspace(load_config(demo_config))
    activities = workspace.activities.to_pandas()
    as_of = pd.Timestamp(_resolve_as_of(SimpleNamespace(as_of=None), workspace.leads, workspace.activities))
    model = load_model(fitted_model_dir)
    expected = model.score(workspace.leads, activities).set_index("lead_id")
    leads = workspace.leads.astype({c: object for c in workspace.leads.columns
                                    if isinstance(workspace.leads[c].dtype, pd.CategoricalDtype)})
    return leads, activities, as_of, expected


def sql_of(model_dir, dialect: str, *extra: str) -> str:
    result = CliRunner().invoke(cli, ["sql", "--model", str(model_dir), "--dialect", dialect, *extra])
    assert result.exit_code == 0, result.output
    return result.output


def assert_same_scores(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    got = got.set_index("lead_id").loc[expected.index]
    assert list(got.columns) == ["score", "fit_score", "engagement_score", "grade", "probability"]
    for column in EXACT:
        different = got[column].astype(str) != expected[column].astype(str)
        assert not different.any(), f"{column}: {int(different.sum())} leads differ"
    np.testing.assert_allclose(got["probability"].to_numpy(float), expected["probability"].to_numpy(float),
                               rtol=1e-9)


def test_the_duckdb_sql_scores_every_lead_as_alignment_score_does(scored, fitted_model_dir):
    import duckdb

    leads, activities, as_of, expected = scored
    text = sql_of(fitted_model_dir, "duckdb", "--as-of", as_of.isoformat())
    assert text.lstrip().startswith("SELECT") and text.rstrip().endswith(";")  # the SQL alone on stdout
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.register("leads_frame", leads)
        con.register("activities_frame", activities)
        con.execute("CREATE TABLE leads AS SELECT * FROM leads_frame")
        con.execute("CREATE TABLE activities AS SELECT * FROM activities_frame")
        got = con.execute(text).df()
    assert len(got) == len(expected) == len(leads)
    assert_same_scores(got, expected)


@pytest.mark.spark
def test_the_spark_sql_scores_every_lead_as_alignment_score_does(scored, fitted_model_dir):
    if shutil.which("java") is None and os.environ.get("ALIGNMENT_REQUIRE_SPARK") != "1":
        pytest.skip("no Java runtime: Spark cannot start (.ci/run installs one)")
    from alignment.config import EngineConfig
    from alignment.engine import connect

    leads, activities, as_of, expected = scored
    session = connect(EngineConfig(backend="spark"))._session
    timestamps = [c for c in leads.columns if leads[c].dtype.kind == "M"]
    session.createDataFrame(leads.astype({c: "datetime64[us]" for c in timestamps})
                            ).createOrReplaceTempView("leads")
    session.createDataFrame(activities.astype({"occurred_at": "datetime64[us]"})
                            ).createOrReplaceTempView("activities")
    text = sql_of(fitted_model_dir, "spark", "--as-of", as_of.isoformat())
    got = session.sql(text.rstrip().rstrip(";")).toPandas()
    assert_same_scores(got, expected)


@pytest.mark.parametrize("dialect", ["postgres", "snowflake", "bigquery", "spark"])
def test_the_other_dialects_compile_to_one_select(fitted_model_dir, dialect):
    text = sql_of(fitted_model_dir, dialect, "--leads-table", "crm.leads", "--activities-table", "crm.events")
    statements = sqlglot.parse(text, read={"postgres": "postgres", "snowflake": "snowflake",
                                           "bigquery": "bigquery", "spark": "spark"}[dialect])
    assert len([s for s in statements if s is not None]) == 1
    assert isinstance(statements[0], sqlglot.exp.Select)
    ctes = {cte.alias for cte in statements[0].find_all(sqlglot.exp.CTE)}
    tables = {".".join(p for p in (t.db, t.name) if p) for t in statements[0].find_all(sqlglot.exp.Table)
              if t.name not in ctes}
    assert tables == {"crm.leads", "crm.events"}


def test_without_as_of_the_query_scores_at_its_own_run_time(fitted_model_dir):
    assert "CURRENT_TIMESTAMP" in sql_of(fitted_model_dir, "duckdb").upper()


def test_bad_arguments_are_one_line(fitted_model_dir, tmp_path):
    runner = CliRunner()
    for args, message in [
        (["--dialect", "duckdb", "--as-of", "last week"], "--as-of 'last week' is not a date"),
        (["--dialect", "duckdb", "--leads-table", "leads; DROP TABLE x"], "is not a plain"),
        (["--dialect", "oracle"], "Invalid value for '--dialect'"),
    ]:
        result = runner.invoke(cli, ["sql", "--model", str(fitted_model_dir), *args])
        assert result.exit_code != 0 and message in result.output
        assert "Traceback" not in result.output
    result = runner.invoke(cli, ["sql", "--model", str(tmp_path / "none"), "--dialect", "duckdb"])
    assert result.exit_code == 1 and "model folder not found" in result.output
