"""Point-in-time features and labels: what was known about each lead at its scoring moment.

The scoring moment is the MQL hand-off (``scoring.moment = "mql"``) or ``days_after_created`` days after
creation (``"created"``). Every feature uses only what was known at that moment, so the scale is fitted on the
same information it will see when it scores a new lead:

- attributes from the leads table, each in the family the workspace assigns it (attributes carry no
  timestamp: they are taken as known at the moment, and the leakage guard screens the ones that are not);
- ``source`` and ``campaign`` (funnel) and, when the moment is not the MQL itself, whether the lead had
  reached MQL / SAL / SQL by then (``reached_mql`` ...); at the MQL moment, ``days_to_mql`` (creation to
  hand-off);
- per activity type, the exponentially decayed count at the moment (weight ``0.5 ** (age_days / half_life)``),
  named ``<type>_decayed``; plus ``days_since_last_activity`` and ``active_days_90d`` (distinct calendar days
  with any activity in the 90 days up to the moment). Only events strictly before the moment count. These
  are aggregated by the configured engine (:mod:`alignment.engine.point_in_time`), not in pandas.

The label is 1 when the lead was won within ``horizon_days`` of its moment, 0 when it was lost, won later, or
still open with its horizon passed, and NaN (left out of fitting) when it is still open inside its horizon,
never reached the moment, or was closed before it. See ``docs/features.md``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from alignment.config import FAMILIES, Config
from alignment.contract import FIT_EXCLUSIONS
from alignment.engine import ActivityTable, activity_table, connect
from alignment.engine import activity_features as engine_activity_features
from alignment.engine.point_in_time import events_after_the_moment, feature_names
from alignment.exceptions import DataError

DAY_NS = 86_400 * 10**9
_NAT = np.iinfo(np.int64).min


DEFAULT_ACTIVITY_FAMILY = {
    "email_open": "engagement",
    "email_click": "engagement",
    "webinar": "engagement",
    "pricing_page": "interest",
    "content_download": "interest",
    "web_visit": "activity",
    "demo_request": "activity",
    "form": "activity",
}
"""Family of each known activity type's decayed count; unknown types go to ``activity``."""

NOT_ATTRIBUTES = frozenset({
    "lead_id", "outcome", "created_at", "closed_at", "amount", "mql_at", "sal_at", "sql_at", "rejected_at",
    "rejection_reason", "first_touch_at", "owner", "legacy_score",
})
"""Contract columns never used as raw features: ids, the outcome, stage dates, and what sales records after
the hand-off (the owner, rejection reason, deal amount) or the score being compared against."""

STAGE_COLUMNS = ("mql_at", "sal_at", "sql_at")
PROGRESS_MIN_EVENTS = 1_000_000



@dataclass
class FeatureSet:
    """Features, labels and scoring moments of a set of leads (the features → scorecard contract).

    Attributes
    ----------
    X : pd.DataFrame
        Indexed by ``lead_id``; one column per candidate feature, raw values known at the scoring moment
        (numbers as float, categories as strings; NaN = missing).
    family : dict[str, str]
        Feature → one of :data:`alignment.config.FAMILIES`.
    monotone : dict[str, str]
        Feature → ``"increasing"``, ``"decreasing"`` or ``"none"``.
    label : pd.Series
        Float, index ``lead_id``: 1.0 won within the horizon, 0.0 not, NaN excluded from fitting.
    scored_at, created_at : pd.Series
        Timestamps (``datetime64[ns]``, NaT when unknown), index ``lead_id``.
    has_dates : bool
        Whether there is a scoring moment at all (a time split is possible).
    notes : list[str]
        What was dropped or assumed, for the model card.
    """

    X: pd.DataFrame
    family: dict[str, str]
    monotone: dict[str, str]
    label: pd.Series
    scored_at: pd.Series
    created_at: pd.Series
    has_dates: bool
    notes: list[str] = field(default_factory=list)


def activity_slug(activity_type: Any) -> str:
    """Normalise an activity type name (``"Pricing page"`` → ``"pricing_page"``)."""
    return re.sub(r"[^0-9a-z]+", "_", str(activity_type).strip().lower()).strip("_")


def activity_feature_name(activity_type: Any) -> str:
    """Name of an activity type's decayed-count feature (``"pricing page"`` → ``"pricing_page_decayed"``)."""
    return f"{activity_slug(activity_type)}_decayed"


