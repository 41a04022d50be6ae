"""The activity aggregation in the engine (alignment.engine): the same answers on DuckDB and on Spark
``local[2]`` as a brute-force reference, on a fixture of the edge cases a real event export has.

Spark needs a Java runtime: without one these tests skip, unless ``ALIGNMENT_REQUIRE_SPARK=1`` (as in CI),
where they fail instead.
"""

from __future__ import annotations

import math
import os
import shutil

import numpy as np
import pandas as pd
import pytest

from alignment.config import EngineConfig, parse_config
from alignment.engine import activity_features, activity_table, connect
from alignment.engine.backends import _without_credentials
from alignment.engine.point_in_time import SECONDS_PER_DAY, feature_names
from alignment.exceptions import ConfigError, DataError
from alignment.features import activity_slug

T = pd.Timestamp
HALF_LIFE = {"pricing_page": 30.0, "email_open": 7.0, "webinar": 45.0, "web_visit": 14.0}


def spark_engine():
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        if os.environ.get("ALIGNMENT_REQUIRE_SPARK") == "1":
            pytest.fail("ALIGNMENT_REQUIRE_SPARK=1 but there is no Java runtime (apt-get install "
                        "openjdk-17-jre-headless)")
        pytest.skip("no Java runtime: Spark cannot start (.ci/run installs one)")
    return connect(EngineConfig(backend="spark"))


ENGINES = {"duckdb": lambda: connect(EngineConfig()), "spark": spark_engine}


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def engine(request):
    return ENGINES[request.param]()


