"""The ``alignment`` command line: thin glue over the package's modules.

Each command imports what it needs lazily (so ``alignment --help`` is instant)
and every :class:`~alignment.exceptions.AlignmentError` becomes one line on
stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import functools
import gc
import sys
from pathlib import Path

import click

from alignment.exceptions import AlignmentError
from alignment.presets import PRESET_NAMES

EXIT_USER_ERROR = 1


def user_errors(func):
    """Turn an AlignmentError into one clear line and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except AlignmentError as exc:
            click.echo(f"error: {exc.one_line()}", err=True)
            sys.exit(EXIT_USER_ERROR)
        except KeyboardInterrupt:
            click.echo("interrupted; nothing was written", err=True)
            sys.exit(130)

    return wrapper


config_option = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Workspace config (TOML or YAML). Default: ./alignment.toml.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="alignment")
def cli() -> None:
    """Get sales and marketing to agree on what a good lead is, and keep them to it."""


# --- data in (issue: foundation) -------------------------------------------------------------


@cli.command()
@config_option
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--preset", type=click.Choice(PRESET_NAMES), default=None,
              help="Export header preset, for a bare export file.")
@user_errors
def validate(config_path: Path | None, path: Path | None, preset: str | None) -> None:
    """Check a workspace config, or a bare export file, against the data contract."""
    from alignment import validate as validate_module

    ok = validate_module.run(config_path=config_path, path=path, preset=preset)
    sys.exit(0 if ok else EXIT_USER_ERROR)


@cli.command("demo-data")
@click.option("--leads", "n_leads", type=click.IntRange(min=200), default=20_000, show_default=True)
@click.option("--months", type=click.IntRange(min=6), default=24, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("data/demo"),
              show_default=True)
@click.option("--format", "file_format", type=click.Choice(["csv", "parquet"]), default=None,
              help="Leads file format (default: csv up to 100k leads, parquet above).")
@click.option("--reports-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the written config sends monthly reports (default: OUT/reports).")
@click.option("--end", default="2026-10-31", show_default=True,
              help="Export date YYYY-MM-DD (the history ends that day): a seed gives the same files any day.")
@user_errors
def demo_data(n_leads: int, months: int, seed: int, out: Path, file_format: str | None,
              reports_dir: Path | None, end: str) -> None:
    """Generate a realistic, seeded B2B CRM history and a ready config."""
    from alignment import demo

    demo.write_demo(out, n_leads=n_leads, months=months, seed=seed, file_format=file_format,
                    reports_dir=reports_dir, end=end)
    click.echo(demo.demo_summary(out))


# --- the scale (issue: fit) ------------------------------------------------------------------