def _ns(values: pd.Series | pd.Index | np.ndarray, *, what: str) -> np.ndarray:
    """Timestamps as int64 nanoseconds (NaT as int64 min), whatever their resolution or time zone."""
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    if series.dtype.kind != "M":
        if series.isna().all():
            return np.full(len(series), _NAT, dtype=np.int64)
        raise DataError(f"expected timestamps, found {series.dtype}", column=what,
                        hint="load the data with alignment.loader.load_workspace")
    return series.to_numpy().astype("datetime64[ns]", copy=False).view(np.int64)


def _timestamps(ns: np.ndarray, index: pd.Index) -> pd.Series:
    return pd.Series(ns.view("datetime64[ns]"), index=index)


def _resolve_as_of(workspace: Any, leads: pd.DataFrame, activities: ActivityTable | None) -> int:
    """The export date in ns, or the latest timestamp in the data; ``_NAT`` when there is none."""
    as_of = getattr(workspace, "as_of", None)
    if as_of is not None and not pd.isna(as_of):
        return int(pd.Timestamp(as_of).as_unit("ns").value)
    latest = _NAT
    for column in ("created_at", "closed_at", *STAGE_COLUMNS, "rejected_at", "first_touch_at"):
        if column in leads:
            latest = max(latest, int(_ns(leads[column], what=column).max(initial=_NAT)))
    if activities is not None and activities.latest() is not None:
        latest = max(latest, int(activities.latest().value))
    return latest


def scoring_moments(leads: pd.DataFrame, moment: str = "mql", days_after_created: int = 0
                    ) -> tuple[pd.Series, str | None, list[str]]:
    """When each lead is scored, for fit, score and review alike (the one home of this rule).

    Parameters
    ----------
    leads : DataFrame
        Canonical leads.
    moment : {"mql", "created"}
        ``"mql"``: the MQL hand-off; when the data has no ``mql_at`` at all, ``days_after_created`` after
        creation instead. ``"created"``: ``days_after_created`` after creation.
    days_after_created : int

    Returns
    -------
    moments : Series
        Timestamps (NaT = never reached, or unknown), index of ``leads``.
    kind : str or None
        ``"mql"``, ``"created"``, or None when the data has no timestamps to place a moment.
    notes : list of str
        The fallbacks taken.
    """
    if moment not in ("mql", "created"):
        raise ValueError(f"moment must be 'mql' or 'created', got {moment!r}")
    notes: list[str] = []
    if moment == "mql" and "mql_at" in leads and leads["mql_at"].notna().any():
        return _timestamps(_ns(leads["mql_at"], what="mql_at"), leads.index), "mql", notes
    has_created = "created_at" in leads and leads["created_at"].notna().any()
    if moment == "mql" and has_created:
        notes.append("scoring moment 'mql' asked for but the data has no mql_at: scored "
                     f"{days_after_created} days after creation instead")
    if has_created:
        created = _ns(leads["created_at"], what="created_at")
        shifted = np.where(created == _NAT, _NAT, created + days_after_created * DAY_NS)
        return _timestamps(shifted, leads.index), "created", notes
    notes.append("no timestamps to place a scoring moment (no created_at / mql_at): labels are the "
                 "outcome as exported, and there can be no time split")
    return _timestamps(np.full(len(leads), _NAT, dtype=np.int64), leads.index), None, notes


def _scoring_moments(leads: pd.DataFrame, config: Config) -> tuple[np.ndarray, str | None, list[str]]:
    """:func:`scoring_moments` of the config's scoring section, as int64 ns (``_NAT`` = none)."""
    moments, kind, notes = scoring_moments(leads, config.scoring.moment, config.scoring.days_after_created)
    return _ns(moments, what="scored_at"), kind, notes


