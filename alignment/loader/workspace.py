"""Everything a workspace config names, loaded as one :class:`Workspace`."""

from __future__ import annotations

import difflib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pandas as pd
from tqdm.auto import tqdm

from alignment import contract
from alignment.config import Config
from alignment.engine import ActivityTable, connect
from alignment.exceptions import ConfigError
from alignment.loader.activities import load_activities, load_truth
from alignment.loader.conforming import apply_joins, apply_mapping, conform_leads, guess_family
from alignment.loader.reading import _label, read_table, resolve_location
from alignment.presets import PRESET_CUMULATIVE
from alignment.wording import listing


@dataclass
class Workspace:
    """Everything loaded for one workspace config (see docs/architecture.md)."""

    leads: pd.DataFrame
    activities: ActivityTable | None
    """The events, as a table of the configured engine (:class:`alignment.engine.ActivityTable`)."""
    truth: pd.DataFrame | None
    truth_effects: dict | None
    warnings: list[str]
    excluded: dict[str, pd.Index]
    families: dict[str, str]
    as_of: pd.Timestamp
    ignored: list[str] = field(default_factory=list)
    """Columns never used as features: the config's ``families.ignore`` plus contact details."""
    guessed_families: dict[str, str] = field(default_factory=dict)
    """The part of ``families`` assigned by the name heuristic (no family in the config lists them)."""
    notes: list[str] = field(default_factory=list)
    """What was assumed (ids numbered by row, no dates), for ``alignment validate`` and the model card."""


# --- the workspace ----------------------------------------------------------------------------
def _families(
    leads: pd.DataFrame, config: Config, activity_types: list[str], label: str, warnings: list[str]
) -> tuple[dict[str, str], dict[str, str], list[str], list[str]]:
    """Each attribute's family, the ones guessed by name, the columns never used, and the contact details."""
    listed = config.families.family_of()
    contact = [c for c in leads.columns if contract.is_contact_column(c)]
    for column in leads.columns:
        if column in contact or column in contract.LEAD_COLUMNS or column in listed:
            continue
        found = contract.holds_contact_details(leads[column])
        if found:  # contact data under a name nobody would guess: kept out of every artifact all the same
            contact.append(column)
            warnings.append(f"{label}: column '{column}' holds {found}: treated as contact details, never a "
                            "feature (list it under [families] to use it anyway)")
    cumulative = [
        c
        for c in PRESET_CUMULATIVE.get(config.source.preset, ())
        if c in leads.columns and c not in listed and c not in config.families.ignore
    ]
    if cumulative:
        warnings.append(
            f"{label}: {', '.join(cumulative)} are {config.source.preset} counts up to the export date, "
            "not at the scoring moment: left out (for closed leads they count what happened after the "
            "hand-off) — load the activities table instead, or list them under [families] to use them anyway"
        )
    ignored = list(dict.fromkeys([*config.families.ignore, *contact, *cumulative]))
    unknown = [
        c for c in [*listed, *config.families.ignore] if c not in leads.columns and c not in activity_types
    ]
    if unknown:
        warnings.append(
            f"{label}: the config [families] lists {', '.join(repr(c) for c in unknown)}, which is "
            "neither a column nor an activity type — check the spelling"
        )
    contract_columns = [*contract.LEAD_COLUMNS, *contract.ACTIVITY_COLUMNS]
    for header, target in config.mapping.items():
        close = difflib.get_close_matches(target, contract_columns, n=1, cutoff=0.8)
        if target not in contract_columns and close:
            warnings.append(
                f"the config [mapping] sends '{header}' to '{target}', which is not a contract column "
                f"(did you mean '{close[0]}'?): it is read as an attribute"
            )
    families = {
        c: f for c, f in listed.items() if c not in ignored and (c in leads.columns or c in activity_types)
    }
    guessed = {
        c: guess_family(c)
        for c in leads.columns
        if c not in contract.LEAD_COLUMNS and c not in families and c not in ignored
    }
    if guessed:
        shown = listing(f"{c} → {f}" for c, f in guessed.items())
        warnings.append(
            f"{label}: {len(guessed):,} columns are in no family and were assigned by name ({shown}) — "
            "list them under [families] (or families.ignore) to decide"
        )
    families.update(guessed)
    return families, guessed, ignored, [c for c in contact if c not in listed]


