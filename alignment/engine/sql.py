"""The signed scale as one SQL ``SELECT``: the same score, sub-scores, grade and probability as
``alignment score``, computed where the data lives.

The query reads two canonical tables (``leads`` as the loader writes them, ``activities`` with ``lead_id``,
``occurred_at``, ``activity_type``) and returns ``lead_id, score, fit_score, engagement_score, grade,
probability``. The activity features are :func:`alignment.engine.activity_features` (the expression the fit
itself runs), the bands are ``CASE`` expressions over the fitted edges and categories, the sub-scores round
half to even in integer arithmetic (as numpy does), and the calibration is its fitted sigmoid.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from alignment.engine.point_in_time import ACTIVE_DAYS_WINDOW, activity_features, feature_names
from alignment.exceptions import ModelError
from alignment.features import STAGE_COLUMNS, _lookup
from alignment.scorecard import ENGAGEMENT_GRADES, FIT_FAMILY, FIT_GRADES

DIALECTS = ("duckdb", "spark", "postgres", "snowflake", "bigquery")
"""The dialects ``alignment sql`` writes (any sqlglot dialect Ibis compiles to would do)."""

IBIS_DIALECT = {"spark": "pyspark"}
"""Ibis's own name of a dialect, where it differs."""

OUTPUT_COLUMNS = ("lead_id", "score", "fit_score", "engagement_score", "grade", "probability")


def scale_sql(model: Any, dialect: str, *, as_of: str | pd.Timestamp | None = None,
              leads_table: str = "leads", activities_table: str = "activities") -> str:
    """One SQL ``SELECT`` that scores every lead of ``leads_table`` with the fitted scale.

    Parameters
    ----------
    model : alignment.model.FittedModel
    dialect : {"duckdb", "spark", "postgres", "snowflake", "bigquery"}
    as_of : str or Timestamp, optional
        The moment to score at (UTC), as ``alignment score`` does with its export date; default: the
        query's own ``CURRENT_TIMESTAMP``.
    leads_table, activities_table : str
        The canonical tables' names (``schema.table`` is fine).

    Returns
    -------
    str
    """
    import ibis

    if dialect not in DIALECTS:
        raise ModelError(f"unknown SQL dialect {dialect!r}", hint=f"use one of {', '.join(DIALECTS)}")
    name = IBIS_DIALECT.get(dialect, dialect)
    if name == "pyspark":
        ibis.pyspark  # noqa: B018 - touching the backend registers the options its compiler reads
    return ibis.to_sql(scale_expression(model, as_of=as_of, leads_table=leads_table,
                                        activities_table=activities_table), dialect=name)


def print_scale_sql(model_dir: Any, dialect: str, *, as_of: str | None = None, leads_table: str = "leads",
                    activities_table: str = "activities") -> None:
    """``alignment sql``: the scale of a model folder as SQL on stdout, and nothing else there."""
    from alignment.model import load_model

    if as_of is not None:
        try:
            as_of = _utc(as_of)
        except (ValueError, OverflowError):
            raise ModelError(f"--as-of '{as_of}' is not a date", hint="use YYYY-MM-DD or YYYY-MM-DD HH:MM:SS"
                             ) from None
    for name in (leads_table, activities_table):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}", name):
            raise ModelError(f"table name '{name}' is not a plain [catalog.][schema.]table name",
                             hint="letters, digits and _ only, dot-separated")
    text = scale_sql(load_model(model_dir), dialect, as_of=as_of, leads_table=leads_table,
                     activities_table=activities_table)
    print(text.rstrip() + ";")


def scale_expression(model: Any, *, as_of: str | pd.Timestamp | None = None, leads_table: str = "leads",
                     activities_table: str = "activities") -> Any:
    """:func:`scale_sql` as an Ibis expression over unbound tables of those names."""
    import ibis

    card, config = model.scorecard, model.config
    attributes = list(card.attributes_)
    leads = _table(_leads_schema(card, _activity_columns(model)), leads_table)
    moment = _moment(leads, config)
    now = ibis.now() if as_of is None else ibis.literal(_utc(as_of)).cast("timestamp")
    scored_at = ibis.cases((moment.isnull() | (moment > now), now), else_=moment)
    leads = leads.mutate(scored_at=scored_at, _moment=moment)
    activity_columns = [name for name in attributes if name in _activity_columns(model)]
    if activity_columns:
        activities = _table({"lead_id": "string", "occurred_at": "timestamp", "activity_type": "string"},
                            activities_table)
        slugs = list(model.pipeline["activity_types"])
        half_life = {slug: _lookup(config.scoring.half_life_days, slug, config.scoring.default_half_life_days)
                     for slug in slugs}
        aggregated = activity_features(activities, leads, None, half_life, extra_slugs=slugs)
        leads = leads.join(aggregated.select("lead_id", *activity_columns), "lead_id")
    # One column per attribute first, so each band's CASE names a column rather than repeating its formula.
    features = leads.select("lead_id", **_lead_features(leads, attributes))
    banded = features.select("lead_id", **{f"points_{i}": _points(card, name, features[name])
                                           for i, name in enumerate(attributes)})
    points = {name: banded[f"points_{i}"] for i, name in enumerate(attributes)}
    return _scores(banded, card, points, model.pipeline["calibrator"])


def _table(schema: dict[str, str], name: str) -> Any:
    """An unbound table of that schema, ``catalog.schema.table`` split into its parts."""
    import ibis

    parts = name.split(".")
    return ibis.table(schema, name=parts[-1], database=parts[-2] if len(parts) > 1 else None,
                      catalog=parts[-3] if len(parts) > 2 else None)