def _labels(
    outcome: pd.Series,
    closed_at: pd.Series | None,
    scored_ns: np.ndarray,
    as_of_ns: int,
    horizon_days: int,
    *,
    has_dates: bool,
) -> tuple[np.ndarray, list[str]]:
    """Won within ``horizon_days`` of the moment (1), not (0), or excluded (NaN); see the module docstring."""
    state = outcome.astype(object).to_numpy()
    won, lost, open_ = state == "won", state == "lost", state == "open"
    label = np.full(len(state), np.nan)
    notes: list[str] = []
    if not has_dates:
        label[won], label[lost] = 1.0, 0.0
        if open_.any():
            notes.append(f"{int(open_.sum())} open leads left out of fitting (no dates to tell whether "
                         "their horizon has passed)")
        return label, notes

    horizon_ns = horizon_days * DAY_NS
    reached = (scored_ns != _NAT) & ((as_of_ns == _NAT) | (scored_ns <= as_of_ns))
    closed = (np.full(len(state), _NAT, dtype=np.int64) if closed_at is None
              else _ns(closed_at, what="closed_at"))
    has_close = closed != _NAT
    closed_before = reached & has_close & (won | lost) & (closed < scored_ns)
    within = has_close & (closed - scored_ns <= horizon_ns)

    label[reached & lost] = 0.0
    label[reached & won & within] = 1.0
    label[reached & won & has_close & ~within] = 0.0
    won_no_date = reached & won & ~has_close
    # Without any close dates a win cannot be placed in time: taken as within the horizon. With close dates,
    # a win that lacks one is left out (the loader reports it as won_without_close_date).
    label[won_no_date] = 1.0 if closed_at is None else np.nan
    horizon_passed = (as_of_ns != _NAT) & (scored_ns + horizon_ns <= as_of_ns)
    label[reached & open_ & horizon_passed] = 0.0
    label[closed_before] = np.nan

    counts = {
        "never reached the scoring moment": int((~reached).sum()),
        "still open inside their horizon": int((reached & open_ & ~horizon_passed).sum()),
        "closed before their scoring moment": int(closed_before.sum()),
    }
    for reason, count in counts.items():
        if count:
            notes.append(f"{count} leads left out of fitting: {reason}")
    if won_no_date.any():
        notes.append(f"{int(won_no_date.sum())} won leads have no closed_at: "
                     + ("counted as won within the horizon" if closed_at is None else "left out of fitting"))
    late = int((reached & won & has_close & ~within).sum())
    if late:
        notes.append(f"{late} leads won after the {horizon_days}-day horizon count as not won")
    return label, notes


def _attribute_column(series: pd.Series) -> pd.Series | None:
    """An attribute as a feature: numbers and booleans as float, text as a Categorical of its strings (a
    byte per lead, not a Python string: 10M leads × 7 text columns as objects took 4 GB); timestamps
    refused."""
    if series.dtype.kind in "mM" or isinstance(series.dtype, pd.DatetimeTZDtype):
        return None
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return series.astype("float64")
    return _text_categories(series)


def _text_categories(series: pd.Series) -> pd.Series:
    """Text values as a Categorical whose categories are strings, sorted (missing stays missing).

    Only the distinct values are turned into strings (two that read alike, ``1`` and ``"1"``, become one
    category): a million leads' values each made a Python string first took 0.16 s a column."""
    if isinstance(series.dtype, pd.CategoricalDtype) and pd.api.types.is_string_dtype(series.cat.categories):
        return series
    codes, distinct = pd.factorize(series)
    text = pd.Index(distinct.astype(object), dtype=object).astype("str")
    categories = text.unique().sort_values()
    codes = np.append(categories.get_indexer(text), -1)[codes]  # a missing value's -1 stays -1
    return pd.Series(pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(categories)),
                     index=series.index, name=series.name)