def _as_of(config: Config, leads: pd.DataFrame, activities: ActivityTable | None) -> pd.Timestamp:
    if config.scoring.as_of:
        try:
            as_of = pd.Timestamp(config.scoring.as_of)
            # The contract's timestamps are naive UTC: an export date with an offset is converted, not cut.
            return (as_of.tz_convert("UTC").tz_localize(None) if as_of.tzinfo else as_of).as_unit("ns")
        except (ValueError, OverflowError):
            raise ConfigError(
                f"scoring.as_of '{config.scoring.as_of}' is not a date",
                file=_label(str(config.path)) if config.path else None,
                hint="use YYYY-MM-DD",
            ) from None
    latest = [leads[c].max() for c in contract.TIMESTAMP_COLUMNS if c in leads.columns]
    if activities is not None and activities.latest() is not None:
        latest.append(activities.latest())
    latest = [t for t in latest if pd.notna(t)]
    return max(latest) if latest else pd.NaT


def load_workspace(config: Config) -> Workspace:
    """Read, join, map and check everything a workspace config names.

    Parameters
    ----------
    config : Config
        A loaded workspace config (:func:`alignment.config.load_config`).

    Returns
    -------
    Workspace
        Validated leads (and activities, truth), the data-quality warnings, the
        lead ids kept out by reason, the feature family of every attribute, and
        the export date ``as_of`` (NaT when the data holds no timestamps).

    Raises
    ------
    DataError, ConfigError
        A structural problem, in one line naming the file, column and row.
    TypeError
        ``config`` is not a :class:`~alignment.config.Config` (load it with ``load_config`` first).
    """
    if not isinstance(config, Config):
        raise TypeError(
            f"load_workspace needs a Config (alignment.config.load_config), got {type(config).__name__}"
        )
    source = config.source
    warnings: list[str] = []
    steps = tqdm(total=4, desc="loading", unit="step", disable=None, leave=False)
    try:
        location = resolve_location(config, source.leads)
        raw = read_table(
            location,
            separator=source.separator,
            encoding=source.encoding,
            sheet=source.sheet,
            table=source.leads_table,
            query=source.leads_query,
            missing_values=source.missing_values,
        )
        label, offset = raw.attrs["source"], raw.attrs["row_offset"]
        workbook = {key: raw.attrs[key] for key in ("sheets", "sheet") if key in raw.attrs}
        raw = apply_joins(raw, config, label, warnings)
        raw.attrs.update(workbook)
        steps.update()
        leads, lead_warnings, excluded = conform_leads(raw, config, label, offset)
        warnings.extend(lead_warnings)
        steps.update()
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = None
            if source.activities or config.engine.activities_table:
                # The engine reads the events on its own threads while the truth (the demo's) is read here.
                # It is connected here first: a Spark session started off the main thread ignores Ctrl-C.
                connect(config.engine)
                location = resolve_location(config, source.activities) if source.activities else None
                pending = pool.submit(load_activities, location, config, leads["lead_id"], warnings)
            truth = effects = None
            if source.truth:
                truth, effects = load_truth(resolve_location(config, source.truth))
            activities = pending.result() if pending is not None else None
        steps.update(2)
    finally:
        steps.close()
    activity_types = activities.activity_types if activities is not None else []
    families, guessed, ignored, contact = _families(leads, config, activity_types, label, warnings)
    # Contact details are never a feature and never shown: they are not kept at all (a quarter of a CRM
    # export's memory: 0.8 GB at 10M leads). Their names stay in `ignored`.
    leads = leads.drop(columns=[c for c in contact if c not in contract.LEAD_COLUMNS])
    notes = []
    if leads.attrs.get("lead_id_numbered"):
        notes.append("no lead_id column: leads are numbered by row (1 = first data row)")
    if "created_at" not in leads.columns or leads["created_at"].isna().all():
        notes.append("no created_at dates: there can be no time split (fitting will say so)")
    return Workspace(
        leads=leads,
        activities=activities,
        truth=truth,
        truth_effects=effects,
        warnings=warnings,
        excluded=excluded,
        families=families,
        as_of=_as_of(config, leads, activities),
        ignored=ignored,
        guessed_families=guessed,
        notes=notes,
    )


# Earlier private names, still used by alignment.model.
_apply_mapping = apply_mapping
_resolve = resolve_location
