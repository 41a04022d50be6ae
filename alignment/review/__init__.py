"""The monthly review: one month held against the agreement in force.

``sections`` (each number of the review, from the canonical leads), ``verdict`` (the rules, each beside its
thresholds), ``month`` (the month's assembly into ``metrics.json``), ``explore`` (the analysts' sections) and
``report`` (loading the workspace, rendering the notebook, the index). The names below are the sections'
and the rules' public API, read as ``review.<name>``.
"""

from alignment.metrics import PSI_DRIFTED, PSI_WATCH
from alignment.review.explore import buyer_personas, grade_grid, segment_quality
from alignment.review.month import month_numbers, monthly_metrics
from alignment.review.sections import (
    COLUMN_MEANING,
    DEFAULT_BAND_EDGES,
    SECTION_COLUMNS,
    STAGES,
    acceptance,
    band_edges,
    band_labels,
    channel_quality,
    conversion_by_band,
    crm_hygiene,
    early_acceptance,
    funnel,
    group_column,
    missing_columns,
    month_period,
    mql_volume,
    mqls_of_month,
    not_measured,
    pseudonymous_owners,
    require_dates,
    score_drift,
    scored_cohort,
    scoring_moment,
    speed_to_lead,
    to_plain,
)
from alignment.review.verdict import (
    EARLY_RELATIVE_GAP,
    EARLY_Z_WATCH,
    REJECTION_RECALIBRATE,
    REJECTION_WATCH,
    SPEED_WATCH_SHARE,
    VOLUME_WATCH_SHARE,
    verdict,
)

__all__ = [
    "COLUMN_MEANING", "DEFAULT_BAND_EDGES", "EARLY_RELATIVE_GAP", "EARLY_Z_WATCH", "PSI_DRIFTED", "PSI_WATCH",
    "REJECTION_RECALIBRATE", "REJECTION_WATCH", "SECTION_COLUMNS", "SPEED_WATCH_SHARE", "STAGES",
    "VOLUME_WATCH_SHARE", "acceptance", "band_edges", "band_labels", "buyer_personas", "channel_quality",
    "conversion_by_band", "crm_hygiene", "early_acceptance", "funnel", "grade_grid", "group_column",
    "missing_columns", "month_numbers", "month_period", "monthly_metrics", "mql_volume", "mqls_of_month",
    "not_measured", "pseudonymous_owners", "require_dates", "score_drift", "scored_cohort", "scoring_moment",
    "segment_quality", "speed_to_lead", "to_plain", "verdict",
]