def build_features(
    workspace: Any,
    config: Config,
    *,
    for_fitting: bool = True,
    activity_types: Sequence[str] | None = None,
) -> FeatureSet:
    """Point-in-time features, labels and scoring moments of every lead of a workspace.

    Parameters
    ----------
    workspace : alignment.loader.Workspace
        Needs ``leads``, ``activities`` (or None), ``families`` and ``as_of`` as documented in
        ``docs/architecture.md``.
    config : Config
        The workspace config (``scoring`` and ``families`` sections).
    for_fitting : bool, default True
        False when scoring new leads: labels are all NaN, and the moment is capped at ``as_of`` (a lead that
        has not reached its moment yet is scored on what is known now).
    activity_types : sequence of str, optional
        Activity types whose ``<type>_decayed`` column must exist even when the data has no such event
        (pass the fitted model's types when scoring, so an absent type reads as a count of 0, not missing).

    Returns
    -------
    FeatureSet
        See ``docs/architecture.md`` "FeatureSet".

    Raises
    ------
    DataError
        The leads have no outcome column (when fitting), duplicate ids, or the activities lack a column.
    """
    leads, activities = _check_inputs(workspace, config, for_fitting, activity_types)
    lead_index = _lead_index(leads)
    notes: list[str] = []
    # A bar only where it takes seconds (millions of events); off when not on a terminal.
    large = activities is not None and len(activities) >= PROGRESS_MIN_EVENTS
    steps = tqdm(total=3, desc="features", unit="step", disable=None if large else True, leave=False)
    moments, kind, moment_notes = _scoring_moments(leads, config)
    notes += moment_notes
    has_dates = kind is not None
    as_of_ns = _resolve_as_of(workspace, leads, activities)
    if as_of_ns != _NAT and getattr(workspace, "as_of", None) is None:
        notes.append(f"no export date given: as_of taken as the latest timestamp, "
                     f"{pd.Timestamp(as_of_ns).isoformat()}")

    # When features are taken: the moment, capped at the export date; "now" for a lead without a moment.
    feature_time = moments.copy()
    if as_of_ns != _NAT:
        feature_time = np.where((feature_time == _NAT) | (feature_time > as_of_ns), as_of_ns, feature_time)
    if for_fitting:
        label = _fit_labels(workspace, leads, lead_index, moments, as_of_ns, config, has_dates, notes)
        scored_ns = moments
    else:
        label = np.full(len(leads), np.nan)
        scored_ns = feature_time

    steps.update()
    found = _Columns()
    ignored = set(config.families.ignore) | set(getattr(workspace, "ignored", None) or ())
    config_family = config.families.family_of()
    with ThreadPoolExecutor(max_workers=1) as pool:
        aggregation = None
        wanted = activities is not None and (len(activities) or activity_types)
        if wanted and (has_dates or not for_fitting):
            # The engine aggregates the events on its own threads while pandas builds the leads' columns.
            aggregation = pool.submit(_aggregate_activities, activities, activity_types, lead_index,
                                      feature_time, config, for_fitting)
        _lead_attributes(workspace, leads, ignored, found, notes)
        _funnel_features(leads, kind, moments, feature_time, found)
        steps.update()
        if wanted and aggregation is None:
            notes.append("activity features left out: without a scoring moment they cannot be computed "
                         "point in time")
        if aggregation is not None:
            _activity_features(activities, *aggregation.result(), config_family, for_fitting, found, notes)
    steps.update()
    steps.close()
    for name in found.derived:
        found.family[name] = config_family.get(name, found.family[name])
    for name in [*found.derived, *found.activity]:
        if name in ignored:
            del found.columns[name], found.family[name]
            notes.append(f"feature '{name}' left out: listed under families.ignore")

    X = pd.DataFrame(found.columns, index=lead_index)
    created_ns = (_ns(leads["created_at"], what="created_at") if "created_at" in leads
                  else np.full(len(leads), _NAT, dtype=np.int64))
    monotone = _monotone(list(X.columns), found.activity, config, notes)
    return FeatureSet(
        X=X,
        family={name: found.family[name] for name in X.columns},
        monotone=monotone,
        label=pd.Series(label, index=lead_index, name="label"),
        scored_at=_timestamps(scored_ns, lead_index),
        created_at=_timestamps(created_ns, lead_index),
        has_dates=has_dates,
        notes=notes,
    )


@dataclass
class _Columns:
    """The feature columns found so far, their families, and which were derived or come from activities."""

    columns: dict[str, pd.Series | np.ndarray] = field(default_factory=dict)
    family: dict[str, str] = field(default_factory=dict)
    derived: list[str] = field(default_factory=list)
    activity: list[str] = field(default_factory=list)


def _check_inputs(workspace: Any, config: Config, for_fitting: bool,
                  activity_types: Sequence[str] | None) -> tuple[pd.DataFrame, ActivityTable | None]:
    """The leads and activities of a workspace, or the one-line error a caller gets for the wrong thing."""
    if not isinstance(config, Config):
        raise TypeError(f"config must be an alignment.config.Config, not {type(config).__name__}")
    if not isinstance(for_fitting, bool):
        raise TypeError(f"for_fitting must be a bool, not {type(for_fitting).__name__}")
    leads = getattr(workspace, "leads", None)
    if not isinstance(leads, pd.DataFrame):
        raise TypeError("workspace.leads must be a DataFrame (pass alignment.loader.load_workspace(config))")
    if isinstance(activity_types, str):
        raise TypeError("activity_types must be a list of activity type names, not a string")
    activities = getattr(workspace, "activities", None)
    if isinstance(activities, pd.DataFrame):
        activities = activity_table(activities, connect(config.engine))
    elif activities is not None and not isinstance(activities, ActivityTable):
        raise TypeError("workspace.activities must be an ActivityTable, a DataFrame or None")
    if for_fitting and "outcome" not in leads:
        raise DataError("the leads have no outcome column, so there is nothing to fit on", column="outcome",
                        hint="map the export's status column to 'outcome' in the config's [mapping]")
    return leads, activities


