"""The loader meets real exports: every separator, encoding and format; the bad-input corpus; warnings."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from alignment.cli import cli
from alignment.config import parse_config
from alignment.exceptions import DataError
from alignment.loader import (
    Workspace,
    conform_leads,
    detect_encoding,
    guess_family,
    is_misspelling,
    load_workspace,
    read_table,
    sniff_separator,
)

BAD_INPUTS = Path(__file__).parent / "bad_inputs"
CASES = tomllib.loads((BAD_INPUTS / "cases.toml").read_text(encoding="utf-8"))

EXPORT = pd.DataFrame(
    {
        "lead_id": ["L-1", "L-2", "L-3", "L-4", "L-5", "L-6"],
        "created_at": ["2024-01-02", "2024-01-09", "2024-02-01", "2024-02-15", "2024-03-01", "2024-03-05"],
        "outcome": ["Won", "lost", "Select", "closed won", "LOST", "open"],
        "industry": ["Société Générale", "Zürich Re", "Café", "unknown", "Société Générale", "Zürich Re"],
        "employees": ["10", "250", "Select", "40", "N/A", "7"],
        "postcode": ["01234", "10115", "75001", "", "01234", "80331"],
    }
)


def _write_text(
    path: Path, frame: pd.DataFrame, separator: str, encoding: str, newline: str, trailing: bool
) -> None:
    end = separator if trailing else ""
    lines = [separator.join(frame.columns) + end]
    lines += [separator.join(str(v) for v in row) + end for row in frame.itertuples(index=False)]
    path.write_bytes((newline.join(lines) + newline).encode(encoding))


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "alignment.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _load(tmp_path: Path, text: str) -> Workspace:
    from alignment.config import load_config

    return load_workspace(load_config(_config(tmp_path, text)))


def _assert_export_read(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == list(EXPORT.columns)
    assert frame["industry"].tolist()[:3] == ["Société Générale", "Zürich Re", "Café"]
    assert pd.isna(frame.loc[3, "industry"])  # "unknown" is a placeholder
    assert pd.api.types.is_float_dtype(frame["employees"])  # "Select"/"N/A" became missing, the rest numbers
    assert frame["employees"].isna().tolist() == [False, False, True, False, True, False]
    assert frame.loc[0, "postcode"] == "01234"  # leading zeros stay text


# --- formats ----------------------------------------------------------------------------------


@pytest.mark.parametrize("separator", [",", ";", "\t", "|"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "latin-1", "utf-16"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("trailing", [False, True])
def test_csv_separator_encoding_bom_crlf_trailing(tmp_path, separator, encoding, newline, trailing):
    path = tmp_path / "export.csv"
    _write_text(path, EXPORT, separator, encoding, newline, trailing)
    frame = read_table(path)
    _assert_export_read(frame)
    assert frame.attrs["row_offset"] == 2


def test_trailing_separator_on_data_lines_only(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("a;b;outcome\n1;x;won;\n2;y;lost;\n", encoding="utf-8")
    frame = read_table(path)
    assert list(frame.columns) == ["a", "b", "outcome"]
    assert frame["outcome"].tolist() == ["won", "lost"]


def test_detect_encoding_and_separator():
    assert detect_encoding("é".encode()) == "utf-8"
    assert detect_encoding(b"\xef\xbb\xbfa,b") == "utf-8-sig"
    assert detect_encoding("Société".encode("latin-1")) == "cp1252"
    assert sniff_separator("a|b|c\n1|2,5|3\n") == "|"
    assert sniff_separator("a;b\n1,5;2\n3,5;4\n") == ";"


def test_parquet_excel_and_sqlite_read_the_same(tmp_path):
    frame = EXPORT.copy()
    frame.to_parquet(tmp_path / "export.parquet")
    frame.to_excel(tmp_path / "export.xlsx", index=False, sheet_name="Leads")
    with sqlite3.connect(tmp_path / "crm.db") as connection:
        frame.to_sql("leads", connection, index=False)
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    for read in (
        read_table(tmp_path / "export.parquet"),
        read_table(tmp_path / "export.xlsx", sheet="Leads"),
        read_table(url, table="leads"),
        read_table(url, query="SELECT * FROM leads ORDER BY lead_id"),
    ):
        _assert_export_read(read)
    assert read_table(tmp_path / "export.xlsx").attrs["row_offset"] == 2
    assert read_table(url, table="leads").attrs["row_offset"] == 1


def test_custom_placeholders_replace_the_defaults(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("a,b\n1,Select\n2,(none)\n", encoding="utf-8")
    frame = read_table(path, missing_values=["(NONE)"])
    assert frame["b"].tolist()[0] == "Select" and pd.isna(frame["b"].tolist()[1])


def test_read_table_and_load_workspace_reject_malformed_parameters(tmp_path):
    (tmp_path / "export.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="one character"):
        read_table(tmp_path / "export.csv", separator=";;")
    with pytest.raises(ValueError, match="not both"):
        read_table("sqlite:///x.db", table="leads", query="SELECT 1")
    with pytest.raises(ValueError, match="sheet must be"):
        read_table(tmp_path / "export.csv", sheet=1.5)
    with pytest.raises(TypeError, match="needs a Config"):
        load_workspace(str(tmp_path / "alignment.toml"))


def test_read_table_bad_parameters(tmp_path):
    EXPORT.to_excel(tmp_path / "export.xlsx", index=False, sheet_name="Leads")
    with pytest.raises(DataError, match="did you mean 'Leads'"):
        read_table(tmp_path / "export.xlsx", sheet="Lead")
    with pytest.raises(DataError, match="no sheet number 3"):
        read_table(tmp_path / "export.xlsx", sheet=3)
    (tmp_path / "export.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(DataError, match="unknown encoding"):
        read_table(tmp_path / "export.csv", encoding="klingon")
    with pytest.raises(DataError, match="file not found"):
        read_table(tmp_path / "nowhere.csv")
    with sqlite3.connect(tmp_path / "crm.db") as connection:
        EXPORT.to_sql("leads", connection, index=False)
    with pytest.raises(DataError, match="needs a table or a query"):
        read_table(f"sqlite:///{tmp_path / 'crm.db'}")
    with pytest.raises(DataError, match="did you mean 'leads'"):
        read_table(f"sqlite:///{tmp_path / 'crm.db'}", table="lead")
    with pytest.raises(DataError, match="database refused"):
        read_table(f"sqlite:///{tmp_path / 'crm.db'}", query="SELECT nope FROM leads")


@pytest.mark.postgres
def test_postgresql_leads_table():
    url = os.environ.get("ALIGNMENT_TEST_POSTGRES_URL")
    if not url:
        pytest.skip(
            "ALIGNMENT_TEST_POSTGRES_URL is not set: no PostgreSQL server to read from (.ci/run starts one)"
        )
    from sqlalchemy import create_engine

    table = f"leads_test_{os.getpid()}"
    engine = create_engine(url)
    try:
        EXPORT.to_sql(table, engine, index=False)
        _assert_export_read(read_table(url, table=table))
        config = parse_config({"source": {"leads": url, "leads_table": table}})
        workspace = load_workspace(config)
        assert workspace.leads["outcome"].tolist() == ["won", "lost", "open", "won", "lost", "open"]
        assert str(workspace.leads["created_at"].dtype) == "datetime64[ns]"
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        engine.dispose()


# --- the workspace ----------------------------------------------------------------------------


def test_workspace_types_and_outcome_mapping(tmp_path):
    _write_text(tmp_path / "leads.csv", EXPORT, ";", "latin-1", "\r\n", True)
    workspace = _load(tmp_path, '[source]\nleads = "leads.csv"\n')
    leads = workspace.leads
    assert leads["lead_id"].tolist() == EXPORT["lead_id"].tolist()
    assert pd.api.types.is_string_dtype(leads["lead_id"])
    # "Select" is a placeholder -> missing -> open ("" is in the default open list).
    assert leads["outcome"].tolist() == ["won", "lost", "open", "won", "lost", "open"]
    assert list(leads["outcome"].cat.categories) == ["won", "lost", "open"]
    assert str(leads["created_at"].dtype) == "datetime64[ns]"
    assert workspace.as_of == pd.Timestamp("2024-03-05")
    assert workspace.families == {
        "industry": "demographics",
        "employees": "demographics",
        "postcode": "demographics",
    }
    assert set(workspace.guessed_families) == {"industry", "employees", "postcode"}


def test_attributes_and_outcome_only_export_loads(tmp_path):
    (tmp_path / "leads.csv").write_text(
        "industry,size,Converted\nRetail,10,yes\nSoftware,50,no\nRetail,7,no\n", encoding="utf-8"
    )
    workspace = _load(tmp_path, '[source]\nleads = "leads.csv"\n[mapping]\nConverted = "outcome"\n')
    assert workspace.leads["lead_id"].tolist() == ["1", "2", "3"]
    assert workspace.leads["outcome"].tolist() == ["won", "lost", "lost"]
    assert pd.isna(workspace.as_of)
    assert any("numbered by row" in note for note in workspace.notes)
    assert any("no created_at" in note for note in workspace.notes)


def test_new_leads_to_score_need_no_history(tmp_path):
    (tmp_path / "new.csv").write_text("id,industry\nN1,Retail\nN2,Software\n", encoding="utf-8")
    config = parse_config({"source": {"leads": "x.csv"}, "mapping": {"id": "lead_id"}})
    raw = read_table(tmp_path / "new.csv")
    with pytest.raises(DataError, match="no outcome column"):
        conform_leads(raw, config)
    leads, _, _ = conform_leads(raw, config, history=False)
    assert leads["lead_id"].tolist() == ["N1", "N2"] and leads["outcome"].tolist() == ["open", "open"]
    (tmp_path / "open.csv").write_text("outcome\nopen\nnew\n", encoding="utf-8")
    plain = parse_config({"source": {"leads": "x.csv"}})
    assert conform_leads(read_table(tmp_path / "open.csv"), plain, history=False)[0]["outcome"].tolist() == [
        "open",
        "open",
    ]


def test_new_leads_keep_their_values_whatever_else_is_in_the_file(tmp_path):
    config = parse_config({"source": {"leads": "x.csv"}})
    (tmp_path / "batch.csv").write_text(
        "lead_id,industry\n" + "".join(f"B{i},Software\n" for i in range(40)) + "L1,Sofware\nL2,software\n",
        encoding="utf-8",
    )
    (tmp_path / "alone.csv").write_text("lead_id,industry\nL1,Sofware\nL2,software\n", encoding="utf-8")
    batch, warnings, excluded = conform_leads(read_table(tmp_path / "batch.csv"), config, history=False)
    alone = conform_leads(read_table(tmp_path / "alone.csv"), config, history=False)[0]
    assert batch.set_index("lead_id").loc[["L1", "L2"], "industry"].tolist() == ["Sofware", "software"]
    assert alone["industry"].tolist() == ["Sofware", "software"]
    assert warnings == [] and excluded == {}
    # A history is unified as before (the same file as history: won/lost needed).
    history = read_table(tmp_path / "batch.csv").assign(outcome=["won", "lost"] * 21)
    unified = conform_leads(history, config)[0].set_index("lead_id")["industry"]
    assert unified["L2"] == "Software" and pd.isna(unified["L1"])


def test_timezones_and_mixed_date_formats_become_naive_utc(tmp_path):
    (tmp_path / "leads.csv").write_text(
        "lead_id,created_at,outcome\n1,2024-01-02T10:00:00+02:00,won\n2,2024-01-03,lost\n3,03/15/2024,lost\n",
        encoding="utf-8",
    )
    leads = _load(tmp_path, '[source]\nleads = "leads.csv"\n').leads
    (tmp_path / "clock.csv").write_text("outcome,created_at\nwon,2024-01-01\nlost,today\n", encoding="utf-8")
    with pytest.raises(DataError, match="'today' is not a date"):
        load_workspace(parse_config({"source": {"leads": str(tmp_path / "clock.csv")}}))
    assert leads["created_at"].tolist() == [
        pd.Timestamp("2024-01-02 08:00"),
        pd.Timestamp("2024-01-03"),
        pd.Timestamp("2024-03-15"),
    ]


def test_day_first_dates_are_read_day_first_in_the_whole_column(tmp_path):
    (tmp_path / "leads.csv").write_text(
        "lead_id;created_at;outcome\n1;03/04/2024;won\n2;15/03/2024 10:30;lost\n3;01.02.2024;lost\n"
        "4;2024/03/04 10:30 AM;lost\n",
        encoding="utf-8",
    )
    leads = _load(tmp_path, '[source]\nleads = "leads.csv"\n').leads
    # 03/04 is the 3rd of April here (15/03 shows the file is day first), not the 4th of March;
    # a year-first date keeps year-month-day.
    assert leads["created_at"].tolist() == [
        pd.Timestamp("2024-04-03"), pd.Timestamp("2024-03-15 10:30"), pd.Timestamp("2024-02-01"),
        pd.Timestamp("2024-03-04 10:30"),
    ]
    (tmp_path / "leads.csv").write_text("lead_id,created_at,outcome\n1,03/04/2024,won\n2,03/15/2024,lost\n",
                                        encoding="utf-8")
    assert _load(tmp_path, '[source]\nleads = "leads.csv"\n').leads["created_at"].tolist() == [
        pd.Timestamp("2024-03-04"), pd.Timestamp("2024-03-15"),
    ]


def test_export_date_with_an_offset_is_converted_to_utc(tmp_path):
    (tmp_path / "leads.csv").write_text("lead_id,created_at,outcome\n1,2024-01-01,won\n2,2024-01-01,lost\n",
                                        encoding="utf-8")
    workspace = _load(
        tmp_path, '[source]\nleads = "leads.csv"\n[scoring]\nas_of = "2024-01-02T01:00:00+02:00"\n'
    )
    assert workspace.as_of == pd.Timestamp("2024-01-01 23:00")
    assert workspace.as_of.unit == "ns"


def test_parquet_timestamp_beyond_nanoseconds_is_one_line(tmp_path):
    frame = pd.DataFrame({"lead_id": ["1", "2", "3"], "outcome": ["won", "lost", "lost"],
                          "created_at": np.array(["2024-01-01", "2024-01-02", "2924-01-03"],
                                                 "datetime64[us]")})
    frame.to_parquet(tmp_path / "leads.parquet")
    with pytest.raises(DataError, match=r"column 'created_at', row 3: '2924-01-03.*correct the year"):
        load_workspace(parse_config({"source": {"leads": str(tmp_path / "leads.parquet")}}))


def test_numeric_outcome_and_ids(tmp_path):
    pd.DataFrame({"id": [101, 102, 103], "won": [1, 0, 1], "score": [10, 20, 30]}).to_parquet(
        tmp_path / "leads.parquet"
    )
    workspace = _load(
        tmp_path,
        '[source]\nleads = "leads.parquet"\n[mapping]\nid = "lead_id"\n'
        'won = "outcome"\nscore = "legacy_score"\n',
    )
    assert workspace.leads["lead_id"].tolist() == ["101", "102", "103"]
    assert workspace.leads["outcome"].tolist() == ["won", "lost", "won"]
    assert workspace.leads["legacy_score"].dtype == float


def test_joins_deals_accounts_products(tmp_path):
    (tmp_path / "deals.csv").write_text(
        "deal,account_id,product_code,stage\n1,A1,P1,Closed Won\n"
        "2,A2,P2,Closed Lost\n3,A1,P2,Closed Lost\n4,A9,P1,open\n",
        encoding="utf-8",
    )
    (tmp_path / "accounts.csv").write_text(
        "account_id;industry;country\nA1;Software;DE\nA2;Retail;FR\n", encoding="utf-8"
    )
    pd.DataFrame({"product_code": ["P1", "P2"], "product_line": ["Analytics", "Storage"]}).to_parquet(
        tmp_path / "products.parquet"
    )
    workspace = _load(
        tmp_path,
        '[source]\nleads = "deals.csv"\n'
        '[[source.joins]]\npath = "accounts.csv"\non = "account_id"\n'
        '[[source.joins]]\npath = "products.parquet"\non = "product_code"\nhow = "inner"\n'
        '[mapping]\ndeal = "lead_id"\nstage = "outcome"\n',
    )
    leads = workspace.leads.set_index("lead_id")
    assert leads.loc["1", "industry"] == "Software" and leads.loc["3", "product_line"] == "Storage"
    assert pd.isna(leads.loc["4", "industry"])
    assert any("1 leads" in w and "no match in" in w and "accounts.csv" in w for w in workspace.warnings), (
        workspace.warnings
    )


@pytest.mark.parametrize("file_format, row", [("csv", 4), ("parquet", 3)])
def test_unmatched_join_rows_are_counted_as_in_their_file(tmp_path, file_format, row):
    deals = pd.DataFrame({"lead_id": ["1", "2", "3"], "account_id": ["A1", "A1", "A9"],
                          "outcome": ["won", "lost", "lost"]})
    if file_format == "csv":
        deals.to_csv(tmp_path / "deals.csv", index=False)
    else:
        deals.to_parquet(tmp_path / "deals.parquet")
    (tmp_path / "accounts.csv").write_text("account_id,industry\nA1,Software\n", encoding="utf-8")
    workspace = _load(tmp_path, f'[source]\nleads = "deals.{file_format}"\n'
                                '[[source.joins]]\npath = "accounts.csv"\non = "account_id"\n')
    warnings = workspace.warnings
    assert any(f"1 leads (e.g. rows {row}) have no match" in w for w in warnings), warnings


@pytest.mark.parametrize(
    "preset,header",
    [
        (
            "hubspot",
            "Record ID,Create Date,Lifecycle Stage,Industry,Number of Employees,Email,HubSpot Score\n",
        ),
        ("salesforce", "Lead ID,Created Date,Converted,Industry,No. of Employees,Email,Lead Owner\n"),
    ],
)
def test_presets_map_crm_headers(tmp_path, preset, header):
    won, lost = ("Customer", "Other") if preset == "hubspot" else ("1", "0")
    rows = [
        f"00Q{i},2024-01-0{i},{won if i % 2 else lost},Retail,{i * 10},p{i}@x.com,{i}" for i in range(1, 6)
    ]
    (tmp_path / "export.csv").write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    workspace = _load(tmp_path, f'[source]\nleads = "export.csv"\npreset = "{preset}"\n')
    leads = workspace.leads
    assert leads["lead_id"].tolist()[0] == "00Q1"
    assert leads["outcome"].tolist() == ["won", "lost", "won", "lost", "won"]
    assert {"industry", "company_size"} <= set(workspace.families)
    assert "email" in workspace.ignored and "email" not in workspace.families


def test_hubspot_counters_up_to_the_export_date_are_left_out_unless_listed(tmp_path):
    header = "Record ID,Create Date,Lifecycle Stage,Industry,Number of Pageviews,Marketing emails opened\n"
    rows = [f"{i},2024-01-0{i},{'Customer' if i % 2 else 'Other'},Retail,{i * 7},{i}" for i in range(1, 6)]
    (tmp_path / "export.csv").write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    workspace = _load(tmp_path, '[source]\nleads = "export.csv"\npreset = "hubspot"\n')
    assert {"page_views", "email_opens"} <= set(workspace.ignored)
    assert not {"page_views", "email_opens"} & set(workspace.families)
    assert any("page_views, email_opens are hubspot counts up to the export date" in w
               for w in workspace.warnings)
    insisted = _load(tmp_path, '[source]\nleads = "export.csv"\npreset = "hubspot"\n'
                               '[families]\nactivity = ["page_views"]\n')
    assert insisted.families["page_views"] == "activity" and "page_views" not in insisted.ignored
    assert "email_opens" in insisted.ignored


def test_config_mapping_beats_the_preset(tmp_path):
    (tmp_path / "export.csv").write_text(
        "Record ID,Lifecycle Stage,Deal Result\n1,Customer,lost\n2,Lead,won\n", encoding="utf-8"
    )
    workspace = _load(
        tmp_path, '[source]\nleads = "export.csv"\npreset = "hubspot"\n[mapping]\n"Deal Result" = "outcome"\n'
    )
    assert workspace.leads["outcome"].tolist() == ["lost", "won"]
    assert "Lifecycle Stage" in workspace.leads.columns


def test_mapping_target_close_to_a_contract_column_is_warned(tmp_path):
    (tmp_path / "export.csv").write_text("id,Created,outcome\n1,2024-01-02,won\n2,2024-01-03,lost\n",
                                         encoding="utf-8")
    workspace = _load(
        tmp_path, '[source]\nleads = "export.csv"\n[mapping]\nid = "lead_id"\nCreated = "created"\n'
    )
    assert "created_at" not in workspace.leads.columns  # the typo is not silently fixed ...
    assert [w for w in workspace.warnings if "[mapping]" in w] == [  # ... but named
        "the config [mapping] sends 'Created' to 'created', which is not a contract column "
        "(did you mean 'created_at'?): it is read as an attribute"
    ]


def test_contact_columns_are_never_features(tmp_path):
    (tmp_path / "leads.csv").write_text(
        "outcome,first_name,Last Name,E-mail,phone,Mobile Phone,email_opens,campaign_name,notes\n"
        "won,A,B,a@x,1,2,3,C1,x\nlost,C,D,c@x,3,4,0,C2,y\n",
        encoding="utf-8",
    )
    workspace = _load(tmp_path, '[source]\nleads = "leads.csv"\n[families]\nignore = ["notes"]\n')
    assert set(workspace.ignored) == {"notes", "first_name", "Last Name", "E-mail", "phone", "Mobile Phone"}
    assert workspace.families == {"email_opens": "engagement", "campaign_name": "demographics"}


def test_family_heuristic():
    assert guess_family("Pricing Page Views") == "interest"
    assert guess_family("web_visits_30d") == "activity"
    assert guess_family("webinar_attended") == "engagement"
    assert guess_family("Lifecycle stage") == "funnel"
    assert guess_family("Industry") == "demographics"


def test_families_from_config_and_activity_types(tmp_path):
    (tmp_path / "leads.csv").write_text(
        "lead_id,outcome,industry,plan\n1,won,Retail,pro\n2,lost,Retail,free\n", encoding="utf-8"
    )
    (tmp_path / "activities.csv").write_text(
        "lead_id,occurred_at,activity_type\n1,2024-01-01,pricing_view\n", encoding="utf-8"
    )
    workspace = _load(
        tmp_path,
        '[source]\nleads = "leads.csv"\nactivities = "activities.csv"\n'
        '[families]\ndemographics = ["industry"]\ninterest = ["plan", "pricing_view"]\n'
        'engagement = ["webinar"]\n',
    )
    assert workspace.families == {"industry": "demographics", "plan": "interest", "pricing_view": "interest"}
    assert workspace.guessed_families == {}
    assert any("'webinar'" in w and "neither a column nor an activity type" in w for w in workspace.warnings)


def test_mapping_entries_for_the_activities_table(tmp_path):
    (tmp_path / "leads.csv").write_text("Contact,outcome\n1,won\n2,lost\n", encoding="utf-8")
    (tmp_path / "events.csv").write_text(
        "Contact;When;Kind\n1;2024-01-01;web_visit\n2;2024-01-02;webinar\n", encoding="utf-8"
    )
    workspace = _load(
        tmp_path,
        '[source]\nleads = "leads.csv"\nactivities = "events.csv"\n'
        '[mapping]\nContact = "lead_id"\nWhen = "occurred_at"\nKind = "activity_type"\n',
    )
    assert workspace.leads["lead_id"].tolist() == ["1", "2"]
    assert workspace.activities.to_pandas()["activity_type"].tolist() == ["web_visit", "webinar"]
    # Only the header is read to check the mapping: a broken event row is reported where it is.
    (tmp_path / "events.csv").write_text(
        "Contact;When;Kind\n1;2024-01-01;web_visit\n2;2024-01-02;webinar;x;y\n", encoding="utf-8"
    )
    with pytest.raises(DataError, match=r"events.csv, row 3: this line has 5 fields"):
        _load(tmp_path, '[source]\nleads = "leads.csv"\nactivities = "events.csv"\n'
                        '[mapping]\nContact = "lead_id"\nWhen = "occurred_at"\nKind = "activity_type"\n')
    assert workspace.activities.to_pandas()["occurred_at"].tolist() == [
        pd.Timestamp("2024-01-01"),
        pd.Timestamp("2024-01-02"),
    ]


def test_activities_parquet_only_needed_columns_and_known_leads(tmp_path):
    (tmp_path / "leads.csv").write_text("lead_id,outcome\n1,won\n2,lost\n3,lost\n", encoding="utf-8")
    rng = np.random.default_rng(0)
    n = 500
    pd.DataFrame(
        {
            "lead_id": rng.integers(1, 5, n),  # 4 is no lead
            "occurred_at": pd.date_range("2024-01-01", periods=n, freq="h", tz="Europe/Berlin"),
            "activity_type": rng.choice(["email_open", "web_visit", "pricing_view"], n),
            "payload": ["x" * 50] * n,
        }
    ).to_parquet(tmp_path / "activities.parquet")
    workspace = _load(tmp_path, '[source]\nleads = "leads.csv"\nactivities = "activities.parquet"\n')
    table = workspace.activities
    assert list(table.table.columns) == ["lead_id", "occurred_at", "activity_type"]  # payload never read
    written = pd.read_parquet(tmp_path / "activities.parquet")
    known = written[written["lead_id"] != 4]
    unknown = len(written) - len(known)
    assert len(table) == n - unknown  # the summary counts the known leads' events only
    assert table.type_counts().to_dict() == known["activity_type"].value_counts().to_dict()
    assert any(f"{unknown:,} activities name no known lead" in w for w in workspace.warnings)
    activities = table.to_pandas()
    mine = activities[activities["lead_id"].isin(["1", "2", "3"])].sort_values("occurred_at")
    expected = known["occurred_at"].dt.tz_convert("UTC").dt.tz_localize(None)  # Berlin times in UTC
    assert mine["occurred_at"].tolist() == expected.tolist()
    assert mine["activity_type"].tolist() == known["activity_type"].tolist()
    assert workspace.as_of == expected.max()


def test_parquet_activity_with_a_non_date_names_its_row_in_the_file(tmp_path):
    (tmp_path / "leads.csv").write_text("lead_id,outcome\n1,won\n2,lost\n", encoding="utf-8")
    pd.DataFrame({
        "lead_id": ["9", "9", "1", "2"],  # the first two name no lead and are left out
        "occurred_at": ["2024-01-01", "2024-01-02", "2024-01-03", "last week"],
        "activity_type": ["web_visit"] * 4,
    }).to_parquet(tmp_path / "events.parquet")
    with pytest.raises(DataError, match=r"events.parquet, column 'occurred_at', row 4: 'last week'"):
        _load(tmp_path, '[source]\nleads = "leads.csv"\nactivities = "events.parquet"\n')


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_activities_without_a_type_are_left_out_like_those_without_a_time(tmp_path, file_format):
    (tmp_path / "leads.csv").write_text("lead_id,outcome\n1,won\n2,lost\n", encoding="utf-8")
    events = pd.DataFrame({
        "lead_id": ["1", "2", "1", "2"],
        "occurred_at": pd.to_datetime(["2024-01-01", None, "2024-01-03", "2024-01-04"]),
        "activity_type": ["web_visit", "webinar", None, "webinar"],
    })
    if file_format == "csv":
        events.to_csv(tmp_path / "events.csv", index=False)
    else:
        events.to_parquet(tmp_path / "events.parquet")
    workspace = _load(tmp_path, f'[source]\nleads = "leads.csv"\nactivities = "events.{file_format}"\n')
    activities = workspace.activities.to_pandas()
    assert activities["lead_id"].astype(str).tolist() == ["1", "2"]
    assert activities["activity_type"].astype(str).tolist() == ["web_visit", "webinar"]
    assert any("2 activities" in w and "no time or no type — left out" in w for w in workspace.warnings)


def test_truth_and_effects_are_loaded(tmp_path):
    (tmp_path / "leads.csv").write_text("lead_id,outcome\n1,won\n2,lost\n", encoding="utf-8")
    pd.DataFrame({"lead_id": [1, 2], "true_probability": [0.7, 0.1]}).to_parquet(tmp_path / "truth.parquet")
    (tmp_path / "truth_effects.json").write_text(json.dumps({"intercept": -2.0}), encoding="utf-8")
    workspace = _load(tmp_path, '[source]\nleads = "leads.csv"\ntruth = "truth.parquet"\n')
    assert workspace.truth["lead_id"].tolist() == ["1", "2"]
    assert workspace.truth_effects == {"intercept": -2.0}


def test_same_input_same_workspace(tmp_path):
    _write_text(tmp_path / "leads.csv", EXPORT, ",", "utf-8", "\n", False)
    first = _load(tmp_path, '[source]\nleads = "leads.csv"\n')
    second = _load(tmp_path, '[source]\nleads = "leads.csv"\n')
    pd.testing.assert_frame_equal(first.leads, second.leads)
    assert first.warnings == second.warnings


# --- data-quality warnings --------------------------------------------------------------------


def _quality_export(tmp_path: Path) -> Path:
    rows = ["lead_id,created_at,mql_at,sql_at,closed_at,outcome,amount,industry,campaign"]
    for i in range(1, 81):
        industry = "Software" if i % 2 else "Retail"
        rows.append(
            f"{i},2024-01-01,2024-01-05,2024-01-10,2024-02-01,{'won' if i % 4 == 0 else 'lost'},"
            f"{100 * i},{industry},Webinar 2024-0{1 + i % 3}"
        )
    rows[3] = (
        "3,2024-01-01,2024-01-05,2023-12-10,2024-02-01,lost,300,Software,Webinar 2024-01"  # SQL before MQL
    )
    rows[8] = "8,2024-01-01,2024-01-05,2024-01-10,,won,800,Retail,Webinar 2024-03"  # won, no close date
    rows[12] = "12,2024-01-01,,,2024-02-01,won,-50,Retail,Webinar 2024-01"  # negative amount
    rows[21] = "21,2024-01-01,2024-01-05,2024-01-10,2024-02-01,lost,2100,Sofware,Webinar 2024-03"  # misspelt
    rows[23] = "23,2024-01-01,2024-01-05,2024-01-10,2024-02-01,lost,2300,  software ,Webinar 2024-03"
    path = tmp_path / "leads.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_quality_problems_are_warnings_and_exclusions(tmp_path):
    _quality_export(tmp_path)
    workspace = _load(tmp_path, '[source]\nleads = "leads.csv"\n')
    excluded = {reason: sorted(ids) for reason, ids in workspace.excluded.items()}
    assert excluded == {
        "stage_dates_out_of_order": ["3"],
        "won_without_close_date": ["8"],
        "negative_amount": ["12"],
        "spelling_variant": ["21"],
    }
    leads = workspace.leads.set_index("lead_id")
    assert pd.isna(leads.loc["12", "amount"]) and pd.isna(leads.loc["21", "industry"])
    assert leads.loc["23", "industry"] == "Software"  # case/space variant merged
    assert len(leads) == 80  # nothing is dropped
    assert leads["campaign"].nunique() == 3  # numbered campaigns are not "misspellings" of each other
    text = "\n".join(workspace.warnings)
    assert "1 leads with a funnel stage is dated before" in text and "rows 4" in text
    assert "'Sofware' (1 row(s), e.g. rows 22) looks like a misspelling of 'Software' (39 rows)" in text


@pytest.mark.parametrize(
    "rare,common,expected",
    [
        ("Sofware", "Software", True),
        ("Retial", "Retail", True),
        ("Helathcare Services", "Healthcare Services", True),
        ("Webinar A", "Webinar B", False),
        ("Webinar 2024-03", "Webinar 2024-04", False),
        ("Spring Promo", "Spring Promo B", False),
        ("Bank", "Bunk", False),
        ("Hardware", "Software", False),
    ],
)
def test_is_misspelling(rare, common, expected):
    assert is_misspelling(rare, common) is expected


def test_punctuation_variants_merge_and_owners_are_not_typos(tmp_path):
    rows = ["lead_id,outcome,industry,owner,campaign"]
    rows += [f"{i},{'won' if i % 3 else 'lost'},E-Commerce,Anne Smith,Webinar A" for i in range(1, 41)]
    rows += ["41,lost,ecommerce,Anna Smith,Webinar B", "42,won,e commerce,Anne Smith,Webinar A"]
    (tmp_path / "leads.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    workspace = _load(tmp_path, '[source]\nleads = "leads.csv"\n')
    leads = workspace.leads
    assert set(leads["industry"]) == {"E-Commerce"}
    assert set(leads["owner"]) == {"Anne Smith", "Anna Smith"}
    assert set(leads["campaign"]) == {"Webinar A", "Webinar B"}
    assert "spelling_variant" not in workspace.excluded


def test_quality_warnings_exit_0_through_the_cli(tmp_path, monkeypatch):
    _quality_export(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["validate", "leads.csv"])
    assert result.exit_code == 0, result.output
    assert "warning: leads.csv: 1 leads with a negative deal amount" in result.output
    assert "kept out: " in result.output


# --- the bad-input corpus: exit 1, one line, names file/column/row, nothing written ------------


def _garbage(folder: Path) -> None:
    (folder / "leads.csv").write_bytes(np.random.default_rng(3).bytes(4096))


def _broken_parquet(folder: Path) -> None:
    EXPORT.to_parquet(folder / "leads.parquet")
    data = (folder / "leads.parquet").read_bytes()
    (folder / "leads.parquet").write_bytes(data[: len(data) // 2])


def _broken_xlsx(folder: Path) -> None:
    (folder / "leads.xlsx").write_bytes(b"PK\x03\x04" + np.random.default_rng(4).bytes(2000))


def _sqlite_without_table(folder: Path) -> None:
    with sqlite3.connect(folder / "crm.db") as connection:
        EXPORT.to_sql("contacts", connection, index=False)
    (folder / "alignment.toml").write_text('[source]\nleads = "sqlite:///crm.db"\nleads_table = "leads"\n')


def _sqlite_missing_file(folder: Path) -> None:
    (folder / "alignment.toml").write_text(
        '[source]\nleads = "sqlite:///nowhere.db"\nleads_table = "leads"\n'
    )


def _excel_duplicate_ids(folder: Path) -> None:
    frame = EXPORT.assign(lead_id=["L-1", "L-2", "L-3", "L-2", "L-5", "L-6"])
    frame.to_excel(folder / "leads.xlsx", index=False)


def _parquet_non_date(folder: Path) -> None:
    EXPORT.assign(
        created_at=["2024-01-02", "2024-01-09", "soon", "2024-02-15", "2024-03-01", "x"]
    ).to_parquet(folder / "leads.parquet")


GENERATED = {
    "binary_garbage": (_garbage, ["leads.csv"], ["leads.csv", "binary"]),
    "broken_parquet": (_broken_parquet, ["leads.parquet"], ["leads.parquet", "not a readable Parquet"]),
    "broken_xlsx": (_broken_xlsx, ["leads.xlsx"], ["leads.xlsx", "not a readable Excel"]),
    "sqlite_without_table": (
        _sqlite_without_table,
        ["--config", "alignment.toml"],
        ["sqlite:///", "crm.db", "no table 'leads'", "contacts"],
    ),
    "sqlite_missing_file": (
        _sqlite_missing_file,
        ["--config", "alignment.toml"],
        ["nowhere.db", "database file not found"],
    ),
    "excel_duplicate_ids": (
        _excel_duplicate_ids,
        ["leads.xlsx"],
        ["leads.xlsx", "column 'lead_id'", "row 5", "'L-2'"],
    ),
    "parquet_non_date": (
        _parquet_non_date,
        ["leads.parquet"],
        ["leads.parquet", "column 'created_at'", "row 3", "'soon'"],
    ),
}


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def _assert_refused(folder: Path, args: list[str], expect: list[str], monkeypatch) -> None:
    monkeypatch.chdir(folder)
    before = _snapshot(folder)
    result = CliRunner().invoke(cli, ["validate", *args])
    assert result.exit_code == 1, result.output
    assert (
        "Traceback" not in result.output
        and result.exception is None
        or isinstance(result.exception, SystemExit)
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    assert lines[0].startswith("error: ")
    for piece in expect:
        assert piece in lines[0], f"{piece!r} not in {lines[0]!r}"
    assert _snapshot(folder) == before  # nothing written


def test_corpus_has_at_least_20_cases():
    assert len(CASES) + len(GENERATED) >= 20
    assert {p.name for p in BAD_INPUTS.iterdir() if p.is_dir()} == set(CASES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_file(case, tmp_path, monkeypatch):
    folder = tmp_path / case
    shutil.copytree(BAD_INPUTS / case, folder)
    _assert_refused(folder, CASES[case]["args"], CASES[case]["expect"], monkeypatch)


@pytest.mark.parametrize("case", sorted(GENERATED))
def test_bad_input_generated(case, tmp_path, monkeypatch):
    make, args, expect = GENERATED[case]
    folder = tmp_path / case
    folder.mkdir()
    make(folder)
    _assert_refused(folder, args, expect, monkeypatch)


def test_amounts_with_a_decimal_comma_read_the_whole_column_that_way(tmp_path):
    (tmp_path / "leads.csv").write_text(
        'lead_id;outcome;amount\n1;won;1.500\n2;lost;"12,50"\n3;lost;\n', encoding="utf-8"
    )
    amounts = _load(tmp_path, '[source]\nleads = "leads.csv"\n').leads["amount"]
    assert amounts.iloc[0] == 1500.0 and amounts.iloc[1] == 12.5  # not 1.5 beside a decimal comma
    (tmp_path / "leads.csv").write_text(
        'lead_id;outcome;amount\n1;won;"1,234.56"\n2;lost;"12,50"\n', encoding="utf-8"
    )
    with pytest.raises(DataError, match=r"column 'amount', row 3: mixes decimal commas \('12,50'\)"):
        _load(tmp_path, '[source]\nleads = "leads.csv"\n')


@pytest.mark.parametrize(
    ("written", "expected"),
    [("1234.5", 1234.5), ("1,234", 1234.0), ("1,234.56", 1234.56), ("1.234,56", 1234.56), ("12,5", 12.5),
     ("€ 1.000,00", 1000.0), ("$2,500", 2500.0)],
)
def test_amounts_with_thousands_and_decimal_commas(tmp_path, written, expected):
    (tmp_path / "leads.csv").write_text(
        f'lead_id;outcome;amount\n1;won;"{written}"\n2;lost;\n', encoding="utf-8"
    )
    workspace = _load(tmp_path, '[source]\nleads = "leads.csv"\n')
    assert workspace.leads["amount"].iloc[0] == pytest.approx(expected)
