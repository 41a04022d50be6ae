"""The point-in-time activity features as Ibis expressions: one code path for every engine.

Per lead, at its scoring moment ``scored_at``:

- ``<type>_decayed``: the sum over its events of that type of ``0.5 ** (age_days / half_life)``;
- ``days_since_last_activity``: the age of its latest event in days (NULL when it has none);
- ``active_days_90d``: the distinct UTC calendar days with an event among the 90 days up to the moment's day.

An event counts when ``occurred_at < scored_at`` (strictly: an event at the very moment is not known when
the lead is scored, so it is the leakage line). Times are UTC; ages are whole seconds
(``floor(epoch)``) so that every engine computes the same numbers. Events with no time, no type or no lead
never count; a lead without events has decayed counts 0, no days since the last and 0 active days.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

ACTIVE_DAYS_WINDOW = 90
"""Distinct active days are counted over this many calendar days up to the moment."""

SECONDS_PER_DAY = 86_400


def feature_names(slugs: Sequence[str], window_days: int = ACTIVE_DAYS_WINDOW) -> list[str]:
    """The columns :func:`activity_features` returns besides the key, in order."""
    return [f"{slug}_decayed" for slug in slugs] + ["days_since_last_activity", f"active_days_{window_days}d"]


def activity_features(
    activities: Any,
    leads: Any,
    slug_of: Mapping[str, str] | None,
    half_life_days: Mapping[str, float],
    *,
    key: str = "lead_id",
    extra_slugs: Sequence[str] = (),
    window_days: int = ACTIVE_DAYS_WINDOW,
) -> Any:
    """The activity features of each lead at its moment, as an Ibis table expression.

    Parameters
    ----------
    activities : ibis.Table
        ``lead_id`` (string), ``occurred_at`` (timestamp, UTC), ``activity_type`` (string).
    leads : ibis.Table
        ``lead_id``, ``scored_at`` (timestamp, UTC; NULL = no moment: no event counts) and ``key``.
    slug_of : mapping or None
        Each raw ``activity_type`` value to its feature slug (spelling variants share a slug); types not
        in it are not counted. None: the engine derives the slug (:func:`slug_expression`) and counts the
        ``extra_slugs``.
    half_life_days : mapping
        Slug → decay half-life in days (> 0), for every slug of ``slug_of``.
    key : str, default "lead_id"
        The leads' column the result is keyed on (one row per lead).
    extra_slugs : sequence of str, optional
        Slugs that get a column even without any event (the fitted scale's types, when scoring).
    window_days : int, default 90

    Returns
    -------
    ibis.Table
        ``key``, then :func:`feature_names` of the sorted slugs and ``n_counted`` (events that count),
        one row per lead of ``leads``.
    """
    import ibis

    slugs = sorted(set(slug_of.values() if slug_of is not None else ()) | set(extra_slugs))
    _check(slugs, half_life_days, window_days)
    counted = _counted_events(activities, leads, slug_of, slugs, key)
    code, inverse_half_life = _type_code(counted, slug_of, slugs, half_life_days)
    scored_seconds, occurred_seconds = _whole_seconds(counted.scored_at), _whole_seconds(counted.occurred_at)
    day = (occurred_seconds / SECONDS_PER_DAY).floor()
    age_days = (scored_seconds - occurred_seconds).cast("float64") / SECONDS_PER_DAY
    rows = counted.mutate(code=code, age_days=age_days, day=day,
                          days_back=(scored_seconds / SECONDS_PER_DAY).floor() - day)
    rows = rows.mutate(weight=ibis.literal(0.5) ** (rows.age_days * inverse_half_life))
    names = feature_names(slugs, window_days)
    aggregates = {name: rows.weight.sum(where=rows.code == position)
                  for position, name in enumerate(names[:len(slugs)])}
    aggregates[names[-2]] = rows.age_days.min()
    aggregates[names[-1]] = rows.day.nunique(where=rows.days_back < window_days)
    aggregates["n_counted"] = rows.count()
    per_lead = rows.group_by(key).aggregate(**aggregates)
    every_lead = leads.select(key).left_join(per_lead, key)
    filled = {name: every_lead[name].cast("float64").fill_null(0.0) for name in names[:len(slugs)]}
    filled[names[-2]] = every_lead[names[-2]].cast("float64")
    filled[names[-1]] = every_lead[names[-1]].cast("float64").fill_null(0.0)
    filled["n_counted"] = every_lead["n_counted"].cast("int64").fill_null(0)
    return every_lead.select(every_lead[key], **filled)


def _whole_seconds(timestamp: Any) -> Any:
    """Seconds since the epoch, rounded down: DuckDB's epoch keeps the fraction, Spark's drops it."""
    # Spark divides by a decimal literal in decimals, rounding: the seconds are doubles before any division.
    return timestamp.epoch_seconds().floor().cast("float64")


def events_after_the_moment(activities: Any, leads: Any) -> Any:
    """The number of events of these leads at or after their moment (not counted), as an Ibis scalar."""
    joined = activities.select("lead_id", "occurred_at").join(leads.select("lead_id", "scored_at"), "lead_id")
    return joined.filter(joined.occurred_at >= joined.scored_at).count()


def slug_expression(activity_type: Any) -> Any:
    """:func:`alignment.features.activity_slug` as an engine expression (for SQL, where the raw types
    are not known in advance): trimmed, lower case, runs of other characters as one ``_``."""
    return activity_type.strip().lower().re_replace("[^0-9a-z]+", "_").re_replace("^_+|_+$", "")


def _counted_events(activities: Any, leads: Any, slug_of: Mapping[str, str] | None, slugs: Sequence[str],
                    key: str) -> Any:
    """The events that count: of a known type, joined to their lead, strictly before its moment."""
    events = activities.select("lead_id", "occurred_at", "activity_type")
    if slug_of is None:
        events = events.mutate(activity_type=slug_expression(events.activity_type))
        known_type = events.activity_type.isin(list(slugs))
    else:
        known_type = events.activity_type.isin(list(slug_of))
    events = events.filter(known_type & events.occurred_at.notnull())
    joined = events.join(leads.select("lead_id", "scored_at", *([key] if key != "lead_id" else [])),
                         "lead_id")
    return joined.filter(joined.occurred_at < joined.scored_at)


def _type_code(counted: Any, slug_of: Mapping[str, str] | None, slugs: Sequence[str],
               half_life_days: Mapping[str, float]) -> tuple[Any, Any]:
    """Each event's type as the position of its slug, and the inverse of its half-life."""
    import ibis

    slug_of = slug_of if slug_of is not None else {slug: slug for slug in slugs}
    if not slug_of:  # no events at all: every lead gets the "no events" values
        return ibis.null("int64"), ibis.null("float64")
    code = counted.activity_type.cases(*[(raw, slugs.index(slug)) for raw, slug in slug_of.items()])
    inverse_half_life = counted.activity_type.cases(
        *[(raw, ibis.literal(repr(1.0 / float(half_life_days[slug]))).cast("float64"))
          for raw, slug in slug_of.items()])
    return code, inverse_half_life


def _check(slugs: Sequence[str], half_life_days: Mapping[str, float], window_days: int) -> None:
    if isinstance(window_days, bool) or not isinstance(window_days, int) or window_days < 1:
        raise ValueError(f"window_days must be an integer ≥ 1, got {window_days!r}")
    missing = sorted(set(slugs) - set(half_life_days))
    if missing:
        raise ValueError(f"no half-life for activity type {missing[0]!r}")
    if not all(float(half_life_days[s]) > 0 for s in slugs):
        raise ValueError("half_life_days must all be > 0")
