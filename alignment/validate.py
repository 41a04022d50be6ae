"""``alignment validate``: check a workspace config, or a bare export, against the data contract.

Prints a summary (rows, date range, outcome counts, the family of every column,
warnings) and returns True, or prints the problem on one line and returns False.
Nothing is ever written.
"""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from alignment import contract
from alignment.config import Config, find_config, load_config, parse_config
from alignment.exceptions import AlignmentError, ConfigError, DataError
from alignment.loader import Workspace, load_workspace
from alignment.wording import listing

CONFIG_SUFFIXES = (".toml", ".yaml", ".yml")


def config_for_export(path: Path, preset: str | None = None) -> Config:
    """An in-memory config reading one export file with the default outcome lists and placeholders.

    Parameters
    ----------
    path : Path
        The export (CSV/TSV, Parquet, Excel); separator and encoding are detected.
    preset : str, optional
        ``"hubspot"`` or ``"salesforce"`` for those CRMs' export headers.

    Returns
    -------
    Config
    """
    if not path.exists():
        raise DataError("file not found", file=str(path), hint="check the path")
    return parse_config({"source": {"leads": str(path.resolve()), "preset": preset or "none"}})


def _config(config_path: Path | None, path: Path | None, preset: str | None) -> Config:
    if config_path is not None and path is not None:
        raise ConfigError("give either --config FILE or an export PATH, not both")
    if path is not None and path.suffix.lower() in CONFIG_SUFFIXES:
        config_path, path = path, None
    if path is not None:
        return config_for_export(path, preset)
    config = load_config(config_path) if config_path is not None else find_config(None)
    if preset is not None:
        config.source.preset = preset
    return config


def summary(workspace: Workspace) -> list[str]:
    """The lines ``alignment validate`` prints for a loaded workspace."""
    leads = workspace.leads
    lines = [f"leads: {len(leads):,} rows, {leads.shape[1]} columns"]
    if "created_at" in leads.columns and leads["created_at"].notna().any():
        created = leads["created_at"]
        lines.append(
            f"created: {created.min():%Y-%m-%d} to {created.max():%Y-%m-%d} "
            f"({int(created.isna().sum()):,} without a date)"
        )
    else:
        lines.append("created: no created_at column — fitting will use a random split, not a time split, "
                     "and there can be no monthly review (it needs created_at)")
    if pd.notna(workspace.as_of):
        lines.append(f"as of: {workspace.as_of:%Y-%m-%d}")
    counts = leads["outcome"].value_counts()
    lines.append("outcome: " + ", ".join(f"{name} {int(counts[name]):,}" for name in contract.OUTCOMES))
    present = [c for c in contract.LEAD_COLUMNS if c in leads.columns]
    lines.append("contract columns: " + ", ".join(present))
    lines.extend(f"note: {note}" for note in workspace.notes)
    by_family: dict[str, list[str]] = {}
    for column, family in workspace.families.items():
        by_family.setdefault(family, []).append(
            column + (" (guessed)" if column in workspace.guessed_families else "")
        )
    for family, columns in by_family.items():
        lines.append(f"family {family}: {listing(columns, 40)}")
    if workspace.ignored:
        lines.append(f"ignored (never features): {listing(workspace.ignored, 40)}")
    if workspace.activities is not None:
        activities = workspace.activities
        types = activities.type_counts()
        lines.append(
            f"activities: {len(activities):,} rows; "
            + ", ".join(f"{name} {int(n):,}" for name, n in types.head(10).items())
        )
    if workspace.truth is not None:
        lines.append(
            f"truth: {len(workspace.truth):,} rows"
            + (" + truth_effects.json" if workspace.truth_effects else "")
        )
    if workspace.excluded:
        lines.append(
            "kept out: " + ", ".join(f"{reason} {len(ids):,}" for reason, ids in workspace.excluded.items())
        )
    lines.append(f"warnings: {len(workspace.warnings)}")
    lines.extend(f"  warning: {warning}" for warning in workspace.warnings)
    return lines


def guard_lines(workspace: Workspace, config: Config) -> list[str]:
    """What the fit's guards would leave out or suspect, measured as ``alignment fit`` measures it."""
    from alignment.model import screen_workspace

    try:
        prepared = screen_workspace(workspace, config)
    except AlignmentError as error:
        return [f"leakage guard: not run ({error.message})"]
    screened = prepared.screened
    lines = [f"leakage guard: {len(screened.leakage)} left out, {len(screened.suspected)} suspected "
             f"(training window of the {prepared.split_kind} split)"]
    lines += [f"  left out (leakage): {item['column']}: {item['reason']}" for item in screened.leakage]
    lines += [f"  suspected leakage (kept): {item['column']}: {item['reason']}"
              for item in screened.suspected]
    lines += [f"  warning: {line}" for line in screened.warnings if "FORCED IN" in line]
    return lines


def run(config_path: Path | None = None, path: Path | None = None, preset: str | None = None) -> bool:
    """Check a config (or a bare export file) and print what was found.

    Parameters
    ----------
    config_path : Path, optional
        A workspace config; default ``./alignment.toml``.
    path : Path, optional
        A bare export file instead of a config (or a config file given as the argument).
    preset : str, optional
        Export header preset (``hubspot``, ``salesforce``, ``none``).

    Returns
    -------
    bool
        True when the data meets the contract (warnings allowed), False after printing the problem.
    """
    try:
        config = _config(config_path, path, preset)
        workspace = load_workspace(config)
    except AlignmentError as error:
        click.echo(f"error: {error.one_line()}", err=True)
        return False
    for line in summary(workspace) + guard_lines(workspace, config):
        click.echo(line)
    click.echo("ok: the data meets the contract" + (" (see the warnings)" if workspace.warnings else ""))
    return True