def edge_case_history() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Leads with their moments, and events on the edges: at the moment, a second after, duplicates,
    a DST change (Berlin local times), sub-second times, spelling variants, unknown leads and types."""
    berlin = pd.DatetimeIndex(["2024-03-31 01:59:59", "2024-03-31 03:00:01", "2024-10-27 02:30:00"])
    berlin = berlin.tz_localize("Europe/Berlin", ambiguous=[True, True, False]).tz_convert("UTC")
    leads = pd.DataFrame({
        "lead_id": ["a", "b", "c", "d", "e", "f"],
        "scored_at": [T("2024-04-01 12:00:00"), T("2024-04-01 12:00:00"), T("2024-11-01 00:00:00"),
                      T("2024-05-01 00:00:00"), pd.NaT, T("2024-02-10 08:30:00")],
    })
    rows = [
        ("a", T("2024-04-01 12:00:00"), "pricing_page"),        # exactly at the moment: not counted
        ("a", T("2024-04-01 12:00:01"), "pricing_page"),        # one second after: not counted
        ("a", T("2024-04-01 11:59:59"), "Pricing Page"),        # a second before, another spelling
        ("a", T("2024-03-02 12:00:00"), "pricing_page"),        # 30 days before
        ("a", T("2024-03-02 12:00:00"), "pricing_page"),        # the same time again (a duplicate row)
        ("a", T("2024-03-20 06:15:00.750"), "email_open"),      # sub-second: ages are whole seconds
        ("b", berlin[0].tz_localize(None), "webinar"),          # just before the spring DST change
        ("b", berlin[1].tz_localize(None), "webinar"),          # just after it
        ("c", berlin[2].tz_localize(None), "email_open"),       # in the repeated autumn hour
        ("c", T("2024-08-04 23:59:59"), "web_visit"),           # 88 days back by the calendar
        ("c", T("2024-08-03 00:00:00"), "web_visit"),           # 90 days back: outside the 90-day window
        ("e", T("2024-01-01"), "webinar"),                      # its lead has no moment: never counts
        ("f", T("2024-02-10 08:29:59"), "chat"),                # a type the scale does not know
        ("zz", T("2024-01-01"), "webinar"),                     # no such lead
    ]
    events = pd.DataFrame(rows, columns=["lead_id", "occurred_at", "activity_type"])
    return leads, events


def brute_force(leads: pd.DataFrame, events: pd.DataFrame, slug_of: dict, half_life: dict,
                window_days: int = 90) -> pd.DataFrame:
    """The documented rules, one lead and one event at a time, in plain Python."""
    slugs = sorted(set(slug_of.values()))
    out = []
    for lead in leads.itertuples():
        row = {f"{s}_decayed": 0.0 for s in slugs}
        ages, days = [], set()
        for event in events[events["lead_id"] == lead.lead_id].itertuples():
            known = event.activity_type in slug_of and not pd.isna(lead.scored_at)
            if not known or not event.occurred_at < lead.scored_at:
                continue
            scored_s = math.floor(lead.scored_at.value / 1e9)
            occurred_s = math.floor(event.occurred_at.value / 1e9)
            age = (scored_s - occurred_s) / SECONDS_PER_DAY
            slug = slug_of[event.activity_type]
            row[f"{slug}_decayed"] += 0.5 ** (age / half_life[slug])
            ages.append(age)
            if scored_s // SECONDS_PER_DAY - occurred_s // SECONDS_PER_DAY < window_days:
                days.add(occurred_s // SECONDS_PER_DAY)
        row["days_since_last_activity"] = min(ages) if ages else np.nan
        row[f"active_days_{window_days}d"] = float(len(days))
        row["n_counted"] = len(ages)
        out.append(row)
    return pd.DataFrame(out, index=leads["lead_id"])[feature_names(slugs, window_days) + ["n_counted"]]


def run(engine, leads: pd.DataFrame, events: pd.DataFrame, slug_of: dict, half_life: dict = HALF_LIFE,
        **options) -> pd.DataFrame:
    import ibis

    table = activity_table(events, engine)
    lead_table = ibis.memtable(leads.assign(scored_at=leads["scored_at"].astype("datetime64[us]")))
    result = engine.execute(activity_features(table.table, lead_table, slug_of, half_life, **options))
    return result.set_index("lead_id").loc[leads["lead_id"]]


def test_the_engine_matches_the_brute_force_reference(engine):
    leads, events = edge_case_history()
    slug_of = {raw: activity_slug(raw) for raw in ["pricing_page", "Pricing Page", "email_open", "webinar",
                                                   "web_visit"]}
    got = run(engine, leads, events, slug_of)
    expected = brute_force(leads, events, slug_of, HALF_LIFE)
    counts = ["active_days_90d", "n_counted"]
    assert got[counts].astype(int).to_dict() == expected[counts].astype(int).to_dict()
    floats = [c for c in expected.columns if c not in counts]
    np.testing.assert_allclose(got[floats].to_numpy(dtype=float), expected[floats].to_numpy(dtype=float),
                               rtol=1e-9, atol=0)
    # The edges, spelled out: at the moment and after it never count; a second before does.
    a = got.loc["a"]
    assert a["n_counted"] == 4
    assert a["days_since_last_activity"] == pytest.approx(1 / SECONDS_PER_DAY, rel=1e-12)
    assert a["pricing_page_decayed"] == pytest.approx(0.5 ** (1 / SECONDS_PER_DAY / 30) + 2 * 0.5, rel=1e-12)
    assert got.loc["c", "active_days_90d"] == 2  # Oct 27 and Aug 4; Aug 3 is 90 days back
    for lead in ("d", "e", "f"):  # no events, no moment, only an unknown type
        assert got.loc[lead, "n_counted"] == 0 and np.isnan(got.loc[lead, "days_since_last_activity"])
        assert got.loc[lead, "pricing_page_decayed"] == 0.0 and got.loc[lead, "active_days_90d"] == 0


def test_a_fitted_type_without_events_is_a_column_of_zeros(engine):
    leads, events = edge_case_history()
    got = run(engine, leads, events, {"webinar": "webinar"}, {**HALF_LIFE, "form": 10.0},
              extra_slugs=["form"])
    assert (got["form_decayed"] == 0.0).all()
    assert got.loc["b", "webinar_decayed"] > 0


@pytest.mark.spark
def test_a_spark_engine_and_duckdb_give_the_same_features_on_a_random_history():
    """Many leads and events at random times: the two engines agree to 1e-9 (counts exactly)."""
    rng = np.random.default_rng(3)
    n_leads, n_events = 300, 6_000
    start = T("2024-01-01").value
    leads = pd.DataFrame({"lead_id": [f"L{i}" for i in range(n_leads)],
                          "scored_at": pd.to_datetime(start + rng.integers(30, 200, n_leads) * 86_400
                                                      * 10**9)})
    events = pd.DataFrame({
        "lead_id": rng.choice(leads["lead_id"], n_events),
        "occurred_at": pd.to_datetime(start + rng.integers(0, 220 * 86_400, n_events) * 10**9),
        "activity_type": rng.choice(list(HALF_LIFE), n_events),
    })
    slug_of = {t: t for t in HALF_LIFE}
    duck = run(connect(EngineConfig()), leads, events, slug_of)
    expected = brute_force(leads, events, slug_of, HALF_LIFE)
    np.testing.assert_allclose(duck.to_numpy(dtype=float), expected.to_numpy(dtype=float), rtol=1e-9)
    spark = run(spark_engine(), leads, events, slug_of)
    np.testing.assert_allclose(spark.to_numpy(dtype=float), duck.to_numpy(dtype=float), rtol=1e-9)


def test_bad_parameters():
    leads, events = edge_case_history()
    engine = connect(EngineConfig())
    with pytest.raises(ValueError, match="window_days"):
        run(engine, leads, events, {"webinar": "webinar"}, window_days=0)
    with pytest.raises(ValueError, match="no half-life"):
        run(engine, leads, events, {"chat": "chat"})
    with pytest.raises(DataError, match="column 'occurred_at'"):
        activity_table(events.assign(occurred_at="yesterday"), engine)
    with pytest.raises(DataError, match="lacks a required column"):
        activity_table(events.drop(columns="activity_type"), engine)


def test_an_unknown_backend_is_one_line_listing_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown engine backend 'oracle': use one of duckdb, spark, "):
        parse_config({"source": {"leads": "x.csv"}, "engine": {"backend": "oracle"}})
    with pytest.raises(ConfigError, match="memory_limit"):
        parse_config({"source": {"leads": "x.csv"}, "engine": {"memory_limit": "lots"}})


def test_an_engine_that_cannot_be_reached_names_its_url_without_the_password():
    settings = EngineConfig(backend="postgres", url="postgres://ana:s3cret@127.0.0.1:1/crm")
    with pytest.raises(ConfigError) as error:
        connect(settings)
    message = str(error.value)
    assert "cannot reach the postgres engine at postgres://ana:***@127.0.0.1:1/crm" in message
    assert "s3cret" not in message and "\n" not in message
    assert _without_credentials("snowflake://u:p@acct/db?password=x&warehouse=w") == \
        "snowflake://u:***@acct/db?password=***&warehouse=w"


def test_an_engine_table_that_does_not_exist_names_it_and_the_tables_there(tmp_path):
    import duckdb

    from alignment.loader import load_workspace

    database = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute("CREATE SCHEMA crm")
        con.execute("CREATE TABLE crm.events AS SELECT '1' AS lead_id, "
                    "TIMESTAMP '2024-01-02' AS occurred_at, 'webinar' AS activity_type")
    (tmp_path / "leads.csv").write_text("lead_id,outcome,created_at\n1,won,2024-01-01\n2,lost,2024-01-01\n",
                                            encoding="utf-8")
    text = (f'[source]\nleads = "leads.csv"\n[engine]\nurl = "duckdb://{database}"\n'
            'activities_table = "crm.event"\n')
    (tmp_path / "alignment.toml").write_text(text, encoding="utf-8")
    from alignment.config import load_config

    with pytest.raises(DataError, match=r"the engine has no table 'crm.event' — tables there: events"):
        load_workspace(load_config(tmp_path / "alignment.toml"))
    (tmp_path / "alignment.toml").write_text(text.replace("crm.event\"", "crm.events\""), encoding="utf-8")
    workspace = load_workspace(load_config(tmp_path / "alignment.toml"))
    assert workspace.activities.activity_types == ["webinar"] and len(workspace.activities) == 1


@pytest.mark.slow
@pytest.mark.spark
def test_the_fitted_scale_is_the_same_on_duckdb_and_on_spark(tmp_path):
    """A 20,000-lead demo fitted twice, the aggregation in DuckDB then in Spark local[2]: the same points.csv
    byte for byte, and the same model version (the engine is not part of what a score depends on)."""
    from alignment.demo import write_demo
    from alignment.model import fit_model

    spark_engine()
    history = write_demo(tmp_path / "history", n_leads=20_000, months=24, seed=11)
    config = history / "alignment.toml"
    spark_config = history / "spark.toml"
    spark_config.write_text(config.read_text(encoding="utf-8") + '\n[engine]\nbackend = "spark"\n',
                            encoding="utf-8")
    on_duckdb = fit_model(config, out=tmp_path / "duckdb", progress=False)
    on_spark = fit_model(spark_config, out=tmp_path / "spark", progress=False)
    points = [(tmp_path / engine / "points.csv").read_bytes() for engine in ("duckdb", "spark")]
    assert points[0] == points[1]
    assert on_duckdb.version == on_spark.version
    assert on_spark.card["config"]["engine"]["backend"] == "spark"