def _double(value: float) -> Any:
    """A float literal every engine reads as a DOUBLE: a bare ``0.92...`` is a DECIMAL to DuckDB, and a
    DOUBLE compared with a DECIMAL is rounded to it, which moves a value sitting on a band edge."""
    import ibis

    return ibis.literal(repr(float(value))).cast("float64")


def _utc(as_of: str | pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(as_of)
    return (stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp).as_unit("us")


def _activity_columns(model: Any) -> set[str]:
    slugs = sorted(set(model.pipeline["activity_types"]))
    return set(feature_names(slugs, ACTIVE_DAYS_WINDOW))


def _leads_schema(card: Any, activity_columns: set[str]) -> dict[str, str]:
    """The leads columns the scale reads, with the types the loader gives them (derived and activity
    features are computed, not read)."""
    schema = {"lead_id": "string", "created_at": "timestamp", "mql_at": "timestamp"}
    schema.update({stage: "timestamp" for stage in STAGE_COLUMNS})
    derived = {f"reached_{s.removesuffix('_at')}" for s in STAGE_COLUMNS} | {"days_to_mql"} | activity_columns
    for name in card.attributes_:
        if name not in derived:
            schema[name] = "float64" if card._bands[name].kind == "numeric" else "string"
    return schema


def _moment(leads: Any, config: Any) -> Any:
    """:func:`alignment.features.scoring_moments` of the scale's config, as an expression."""
    import ibis

    if config.scoring.moment == "mql":
        return leads.mql_at
    return leads.created_at + ibis.interval(days=config.scoring.days_after_created)


def _lead_features(leads: Any, attributes: list[str]) -> dict[str, Any]:
    """Each attribute's value: the leads' own columns (and the activity features joined onto them), the
    days from creation to MQL, the stages reached by the moment."""
    out = {}
    for name in attributes:
        if name == "days_to_mql":
            seconds = leads._moment.epoch_seconds() - leads.created_at.epoch_seconds()
            out[name] = seconds.cast("float64") / 86_400.0
        elif name.startswith("reached_") and f"{name.removeprefix('reached_')}_at" in STAGE_COLUMNS:
            stage = leads[f"{name.removeprefix('reached_')}_at"]
            out[name] = (stage.notnull() & (stage <= leads.scored_at)).ifelse(1.0, 0.0)
        elif name in leads.columns:
            out[name] = leads[name]
    return out


def _points(card: Any, name: str, value: Any) -> Any:
    """The points of one attribute's band, as a CASE over the fitted edges or categories."""
    import ibis

    band, points = card._bands[name], [int(p) for p in card._points[name]]
    missing = points[-1]
    if band.kind == "numeric":
        number = value.cast("float64")
        branches = [(number.isnull() | number.isnan(), missing)]
        branches += [(number < _double(edge), points[i]) for i, edge in enumerate(band.edges)]
        return ibis.cases(*branches, else_=points[len(band.edges)])
    text = value.cast("string")
    other, new = len(band.categories), len(band.categories) + 1
    branches = [(text.isnull(), missing)]
    branches += [(text == str(category), points[i]) for i, category in enumerate(band.categories)]
    if band.pooled:
        branches.append((text.isin([str(c) for c in band.pooled]), points[other]))
    return ibis.cases(*branches, else_=points[new])


def _half_even_percent(part: Any, top: int) -> Any:
    """``round(100 * part / top)`` rounding half to even, in integers (numpy's rule, on any engine)."""
    import ibis

    if top <= 0:
        return ibis.literal(0)
    scaled = part * 100
    quotient = (scaled / top).floor().cast("int64")
    twice_remainder = (scaled - quotient * top) * 2
    up = (twice_remainder > top) | ((twice_remainder == top) & (quotient % 2 == 1))
    return quotient + up.ifelse(1, 0)


def _grade(score: Any, cutoffs: Any, grades: tuple[str, ...]) -> Any:
    """The grade of a sub-score: the best grade whose training-quartile cut-off it reaches."""
    import ibis

    # grades run best first; a score at or above the highest cut-off gets the best one.
    branches = [(score >= _double(cutoff), grades[len(cutoffs) - 1 - i])
                for i, cutoff in reversed(list(enumerate(cutoffs)))]
    return ibis.cases(*branches, else_=grades[-1])


def _scores(banded: Any, card: Any, points: dict[str, Any], calibrator: Any) -> Any:
    """Score, sub-scores, grade and calibrated probability from each attribute's points."""
    attributes = list(card.attributes_)
    tops, parts = [], {}
    for fit, part in ((True, "fit_points"), (False, "engagement_points")):
        names = [n for n in attributes if (card._bands[n].family == FIT_FAMILY) == fit]
        tops.append(sum(int(card._points[n].max()) for n in names))
        parts[part] = sum(points[n] for n in names) if names else banded.lead_id.isnull().ifelse(0, 0)
    totals = banded.select("lead_id", total=sum(points[name] for name in attributes), **parts)
    score = totals.total.clip(lower=0, upper=100)
    sub_scores = totals.select(
        "lead_id", score=score.cast("int64"),
        fit_score=_half_even_percent(totals.fit_points, tops[0]).cast("int64"),
        engagement_score=_half_even_percent(totals.engagement_points, tops[1]).cast("int64"))
    grade = _grade(sub_scores.fit_score, card.fit_cutoffs_, FIT_GRADES).concat(
        _grade(sub_scores.engagement_score, card.engagement_cutoffs_, ENGAGEMENT_GRADES))
    sigmoid = calibrator.calibrated_classifiers_[0].calibrators[0]
    logit = sub_scores.score.cast("float64") * _double(sigmoid.a_) + _double(sigmoid.b_)
    return sub_scores.select("lead_id", "score", "fit_score", "engagement_score", grade=grade,
                             probability=1.0 / (1.0 + logit.exp()))
