"""The pandas/numpy activity aggregation the product used before the engine (kept as the benchmark's
baseline, as the naive threshold loop is for the threshold engine; the product no longer runs it).

Same rules as :mod:`alignment.engine.point_in_time` (an event counts strictly before the moment; ages in
whole seconds) so the two are compared on the same answers; float32 ages as the original had them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from alignment.features import activity_slug

DAY_NS = 86_400 * 10**9
_NAT = np.iinfo(np.int64).min
ACTIVE_DAYS_WINDOW = 90


def pandas_activity_features(activities: pd.DataFrame, lead_index: pd.Index, moment_ns: np.ndarray,
                             half_life: dict[str, float]) -> dict[str, np.ndarray]:
    """The baseline end to end: codes for leads and types, then the vectorised aggregation."""
    type_code, names = _type_codes(activities["activity_type"])
    lead_code = _lead_codes(activities["lead_id"], lead_index)
    occurred = activities["occurred_at"].to_numpy().astype("datetime64[ns]").view(np.int64)
    occurred = (occurred // 10**9) * 10**9  # whole seconds, as the engine counts them
    moments = np.where(moment_ns == _NAT, _NAT, (moment_ns // 10**9) * 10**9)
    return aggregate_activities(lead_code, type_code, occurred, moments,
                                np.array([half_life.get(n, 30.0) for n in names]))


def _lead_codes(lead_ids: pd.Series, lead_index: pd.Index) -> np.ndarray:
    """Position of each event's lead in ``lead_index`` (-1 for an unknown lead), hashing each id once."""
    if isinstance(lead_ids.dtype, pd.CategoricalDtype):
        categories = pd.Index(lead_ids.cat.categories)
        if not pd.api.types.is_string_dtype(categories):
            categories = categories.astype(str)
        positions = lead_index.get_indexer(categories)
        codes = lead_ids.cat.codes.to_numpy()
    else:
        codes, uniques = pd.factorize(lead_ids, sort=False)
        if not pd.api.types.is_string_dtype(uniques):
            uniques = pd.Index(uniques).astype(str)
        positions = lead_index.get_indexer(uniques)
    # An appended -1 turns the factorize "missing" code -1 into "unknown lead".
    return np.append(positions, -1).astype(np.int32)[codes]


def _type_codes(activity_types: pd.Series, extra: Sequence[str] = ()) -> tuple[np.ndarray, list[str]]:
    """Integer code per event and the slug of each code; spelling variants of one type share a code.

    ``extra`` types get a code (and so a column) even without any event."""
    if isinstance(activity_types.dtype, pd.CategoricalDtype):
        raw_codes, raw_names = activity_types.cat.codes.to_numpy(), list(activity_types.cat.categories)
    else:
        raw_codes, uniques = pd.factorize(activity_types, sort=False)
        raw_names = list(uniques)
    slugs = [activity_slug(name) for name in raw_names]
    # Sorted: the column order does not depend on the order the types were first seen.
    names = sorted(set(slugs) | {activity_slug(name) for name in extra})
    raw_to_code = np.array([names.index(s) for s in slugs] + [-1], dtype=np.int16)
    return raw_to_code[raw_codes], names


def aggregate_activities(
    lead_code: np.ndarray,
    type_code: np.ndarray,
    occurred_ns: np.ndarray,
    moment_ns: np.ndarray,
    half_life_days: np.ndarray,
    *,
    window_days: int = ACTIVE_DAYS_WINDOW,
) -> dict[str, np.ndarray]:
    """Per lead, the activity features at its moment, vectorised over all events at once.

    Parameters
    ----------
    lead_code : np.ndarray
        Position of each event's lead (``-1`` = unknown, ignored).
    type_code : np.ndarray
        Activity type code of each event (``-1`` = missing type, ignored).
    occurred_ns : np.ndarray
        Event time, int64 nanoseconds (int64 min = NaT, ignored).
    moment_ns : np.ndarray
        Per lead, the time the features are taken at (int64 ns); events after it do not count.
    half_life_days : np.ndarray
        Per type code, the decay half-life in days.
    window_days : int, default 90
        Window of ``active_days``.

    Returns
    -------
    dict
        ``decayed`` (n_leads × n_types, float64), ``days_since_last`` (NaN when no event),
        ``active_days`` (distinct calendar days with an event in the window), ``n_counted`` (events that
        count), ``n_after`` (known events after the moment).
    """
    n_leads, n_types = len(moment_ns), len(half_life_days)
    if not len(lead_code) == len(type_code) == len(occurred_ns):
        raise ValueError("lead_code, type_code and occurred_ns must have one entry per event")
    if n_types and not np.all(np.asarray(half_life_days, dtype=np.float64) > 0):
        raise ValueError("half_life_days must all be > 0")
    if isinstance(window_days, bool) or not isinstance(window_days, int) or window_days < 1:
        raise ValueError(f"window_days must be an integer ≥ 1, got {window_days!r}")
    if len(lead_code) and (lead_code.max() >= n_leads or type_code.max() >= n_types):
        raise ValueError("a lead or type code is beyond moment_ns / half_life_days")
    known = (lead_code >= 0) & (type_code >= 0) & (occurred_ns != _NAT)
    lead_code = np.where(known, lead_code, 0)
    event_moment = moment_ns[lead_code]
    counted = known & (occurred_ns < event_moment)
    n_after = int(known.sum() - counted.sum())
    del known

    lead_code, type_code = lead_code[counted], type_code[counted]
    occurred, event_moment = occurred_ns[counted], event_moment[counted]
    del counted
    age_days = (event_moment - occurred).astype(np.float32)
    age_days *= np.float32(1 / DAY_NS)

    inverse_half_life = (1.0 / np.asarray(half_life_days, dtype=np.float64)).astype(np.float32)
    weight = np.exp2(-age_days * inverse_half_life[type_code])
    cell = lead_code.astype(np.int64) * n_types + type_code
    decayed = np.bincount(cell, weights=weight, minlength=n_leads * n_types).reshape(n_leads, n_types)
    del weight, cell

    last_age = np.full(n_leads, np.inf, dtype=np.float32)
    np.minimum.at(last_age, lead_code, age_days)
    days_since_last = np.where(np.isinf(last_age), np.nan, last_age.astype(np.float64))
    del age_days

    # Calendar days back from the moment's day; a flag per (lead, day) counts each day once.
    days_back = event_moment // DAY_NS - occurred // DAY_NS
    in_window = days_back < window_days
    day_flags = np.zeros(n_leads * window_days, dtype=bool)
    day_flags[lead_code[in_window].astype(np.int64) * window_days + days_back[in_window]] = True
    active_days = day_flags.reshape(n_leads, window_days).sum(axis=1, dtype=np.int32).astype(np.float64)
    return {"decayed": decayed, "days_since_last": days_since_last, "active_days": active_days,
            "n_counted": np.int64(len(lead_code)), "n_after": np.int64(n_after)}