def _lead_index(leads: pd.DataFrame) -> pd.Index:
    """The leads' ids as the features' index (row numbers when the export has none); unique."""
    lead_ids = (leads["lead_id"].astype(str) if "lead_id" in leads
                else pd.Series(np.arange(len(leads)).astype(str), index=leads.index))
    lead_index = pd.Index(lead_ids.array, name="lead_id")  # Arrow strings: no Python object per lead
    if not lead_index.is_unique:
        first = lead_index[lead_index.duplicated()][0]
        raise DataError(f"lead id '{first}' appears more than once", column="lead_id",
                        hint="ids must be unique: remove the duplicate rows")
    return lead_index


def _fit_labels(workspace: Any, leads: pd.DataFrame, lead_index: pd.Index, moments: np.ndarray, as_of_ns: int,
                config: Config, has_dates: bool, notes: list[str]) -> np.ndarray:
    """Labels for fitting, with the leads the loader flagged (:data:`FIT_EXCLUSIONS`) left out (NaN)."""
    label, label_notes = _labels(leads["outcome"], leads.get("closed_at"), moments, as_of_ns,
                                 config.scoring.horizon_days, has_dates=has_dates)
    notes += label_notes
    excluded = getattr(workspace, "excluded", None) or {}
    for reason in FIT_EXCLUSIONS:
        ids = excluded.get(reason)
        if ids is not None and len(ids):
            hit = lead_index.isin(pd.Index(ids).astype(str)) & ~np.isnan(label)
            label[hit] = np.nan
            if hit.any():
                notes.append(f"{int(hit.sum())} leads left out of fitting: {reason.replace('_', ' ')}")
    return label


def _lead_attributes(workspace: Any, leads: pd.DataFrame, ignored: set, found: _Columns,
                     notes: list[str]) -> None:
    """The leads' own attributes in a known family, then source and campaign (the funnel family)."""
    for column, fam in getattr(workspace, "families", {}).items():
        if column not in leads or column in NOT_ATTRIBUTES or column in ignored or fam not in FAMILIES:
            continue
        values = _attribute_column(leads[column])
        if values is None:
            notes.append(f"attribute '{column}' is a timestamp: left out (it cannot be placed in time "
                         "relative to the scoring moment)")
            continue
        found.columns[column], found.family[column] = values.array, fam
    for column in ("source", "campaign"):
        if column in leads and column not in found.family and column not in ignored:
            found.columns[column], found.family[column] = _text_categories(leads[column]).array, "funnel"


def _funnel_features(leads: pd.DataFrame, kind: str | None, moments: np.ndarray, feature_time: np.ndarray,
                     found: _Columns) -> None:
    """Stages reached by the moment (scored at creation), or the days from creation to MQL (at the MQL)."""
    if kind == "created":
        for stage in STAGE_COLUMNS:
            if stage in leads and leads[stage].notna().any():
                name = f"reached_{stage.removesuffix('_at')}"
                stage_ns = _ns(leads[stage], what=stage)
                found.columns[name] = ((stage_ns != _NAT) & (stage_ns <= feature_time)).astype(np.float64)
                found.family[name] = "funnel"
                found.derived.append(name)
    elif kind == "mql" and "created_at" in leads:
        created = _ns(leads["created_at"], what="created_at")
        known = (created != _NAT) & (moments != _NAT)
        found.columns["days_to_mql"] = np.where(known, (moments - created) / DAY_NS, np.nan)
        found.family["days_to_mql"] = "funnel"
        found.derived.append("days_to_mql")