@cli.command()
@config_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Model folder (default: the config's paths.model).")
@user_errors
def fit(config_path: Path | None, out: Path | None) -> None:
    """Fit the points scale on closed deals and write a model folder."""
    from alignment import model

    model.run_fit(config_path=config_path, out=out)


@cli.command()
@click.option("--model", "model_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--input", "input_path", required=True, type=click.Path(path_type=Path))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@config_option
@user_errors
def score(model_dir: Path, input_path: Path, out_path: Path, config_path: Path | None) -> None:
    """Score new leads: score, sub-scores, grade, probability, top reasons."""
    from alignment import model

    model.run_score(model_dir=model_dir, input_path=input_path, out_path=out_path, config_path=config_path)


@cli.command()
@click.option("--model", "model_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--dialect", required=True, type=click.Choice(["duckdb", "spark", "postgres", "snowflake",
                                                              "bigquery"]))
@click.option("--as-of", "as_of", default=None,
              help="score at this moment (UTC); default: when the query runs")
@click.option("--leads-table", default="leads", show_default=True)
@click.option("--activities-table", default="activities", show_default=True)
@user_errors
def sql(model_dir: Path, dialect: str, as_of: str | None, leads_table: str, activities_table: str) -> None:
    """Print the scale as one SQL SELECT over canonical leads and activities tables."""
    from alignment.engine.sql import print_scale_sql

    print_scale_sql(model_dir, dialect, as_of=as_of, leads_table=leads_table,
                    activities_table=activities_table)


# --- the workshop and the agreement (issue: workshop) ----------------------------------------


@cli.command()
@config_option
@click.option("--model", "model_dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--port", type=int, default=8866, show_default=True)
@user_errors
def workshop(config_path: Path | None, model_dir: Path | None, port: int) -> None:
    """Serve the calibration workshop with Voila on 127.0.0.1."""
    from alignment import serve

    serve.run_workshop(config_path=config_path, model_dir=model_dir, port=port)


@cli.group()
def agreement() -> None:
    """Sign, list, show, compare and verify the signed agreements."""


@agreement.command("list")
@config_option
@user_errors
def agreement_list(config_path: Path | None) -> None:
    """List every saved agreement version."""
    from alignment import agreement as agreement_module

    agreement_module.run_list(config_path=config_path)


@agreement.command("show")
@config_option
@click.argument("version", required=False)
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the printable one-page sheet here.")
@user_errors
def agreement_show(config_path: Path | None, version: str | None, html_out: Path | None) -> None:
    """Show one agreement (default: the one in force)."""
    from alignment import agreement as agreement_module

    agreement_module.run_show(config_path=config_path, version=version, html_out=html_out)


@agreement.command("sign")
@config_option
@click.option("--mql", type=float, default=None, help="MQL threshold (0-100).")
@click.option("--fast-track", "fast_track", type=float, default=None, help="Fast-track threshold.")
@click.option("--recycle", type=float, default=None, help="Recycle threshold (below it: back to nurture).")
@click.option("--optimum", is_flag=True, help="Thresholds not given: the workshop's expected-value optimum.")
@click.option("--marketing", required=True, help="Who signs for marketing.")
@click.option("--sales", required=True, help="Who signs for sales.")
@click.option("--effective-from", "effective_from", default=None, help="YYYY-MM-DD; default: today.")
@click.option("--follow-up-hours", "follow_up_hours", type=float, default=None)
@click.option("--accept-within-days", "accept_within_days", type=float, default=None)
@click.option("--mql-per-month", "mql_per_month", type=int, default=None)
@click.option("--min-win-rate", "min_win_rate", type=float, default=None, help="A fraction, e.g. 0.1.")
@click.option("--notes", default="")
@click.option("--model", "model_dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@user_errors
def agreement_sign(config_path: Path | None, **options) -> None:
    """Sign a new agreement version without the workshop (omitted service levels: the config's)."""
    from alignment import agreement as agreement_module

    agreement_module.run_sign(config_path, **options)


@agreement.command("diff")
@config_option
@click.argument("first")
@click.argument("second")
@user_errors
def agreement_diff(config_path: Path | None, first: str, second: str) -> None:
    """Say in words what changed from version FIRST to version SECOND."""
    from alignment import agreement as agreement_module

    agreement_module.run_diff(config_path, first, second)


@agreement.command("verify")
@config_option
@user_errors
def agreement_verify(config_path: Path | None) -> None:
    """Check that no saved version was changed after it was signed (exit 1 names the first)."""
    from alignment import agreement as agreement_module

    sys.exit(0 if agreement_module.run_verify(config_path) else EXIT_USER_ERROR)


# --- the monthly review (issue: report) ------------------------------------------------------


@cli.command()
@config_option
@click.option("--month", type=str, default=None, help="YYYY-MM (default: the last full month).")
@click.option("--all-missing", is_flag=True, help="Render every month with data not yet rendered.")
@click.option("--skip-existing", is_flag=True, help="Leave a month that is already rendered as it is.")
@user_errors
def report(config_path: Path | None, month: str | None, all_missing: bool, skip_existing: bool) -> None:
    """Render the monthly review against the agreement in force."""
    from alignment.notebook import REVIEW_NOTEBOOK, warm_kernel

    # The kernel starts and imports what the review needs on the second core while this process loads.
    with warm_kernel(REVIEW_NOTEBOOK) as warm:
        from alignment.review import report as report_module

        ok = report_module.run_report(config_path=config_path, month=month, all_missing=all_missing,
                                      skip_existing=skip_existing, warm=warm)
    sys.exit(0 if ok else EXIT_USER_ERROR)


def main() -> None:
    try:
        cli()
    finally:
        # What is written is written and closed by now: the interpreter's last garbage collection would only
        # walk every object of pandas, scikit-learn and matplotlib (half a second) to free what the process
        # gives back on exit anyway.
        gc.freeze()


if __name__ == "__main__":
    main()