def _aggregate_activities(activities: ActivityTable, activity_types: Sequence[str] | None,
                          lead_index: pd.Index, feature_time: np.ndarray, config: Config,
                          for_fitting: bool) -> tuple[list, dict]:
    """The engine's point-in-time aggregation for these leads: the slugs and one array per column."""
    slug_of = {raw: activity_slug(raw) for raw in activities.activity_types}
    slugs = sorted(set(slug_of.values()) | {activity_slug(name) for name in activity_types or ()})
    half_life = {slug: _lookup(config.scoring.half_life_days, slug, config.scoring.default_half_life_days)
                 for slug in slugs}
    leads = _leads_table(lead_index, feature_time)
    expression = engine_activity_features(activities.table, leads, slug_of, half_life, key="lead_position",
                                          extra_slugs=slugs)
    result = activities.backend.to_pyarrow(expression)  # Arrow straight to numpy: no pandas frame between
    position = result["lead_position"].to_numpy()
    aggregated = {}
    for name in result.column_names[1:]:
        column = np.empty(len(lead_index), dtype=np.float64 if not name.startswith("n_") else np.int64)
        column[position] = result[name].to_numpy()
        aggregated[name] = column
    if for_fitting:
        aggregated["n_after"] = _events_after(activities, leads, int(aggregated["n_counted"].sum()),
                                              bool((feature_time == _NAT).any()))
    return slugs, aggregated


def _events_after(activities: ActivityTable, leads: Any, counted: int, some_without_moment: bool) -> int:
    """The known leads' events at or after their moment (not counted)."""
    if activities.known_leads_only and not some_without_moment:
        # Every event counted in len() is its known lead's, and every lead has a moment: what was not
        # counted is after it. A second scan of the events would only confirm it (a second a million leads).
        return len(activities) - counted
    return int(activities.backend.execute(events_after_the_moment(activities.table, leads)))


def _activity_features(activities: ActivityTable, slugs: list[str], aggregated: dict[str, np.ndarray],
                       config_family: dict, for_fitting: bool, found: _Columns, notes: list[str]) -> None:
    """The aggregated activity features as columns: a decayed count per type, days since the last event,
    active days; when fitting, how many events were not counted (for the model card)."""
    names = feature_names(slugs)
    if for_fitting:
        after = aggregated["n_after"]
        unknown = len(activities) - int(aggregated["n_counted"].sum()) - after
        if unknown:
            notes.append(f"{unknown} activities belong to no known lead and were ignored")
        if after:
            notes.append(f"{after} activities at or after their lead's scoring moment were not counted")
    for slug, feature in zip(slugs, names[:len(slugs)], strict=True):
        if feature in found.columns:
            raise DataError(f"the activity feature '{feature}' clashes with a leads column", column=feature,
                            hint="rename the column, or list it under families.ignore")
        found.columns[feature] = aggregated[feature]
        default_family = DEFAULT_ACTIVITY_FAMILY.get(slug, "activity")
        found.family[feature] = config_family.get(feature) or _lookup(config_family, slug, default_family)
        found.activity.append(feature)
    for name in names[len(slugs):]:
        found.columns[name] = aggregated[name]
        found.family[name] = "activity"
        found.derived.append(name)


def _leads_table(lead_index: pd.Index, feature_time: np.ndarray) -> Any:
    """The leads as the engine sees them: id, the moment their features are taken at, and their position."""
    import ibis

    moments = pd.Series(feature_time.view("datetime64[ns]")).astype("datetime64[us]")
    return ibis.memtable(pd.DataFrame({"lead_id": lead_index.astype("str").array, "scored_at": moments,
                                       "lead_position": np.arange(len(lead_index))}))


def _lookup(table: dict[str, Any], slug: str, default: Any) -> Any:
    """A per-activity-type config value, matching the config's key spelled any way."""
    by_slug = {activity_slug(key): value for key, value in table.items()}
    return by_slug.get(slug, default)


def _monotone(features: list[str], activity_features: list[str], config: Config, notes: list[str]) -> dict:
    """Behavioural counts increase, recency decreases, the rest is free; ``scoring.monotone`` overrides."""
    default = {name: "none" for name in features}
    for name in activity_features:
        default[name] = "increasing"
    for name in features:
        if name.startswith(("reached_", "active_days_")):
            default[name] = "increasing"
        elif name == "days_since_last_activity":
            default[name] = "decreasing"
    decayed_of = {activity_slug(name): activity_feature_name(name) for name in config.scoring.monotone}
    for key, direction in config.scoring.monotone.items():
        if key in default:
            default[key] = direction
        elif decayed_of[activity_slug(key)] in default:
            default[decayed_of[activity_slug(key)]] = direction
        else:
            notes.append(f"scoring.monotone names '{key}', which is not a feature: ignored")
    return default
