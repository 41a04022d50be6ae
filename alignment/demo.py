"""The demo history: a seeded, realistic two-year B2B CRM export with its ground truth.

:func:`write_demo` writes, into one folder and atomically:

* ``leads.csv`` (or ``leads.parquet``): the canonical leads table of the data contract plus firmographic
  attributes and synthetic contact details, like a real CRM export;
* ``activities.parquet``: one row per marketing/sales touch (opens, clicks, visits, pricing views, downloads,
  webinars, demo requests), before and after the scoring moment;
* ``truth.parquet`` and ``truth_effects.json``: each lead's true win probability at its scoring moment and the
  effects that produced it (see ``docs/architecture.md``, "The demo truth");
* ``alignment.toml``: a ready workspace config pointing at these files.

How a lead is simulated (vectorised over all leads; no per-lead Python loop):

1. creation time (weekday business hours, mild seasonality), campaign, firmographics;
2. activities before the scoring moment (``created + 7 days``), from a per-lead latent engagement;
3. the truth: ``logit p0 = intercept + categorical effects + sum_type beta_type * log1p(decayed count)``, the
   decay being ``0.5 ** (age_days / half_life_days[type])`` at the scoring moment;
4. after the moment, the sales follow-up delay multiplies the win probability by
   ``1 + DELAY_EFFECT * (1 - 2 F(delay))`` (``F`` the delay's CDF, so the factor averages exactly 1); the
   recorded ``true_probability`` is the exact expectation of ``min(1, p0 * factor)`` over the delay, i.e. the
   probability given only what was known at the scoring moment;
5. the outcome, then funnel stage timestamps consistent with it (won leads went MQL -> SAL -> SQL -> closed),
   rejections and their reasons, deal amounts, activities after the moment;
6. everything later than the export moment (``end``, 23:59:59) is cut, and leads whose horizon has not passed
   and that are not won yet are ``open``.

The last three months carry a planted change (a poor new campaign and a mix shift towards small companies and
junior contacts); the months before have a stable mix.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import tomli_w
from tqdm.auto import tqdm

from alignment.config import ScoringConfig, ServiceLevelsConfig
from alignment.exceptions import ConfigError, DataError

# --- the world --------------------------------------------------------------------------------

SCORING_DAYS_AFTER_CREATED = 7
HORIZON_DAYS = ScoringConfig().horizon_days
PLANTED_MONTHS = 3
"""The planted change covers the last this-many months of the history."""
PLANTED_CAMPAIGN = "Giveaway Blitz"
PLANTED_SOURCE = "Paid Social"
PLANTED_EXTRA_VOLUME = 0.5
"""During the planted months the giveaway adds this share on top of the usual lead volume."""
CSV_MAX_LEADS = 100_000
"""Default leads format: CSV up to this many leads, Parquet above."""
MANIFEST = ".alignment-demo.json"
"""Marks a folder as written by this generator (so it may be replaced) and lists the files it wrote."""
GENERATED_FILES = (
    "leads.csv",
    "leads.parquet",
    "activities.parquet",
    "truth.parquet",
    "truth_effects.json",
    "alignment.toml",
    MANIFEST,
)

INTERCEPT = -4.48
"""Logit intercept before centring the effects: about 7 % of the calm-period leads win within the horizon."""
DELAY_EFFECT = 0.5
"""Fastest follow-up multiplies the win probability by 1.5, slowest by 0.5 (mean factor exactly 1)."""
DELAY_MEDIAN_HOURS = 5.0
DELAY_SIGMA = 1.3
DELAY_MAX_HOURS = 21 * 24

# Categorical effects on the logit, before centring (centring keeps the calm-mix average at 0 so a sign reads
# "better / worse than the average lead"; the intercept absorbs the shift).
INDUSTRIES = {  # name: (calm share, logit effect)
    "Software": (0.20, 0.61),
    "Financial Services": (0.12, 0.41),
    "Manufacturing": (0.15, 0.30),
    "Healthcare": (0.12, -0.10),
    "Retail": (0.12, -0.34),
    "Education": (0.09, -0.68),
    "Government": (0.06, -0.54),
    "Professional Services": (0.14, 0.20),
}
COMPANY_SIZES = {
    "1-10": (0.14, -1.22),
    "11-50": (0.22, -0.54),
    "51-200": (0.25, 0.07),
    "201-1000": (0.20, 0.54),
    "1001-5000": (0.11, 0.74),
    "5000+": (0.08, 0.61),
}
PLANTED_COMPANY_SIZE_SHARES = {
    "1-10": 0.30, "11-50": 0.30, "51-200": 0.18, "201-1000": 0.12, "1001-5000": 0.06, "5000+": 0.04,
}
COUNTRIES = {
    "United States": (0.35, 0.20),
    "United Kingdom": (0.12, 0.14),
    "Germany": (0.10, 0.20),
    "France": (0.07, -0.14),
    "Netherlands": (0.05, 0.14),
    "Canada": (0.06, 0.30),
    "Australia": (0.05, -0.25),
    "India": (0.10, -0.61),
    "Brazil": (0.05, -0.47),
    "Spain": (0.05, -0.20),
}
SENIORITIES = {
    "C-level": (0.07, 0.20),
    "VP": (0.10, 0.47),
    "Director": (0.17, 0.61),
    "Manager": (0.26, 0.27),
    "Individual contributor": (0.28, -0.34),
    "Entry level": (0.12, -1.01),
}
PLANTED_SENIORITY_SHARES = {
    "C-level": 0.04, "VP": 0.06, "Director": 0.10, "Manager": 0.20, "Individual contributor": 0.33,
    "Entry level": 0.27,
}
JOB_FUNCTIONS = {
    "Marketing": (0.20, 0.30),
    "Sales": (0.15, -0.15),
    "IT": (0.18, 0.41),
    "Engineering": (0.14, 0.27),
    "Finance": (0.09, 0.35),
    "Operations": (0.12, -0.15),
    "HR": (0.06, -0.47),
    "Other": (0.06, -0.54),
}
CAMPAIGNS = {  # name: (source, calm share, logit effect)
    "Customer Referral": ("Referral", 0.05, 1.22),
    "Partner - Resellers": ("Partner", 0.06, 0.68),
    "Google Ads - Brand": ("Paid Search", 0.08, 0.68),
    "Google Ads - Generic": ("Paid Search", 0.12, -0.14),
    "SEO - Product Pages": ("Organic Search", 0.10, 0.47),
    "SEO - Blog": ("Organic Search", 0.12, -0.20),
    "LinkedIn - ABM": ("Paid Social", 0.07, 0.41),
    "Facebook - Lead Ads": ("Paid Social", 0.08, -0.68),
    "Webinar - Product Demo": ("Webinar", 0.06, 0.61),
    "Webinar - Industry Trends": ("Webinar", 0.06, -0.27),
    "Events - Trade Shows": ("Events", 0.04, 0.27),
    "Events - Roundtables": ("Events", 0.04, 0.41),
    "Syndication - Whitepapers": ("Content Syndication", 0.07, -0.74),
    "List - Data Vendor": ("Purchased List", 0.05, -1.22),
}
PLANTED_CAMPAIGN_EFFECT = -1.75

ACTIVITY_TYPES = (
    "email_open",
    "email_click",
    "web_visit",
    "pricing_page",
    "content_download",
    "webinar",
    "demo_request",
)
ACTIVITY_EFFECTS = {  # logit effect per unit of log1p(decayed count at the scoring moment)
    "email_open": 0.13,
    "email_click": 0.39,
    "web_visit": 0.33,
    "pricing_page": 1.10,
    "content_download": 0.26,
    "webinar": 0.59,
    "demo_request": 1.69,
}
HALF_LIFE_DAYS = {
    "email_open": 7.0,
    "email_click": 14.0,
    "web_visit": 14.0,
    "pricing_page": 30.0,
    "content_download": 30.0,
    "webinar": 45.0,
    "demo_request": 60.0,
}
PRE_MOMENT_RATE = {  # mean events before the scoring moment for an average lead
    "email_open": 2.6,
    "email_click": 0.7,
    "web_visit": 2.0,
    "pricing_page": 0.35,
    "content_download": 0.5,
    "webinar": 0.15,
    "demo_request": 0.05,
}
# Share of the pre-moment events that happened before the lead was created (tracked anonymous visits).
PRE_CREATION_SHARE = {
    "email_open": 0.0,
    "email_click": 0.0,
    "web_visit": 0.35,
    "pricing_page": 0.35,
    "content_download": 0.35,
    "webinar": 0.5,
    "demo_request": 0.0,
}
POST_MOMENT_RATE = {  # mean events after the scoring moment for an average lead that did not progress
    "email_open": 4.6,
    "email_click": 1.2,
    "web_visit": 2.8,
    "pricing_page": 0.5,
    "content_download": 0.6,
    "webinar": 0.2,
    "demo_request": 0.1,
}
POST_MOMENT_MEAN_DAYS = 40.0
ENGAGEMENT_SHAPE = 1.3
"""Gamma shape of the latent per-lead engagement (mean 1): counts are over-dispersed, as in real data."""

# The legacy hand-set score: sensible but wrongly weighted (seniority and e-mail opens overweighted,
# pricing-page visits ignored, no country or industry).
LEGACY_SENIORITY_POINTS = {
    "C-level": 35,
    "VP": 28,
    "Director": 18,
    "Manager": 12,
    "Individual contributor": 6,
    "Entry level": 3,
}
LEGACY_SIZE_POINTS = {"1-10": 0, "11-50": 4, "51-200": 8, "201-1000": 12, "1001-5000": 16, "5000+": 20}
LEGACY_ACTIVITY_POINTS = {
    "email_open": (4, 32),
    "email_click": (2, 10),
    "web_visit": (1, 8),
    "webinar": (5, 10),
    "demo_request": (10, 10),
}  # (points per event, cap)

# Funnel targets (shares of all simulated leads / of the previous stage).
MQL_SHARE = 0.84
SAL_PER_MQL = 0.52
WON_PER_SQL = 0.25
REJECTED_PER_MQL = 0.13
"""Explicit rejections; the other MQLs sales does not accept are recycled to nurture without a decision."""
UNTOUCHED_SHARE = 0.03
REJECTION_WITHOUT_REASON_SHARE = 0.04
LEADS_WITHOUT_OWNER_SHARE = 0.015

REJECTION_REASONS = (
    "No budget",
    "Not a decision maker",
    "No current need",
    "Bad contact data",
    "Competitor",
    "Already a customer",
    "Only wanted the giveaway",
)

AMOUNT_MEDIAN_BY_SIZE = {
    "1-10": 3_000,
    "11-50": 8_000,
    "51-200": 20_000,
    "201-1000": 45_000,
    "1001-5000": 90_000,
    "5000+": 150_000,
}
AMOUNT_SIGMA = 0.6

FIRST_NAMES = (
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Carlos",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Sandra",
    "Mark",
    "Ashley",
    "Priya",
    "Emily",
    "Arjun",
    "Sofia",
    "Lukas",
    "Emma",
    "Pierre",
    "Chloe",
    "Jan",
    "Sanne",
    "Raj",
    "Ana",
    "Mateo",
    "Lucia",
    "Noah",
    "Olivia",
    "Liam",
    "Mia",
    "Ethan",
    "Hannah",
)
LAST_NAMES = (
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Martin",
    "Lee",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Walker",
    "Hall",
    "Young",
    "King",
    "Wright",
    "Scott",
    "Green",
    "Baker",
    "Mueller",
    "Schmidt",
    "Dubois",
    "Laurent",
    "de Vries",
    "Jansen",
    "Patel",
    "Sharma",
    "Silva",
    "Santos",
    "Fernandez",
    "Lopez",
    "Campbell",
    "Murphy",
    "Kelly",
    "Nguyen",
)
DOMAIN_WORDS = (
    "north",
    "blue",
    "bright",
    "peak",
    "river",
    "stone",
    "cloud",
    "iron",
    "summit",
    "clear",
    "green",
    "swift",
    "core",
    "nova",
    "prime",
    "apex",
    "delta",
    "harbor",
    "maple",
    "silver",
)
DOMAIN_SUFFIXES = (
    "tech",
    "labs",
    "systems",
    "group",
    "works",
    "data",
    "soft",
    "logic",
    "partners",
    "health",
    "finance",
    "retail",
    "edu",
    "industries",
    "solutions",
    "media",
)
FREE_MAIL = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com")
COUNTRY_PHONE = {  # country: (calling code, e-mail top-level domain)
    "United States": ("1", "com"),
    "United Kingdom": ("44", "co.uk"),
    "Germany": ("49", "de"),
    "France": ("33", "fr"),
    "Netherlands": ("31", "nl"),
    "Canada": ("1", "ca"),
    "Australia": ("61", "com.au"),
    "India": ("91", "in"),
    "Brazil": ("55", "com.br"),
    "Spain": ("34", "es"),
}

LEAD_COLUMNS = (
    "lead_id",
    "created_at",
    "outcome",
    "closed_at",
    "amount",
    "source",
    "campaign",
    "mql_at",
    "sal_at",
    "sql_at",
    "rejected_at",
    "rejection_reason",
    "first_touch_at",
    "owner",
    "legacy_score",
    "industry",
    "company_size",
    "country",
    "seniority",
    "job_function",
    "first_name",
    "last_name",
    "email",
    "phone",
)


# --- helpers ----------------------------------------------------------------------------------


def _centred(table: dict[str, tuple]) -> tuple[dict[str, float], float]:
    """Effects shifted so their calm-share-weighted mean is 0, and the shift (added to the intercept)."""
    shares = np.array([v[-2] for v in table.values()])
    effects = np.array([v[-1] for v in table.values()])
    shift = float(shares @ effects / shares.sum())
    return {name: round(float(e - shift), 6) for name, e in zip(table, effects, strict=True)}, shift


def true_effects() -> dict:
    """The truth's logit effects: centred categorical effects, activity effects, half-lives, intercept.

    Returns
    -------
    dict
        ``intercept``, ``categorical`` (column -> value -> effect), ``activity``, ``half_life_days``.
    """
    intercept = INTERCEPT
    categorical = {}
    for column, table in (
        ("industry", INDUSTRIES),
        ("company_size", COMPANY_SIZES),
        ("country", COUNTRIES),
        ("seniority", SENIORITIES),
        ("job_function", JOB_FUNCTIONS),
    ):
        categorical[column], shift = _centred(table)
        intercept += shift
    campaigns, shift = _centred(CAMPAIGNS)
    intercept += shift
    campaigns[PLANTED_CAMPAIGN] = round(PLANTED_CAMPAIGN_EFFECT - shift, 6)
    categorical["campaign"] = campaigns
    return {
        "intercept": round(intercept, 6),
        "categorical": categorical,
        "activity": dict(ACTIVITY_EFFECTS),
        "half_life_days": dict(HALF_LIFE_DAYS),
    }


def delay_factor(delay_quantile: np.ndarray) -> np.ndarray:
    """Multiplier of the win probability for a follow-up delay at quantile ``F(delay)`` (mean exactly 1)."""
    return 1.0 + DELAY_EFFECT * (1.0 - 2.0 * delay_quantile)


def probability_at_moment(p0: np.ndarray) -> np.ndarray:
    """``E_U[min(1, p0 * delay_factor(U))]`` for ``U`` uniform: the win probability before the delay is known.

    Equals ``p0`` where ``p0 * (1 + DELAY_EFFECT) <= 1``; above, the capped part of the mixture is integrated
    exactly (the factor is linear in ``U``).
    """
    p0 = np.asarray(p0, dtype=float)
    d = DELAY_EFFECT
    # u0: the quantile below which p0 * factor reaches 1.
    u0 = np.clip((p0 * (1 + d) - 1) / (2 * d * np.maximum(p0, 1e-12)), 0.0, 1.0)
    tail = p0 * ((1 + d) * (1 - u0) - d * (1 - u0**2))
    return np.where(u0 > 0, u0 + tail, p0)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _draw_with_target(rng: np.random.Generator, logit_shape: np.ndarray, target: float) -> np.ndarray:
    """Draws with ``P = sigmoid(c + logit_shape)``, ``c`` solved so the expected count is ``target``.

    The bisection runs on the expected count, which increases with ``c``.
    """
    n = len(logit_shape)
    target = float(np.clip(target, 0, n))
    low, high = -30.0, 30.0
    for _ in range(60):  # bisection: the expected count is increasing in c
        mid = (low + high) / 2
        if _sigmoid(mid + logit_shape).sum() < target:
            low = mid
        else:
            high = mid
    return rng.random(n) < _sigmoid((low + high) / 2 + logit_shape)


def _choice(rng: np.random.Generator, table: dict, n: int, shares: dict | None = None) -> np.ndarray:
    """Draw ``n`` category codes (positions in ``table``) with the table's calm shares or ``shares``."""
    p = np.array([shares[k] if shares else v[-2] for k, v in table.items()], dtype=float)
    return rng.choice(len(table), size=n, p=p / p.sum())


def _seconds(days: np.ndarray | float) -> np.ndarray:
    return np.round(np.asarray(days) * 86400).astype(np.int64)


def _to_datetime(seconds: np.ndarray, valid: np.ndarray | None = None) -> pd.Series:
    """Epoch seconds to naive-UTC ``datetime64[ns]`` (NaT where ``valid`` is False)."""
    stamps = seconds.astype("datetime64[s]").astype("datetime64[ns]")
    if valid is not None:
        stamps = np.where(valid, stamps, np.datetime64("NaT", "ns"))
    return pd.Series(stamps)


# --- parameters -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Period:
    first_month: pd.Period
    months: int
    export: int  # epoch seconds of the export moment (end, 23:59:59)

    @property
    def planted_from(self) -> pd.Period:
        return self.first_month + (self.months - PLANTED_MONTHS)


def _check_parameters(n_leads, months, seed, file_format, end) -> _Period:
    if isinstance(n_leads, bool) or not isinstance(n_leads, (int, np.integer)) or n_leads < 200:
        raise ConfigError(f"n_leads must be an integer >= 200, got {n_leads!r}", hint="e.g. --leads 20000")
    if isinstance(months, bool) or not isinstance(months, (int, np.integer)) or months < 6:
        raise ConfigError(
            f"months must be an integer >= 6, got {months!r}",
            hint="the planted change needs calm months before it: e.g. --months 24",
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}", hint="e.g. --seed 7")
    if file_format not in (None, "csv", "parquet"):
        raise ConfigError(f"file_format must be 'csv' or 'parquet', got {file_format!r}")
    try:
        iso = isinstance(end, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", end)
        end_day = dt.date.fromisoformat(end) if iso else None
    except ValueError:
        end_day = None
    if end_day is None:
        raise ConfigError(f"end must be a date YYYY-MM-DD, got {end!r}", hint="e.g. --end 2026-10-31")
    end_day = pd.Timestamp(end_day)
    first_month = end_day.to_period("M") - (months - 1)
    export = int((end_day + pd.Timedelta(days=1)).value // 10**9) - 1
    return _Period(first_month, int(months), export)


# --- simulation -------------------------------------------------------------------------------


def _created_times(rng: np.random.Generator, n: int, period: _Period) -> np.ndarray:
    """Creation times (epoch seconds): busier weekdays, mild seasonality, the planted extra volume."""
    days = pd.date_range(
        period.first_month.start_time, pd.Timestamp(period.export, unit="s").normalize(), freq="D"
    )
    month_index = (days.to_period("M") - period.first_month).map(lambda offset: offset.n).to_numpy()
    weekday = np.where(days.day_of_week.to_numpy() < 5, 1.0, 0.25)
    season = 1.0 + 0.08 * np.sin(2 * np.pi * (days.month.to_numpy() - 3) / 12)
    month_weight = np.bincount(month_index, weights=weekday)
    weight = weekday / month_weight[month_index] * season  # each calendar month has the same base volume
    planted = month_index >= period.months - PLANTED_MONTHS
    weight = np.where(planted, weight * (1 + PLANTED_EXTRA_VOLUME), weight)
    cumulative = np.cumsum(weight) / weight.sum()
    day = np.minimum(np.searchsorted(cumulative, rng.random(n), side="right"), len(days) - 1)
    hour = np.clip(rng.normal(13.0, 3.2, n), 0.0, 23.999)
    day_start = (days.to_numpy().astype("datetime64[s]").astype(np.int64))[day]
    seconds = np.minimum(day_start + np.floor(hour * 3600).astype(np.int64), period.export)
    return np.sort(seconds)


class _Simulation:
    """All draws, in a fixed order so the same seed gives the same history."""

    def __init__(self, n_leads: int, period: _Period, seed: int) -> None:
        self.n = n_leads
        self.period = period
        self.rng = np.random.default_rng(seed)
        self.effects = true_effects()

    # step 1: who the leads are
    def leads(self) -> None:
        rng, n = self.rng, self.n
        self.created = _created_times(rng, n, self.period)
        self.moment = self.created + SCORING_DAYS_AFTER_CREATED * 86400
        created_month = self.created.astype("datetime64[s]").astype("datetime64[M]").astype(
            np.int64
        ) - np.datetime64(self.period.first_month.start_time, "M").astype(np.int64)
        self.month_index = created_month
        planted_month = created_month >= self.period.months - PLANTED_MONTHS
        self.giveaway = planted_month & (rng.random(n) < PLANTED_EXTRA_VOLUME / (1 + PLANTED_EXTRA_VOLUME))

        campaign_names = [*CAMPAIGNS, PLANTED_CAMPAIGN]
        campaign = _choice(rng, CAMPAIGNS, n)
        self.campaign = np.where(self.giveaway, len(CAMPAIGNS), campaign)
        self.campaign_names = campaign_names
        self.industry = _choice(rng, INDUSTRIES, n)
        size_calm, size_planted = (
            _choice(rng, COMPANY_SIZES, n),
            _choice(rng, COMPANY_SIZES, n, PLANTED_COMPANY_SIZE_SHARES),
        )
        self.company_size = np.where(planted_month, size_planted, size_calm)
        self.country = _choice(rng, COUNTRIES, n)
        seniority_calm, seniority_planted = (
            _choice(rng, SENIORITIES, n),
            _choice(rng, SENIORITIES, n, PLANTED_SENIORITY_SHARES),
        )
        self.seniority = np.where(planted_month, seniority_planted, seniority_calm)
        self.job_function = _choice(rng, JOB_FUNCTIONS, n)

    def categorical_logit(self) -> np.ndarray:
        cat = self.effects["categorical"]
        logit = np.full(self.n, self.effects["intercept"])
        for column, table, codes in (
            ("industry", INDUSTRIES, self.industry),
            ("company_size", COMPANY_SIZES, self.company_size),
            ("country", COUNTRIES, self.country),
            ("seniority", SENIORITIES, self.seniority),
            ("job_function", JOB_FUNCTIONS, self.job_function),
        ):
            logit += np.array([cat[column][k] for k in table])[codes]
        logit += np.array([cat["campaign"][k] for k in self.campaign_names])[self.campaign]
        return logit

    # step 2: what they did before the scoring moment
    def activity_multipliers(self) -> dict[str, np.ndarray]:
        """Per-lead rate multipliers: who engages with what (juniors open more e-mail, giveaway hunters
        open everything but never look at pricing, webinar leads attend webinars)."""
        seniority_open = np.array([0.6, 0.7, 0.9, 1.0, 1.2, 1.5])[self.seniority]
        campaign = np.array(self.campaign_names)[self.campaign]
        webinar_lead = np.char.startswith(campaign.astype(str), "Webinar")
        multipliers = {t: np.ones(self.n) for t in ACTIVITY_TYPES}
        multipliers["email_open"] = seniority_open * np.where(self.giveaway, 2.0, 1.0)
        multipliers["email_click"] = np.where(self.giveaway, 1.5, 1.0)
        multipliers["webinar"] = np.where(webinar_lead, 4.0, 1.0)
        for kind in ("pricing_page", "demo_request"):
            multipliers[kind] = np.where(self.giveaway, 0.3, 1.0)
        return multipliers

    def pre_moment_activities(self) -> None:
        rng, n = self.rng, self.n
        self.engagement = rng.gamma(ENGAGEMENT_SHAPE, 1 / ENGAGEMENT_SHAPE, n)
        self.multipliers = self.activity_multipliers()
        window = SCORING_DAYS_AFTER_CREATED * 86400
        leads, kinds, times = [], [], []
        self.decayed = np.zeros((n, len(ACTIVITY_TYPES)))
        self.raw_counts = np.zeros((n, len(ACTIVITY_TYPES)), dtype=np.int64)
        for k, kind in enumerate(ACTIVITY_TYPES):
            counts = rng.poisson(PRE_MOMENT_RATE[kind] * self.engagement * self.multipliers[kind])
            who = np.repeat(np.arange(n, dtype=np.int32), counts)
            before_creation = rng.random(len(who)) < PRE_CREATION_SHARE[kind]
            after = self.created[who] + np.floor(rng.random(len(who)) * (window - 1)).astype(np.int64)
            before = self.created[who] - 1 - _seconds(rng.exponential(20.0, len(who)))
            at = np.where(before_creation, before, after)
            age_days = (self.moment[who] - at) / 86400
            self.decayed[:, k] = np.bincount(
                who, weights=0.5 ** (age_days / HALF_LIFE_DAYS[kind]), minlength=n
            )
            self.raw_counts[:, k] = counts
            leads.append(who)
            kinds.append(np.full(len(who), k, dtype=np.int8))
            times.append(at)
        self.pre_events = (np.concatenate(leads), np.concatenate(kinds), np.concatenate(times))

    # step 3: the truth
    def truth(self) -> None:
        behaviour = np.log1p(self.decayed) @ np.array([ACTIVITY_EFFECTS[t] for t in ACTIVITY_TYPES])
        self.logit = self.categorical_logit() + behaviour
        self.p0 = _sigmoid(self.logit)
        self.true_probability = probability_at_moment(self.p0)
        self.legacy_score = self.legacy()

    def legacy(self) -> np.ndarray:
        """The company's current hand-set score at the scoring moment (0-100)."""
        points = np.array(list(LEGACY_SENIORITY_POINTS.values()), dtype=float)[self.seniority]
        points += np.array(list(LEGACY_SIZE_POINTS.values()), dtype=float)[self.company_size]
        for kind, (per_event, cap) in LEGACY_ACTIVITY_POINTS.items():
            points += np.minimum(self.raw_counts[:, ACTIVITY_TYPES.index(kind)] * per_event, cap)
        return np.clip(points, 0, 100)

    # step 4-5: after the moment
    def outcome_and_funnel(self) -> None:
        rng, n = self.rng, self.n
        # Follow-up delay: drawn for everyone, used for those handed over; its quantile drives the win factor.
        self.delay_quantile = rng.random(n)
        won_probability = np.minimum(1.0, self.p0 * delay_factor(self.delay_quantile))
        self.won = rng.random(n) < won_probability
        n_won = int(self.won.sum())
        quality = self.logit - np.median(self.logit)

        # Stages: winners pass every stage; the others are drawn so the stage rates hit their targets.
        self.mql = self.won.copy()
        not_won = ~self.won
        self.mql[not_won] = _draw_with_target(
            rng, 0.06 * (self.legacy_score[not_won] - 40), MQL_SHARE * n - n_won
        )
        n_mql = int(self.mql.sum())
        candidates = self.mql & not_won
        self.sal = self.won.copy()
        # Sales accept the MQLs they can reach about equally across channels (so established campaigns differ
        # in acceptance only through their wins), but recognise giveaway hunters at first contact.
        self.sal[candidates] = _draw_with_target(
            rng, -2.0 * self.giveaway[candidates].astype(float), SAL_PER_MQL * n_mql - n_won
        )
        n_sal = int(self.sal.sum())
        sql_per_sal = float(np.clip(n_won / (WON_PER_SQL * max(n_sal, 1)), 0.52, 0.68))
        candidates = self.sal & not_won
        self.sql = self.won.copy()
        self.sql[candidates] = _draw_with_target(rng, 0.3 * quality[candidates], sql_per_sal * n_sal - n_won)
        not_accepted = self.mql & ~self.sal
        self.rejected = np.zeros(n, dtype=bool)
        self.rejected[not_accepted] = _draw_with_target(
            rng, -0.4 * quality[not_accepted] + 2.5 * self.giveaway[not_accepted], REJECTED_PER_MQL * n_mql
        )
        self.touched = self.mql & ~(not_accepted & (rng.random(n) < UNTOUCHED_SHARE))

        # Timestamps (epoch seconds) along the funnel.
        day = 86400
        self.mql_at = self.moment + _seconds(np.minimum(rng.exponential(0.5, n), 3.0))
        z = _normal_quantile(np.clip(self.delay_quantile, 1e-9, 1 - 1e-9))
        delay_hours = np.minimum(DELAY_MEDIAN_HOURS * np.exp(DELAY_SIGMA * z), DELAY_MAX_HOURS)
        self.first_touch_at = self.mql_at + _seconds(delay_hours / 24)
        self.sal_at = self.first_touch_at + _seconds(rng.gamma(1.5, 1.0, n))
        self.rejected_at = np.where(self.touched, self.first_touch_at, self.mql_at + 10 * day) + _seconds(
            rng.gamma(1.5, 1.3, n)
        )
        self.sql_at = self.sal_at + _seconds(np.minimum(rng.gamma(2.0, 6.0, n), 45.0))
        horizon_end = self.moment + HORIZON_DAYS * day
        latest_close = horizon_end - day
        won_gap = 7 * day + (latest_close - 7 * day - self.sql_at) * rng.beta(2.0, 3.0, n)
        lost_after_sql = self.sql_at + _seconds(rng.gamma(2.0, 18.0, n))
        lost_after_sal = self.sal_at + _seconds(rng.gamma(2.0, 10.0, n))
        closed = np.where(
            self.won,
            self.sql_at + won_gap.astype(np.int64),
            np.where(self.sql, lost_after_sql, np.where(self.sal, lost_after_sal, self.rejected_at)),
        )
        self.closed_at = np.minimum(closed, latest_close)
        self.has_close = self.won | self.sal | self.rejected
        self.horizon_end = horizon_end

        size = np.array(list(COMPANY_SIZES))[self.company_size]
        median = pd.Series(size).map(AMOUNT_MEDIAN_BY_SIZE).to_numpy(dtype=float)
        self.amount = np.round(median * np.exp(rng.normal(0.0, AMOUNT_SIGMA, n)), -1)

        # Rejection reasons follow who the lead is.
        reason = REJECTION_REASONS.index
        small = self.company_size <= list(COMPANY_SIZES).index("11-50")
        junior = self.seniority >= list(SENIORITIES).index("Individual contributor")
        weights = np.ones((n, len(REJECTION_REASONS)))
        weights[:, reason("No budget")] += 2.0 * small
        weights[:, reason("Not a decision maker")] += 2.5 * junior
        weights[:, reason("Already a customer")] *= 0.3
        weights[:, reason("Only wanted the giveaway")] = np.where(self.giveaway, 12.0, 0.0)
        cumulative = np.cumsum(weights, axis=1)
        pick = (cumulative < rng.random(n)[:, None] * cumulative[:, -1:]).sum(axis=1)
        self.rejection_reason = np.array(REJECTION_REASONS, dtype=object)[
            np.minimum(pick, len(REJECTION_REASONS) - 1)
        ]
        self.reason_missing = rng.random(n) < REJECTION_WITHOUT_REASON_SHARE
        self.owner_missing = rng.random(n) < LEADS_WITHOUT_OWNER_SHARE
        self.owner_code = rng.integers(0, 1 << 30, n)

    def post_moment_activities(self) -> None:
        rng, n = self.rng, self.n
        progress = np.where(self.won, 2.5, np.where(self.sql, 2.0, np.where(self.sal, 1.5, 1.0)))
        leads, kinds, times = [], [], []
        for k, kind in enumerate(ACTIVITY_TYPES):
            counts = rng.poisson(POST_MOMENT_RATE[kind] * self.engagement * self.multipliers[kind] * progress)
            who = np.repeat(np.arange(n, dtype=np.int32), counts)
            at = self.moment[who] + 1 + _seconds(rng.gamma(1.0, POST_MOMENT_MEAN_DAYS, len(who)))
            keep = at <= self.period.export
            leads.append(who[keep])
            kinds.append(np.full(int(keep.sum()), k, dtype=np.int8))
            times.append(at[keep])
        pre_who, pre_kind, pre_at = self.pre_events
        keep = pre_at <= self.period.export  # leads created in the last week: their window is cut at export
        self.events = (
            np.concatenate([pre_who[keep], *leads]),
            np.concatenate([pre_kind[keep], *kinds]),
            np.concatenate([pre_at[keep], *times]),
        )
        del self.pre_events


def _normal_quantile(q: np.ndarray) -> np.ndarray:
    """The standard normal quantile function (vectorised, via scipy's ndtri)."""
    from scipy.special import ndtri

    return ndtri(q)


# --- tables -----------------------------------------------------------------------------------


def _lead_ids(n: int) -> np.ndarray:
    width = max(7, len(str(n)))
    return ("L" + pd.Series(np.arange(1, n + 1)).astype(str).str.zfill(width)).to_numpy(dtype=object)


def _contacts(sim: _Simulation) -> dict[str, np.ndarray]:
    """Synthetic names, e-mails and phones from small built-in lists (no real people)."""
    rng, n = sim.rng, sim.n
    first = np.array(FIRST_NAMES, dtype=object)[rng.integers(0, len(FIRST_NAMES), n)]
    last = np.array(LAST_NAMES, dtype=object)[rng.integers(0, len(LAST_NAMES), n)]
    country = np.array(list(COUNTRIES))[sim.country]
    calling = pd.Series(country).map({c: v[0] for c, v in COUNTRY_PHONE.items()})
    tld = pd.Series(country).map({c: v[1] for c, v in COUNTRY_PHONE.items()})
    company = pd.Series(
        np.array(DOMAIN_WORDS, dtype=object)[rng.integers(0, len(DOMAIN_WORDS), n)]
    ) + pd.Series(np.array(DOMAIN_SUFFIXES, dtype=object)[rng.integers(0, len(DOMAIN_SUFFIXES), n)])
    free_mail = rng.random(n) < np.where(sim.giveaway, 0.45, 0.06)
    domain = (company + "." + tld).where(
        ~free_mail, pd.Series(np.array(FREE_MAIL, dtype=object)[rng.integers(0, len(FREE_MAIL), n)])
    )
    local = pd.Series(first).str.lower() + "." + pd.Series(last).str.lower().str.replace(" ", "", regex=False)
    email = local + "@" + domain
    number = (
        pd.Series(rng.integers(200, 999, n)).astype(str)
        + " "
        + pd.Series(rng.integers(0, 10_000_000, n)).astype(str).str.zfill(7)
    )
    phone = "+" + calling + " " + number
    return {
        "first_name": first,
        "last_name": last,
        "email": email.to_numpy(dtype=object),
        "phone": phone.to_numpy(dtype=object),
    }


def _owners(sim: _Simulation, reps: int) -> np.ndarray:
    names = np.array(
        [
            f"{FIRST_NAMES[i % len(FIRST_NAMES)]} {LAST_NAMES[(i // len(FIRST_NAMES) + i) % len(LAST_NAMES)]}"
            for i in range(reps)
        ],
        dtype=object,
    )
    owner = names[sim.owner_code % reps]
    owner[sim.owner_missing] = None
    return owner


def _leads_frame(sim: _Simulation, reps: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    export = sim.period.export
    ids = _lead_ids(sim.n)

    def when(seconds: np.ndarray, happened: np.ndarray) -> pd.Series:
        return _to_datetime(seconds, happened & (seconds <= export))

    won_known = sim.won & (sim.closed_at <= export)
    horizon_passed = sim.horizon_end <= export
    outcome = np.where(won_known, "won", np.where(horizon_passed, "lost", "open"))
    closed = outcome != "open"
    rejected_seen = sim.rejected & (sim.rejected_at <= export)
    reason = np.where(rejected_seen & ~sim.reason_missing, sim.rejection_reason, None)
    campaign = np.array(sim.campaign_names, dtype=object)[sim.campaign]
    source = np.array(
        [CAMPAIGNS[c][0] if c in CAMPAIGNS else PLANTED_SOURCE for c in sim.campaign_names], dtype=object
    )[sim.campaign]
    columns = {
        "lead_id": ids,
        "created_at": _to_datetime(sim.created),
        "outcome": outcome,
        "closed_at": when(sim.closed_at, closed & sim.has_close),
        "amount": np.where(outcome == "won", sim.amount, np.nan),
        "source": source,
        "campaign": campaign,
        "mql_at": when(sim.mql_at, sim.mql),
        "sal_at": when(sim.sal_at, sim.sal),
        "sql_at": when(sim.sql_at, sim.sql),
        "rejected_at": when(sim.rejected_at, sim.rejected),
        "rejection_reason": reason,
        "first_touch_at": when(sim.first_touch_at, sim.touched),
        "owner": _owners(sim, reps),
        "legacy_score": sim.legacy_score,
        "industry": np.array(list(INDUSTRIES), dtype=object)[sim.industry],
        "company_size": np.array(list(COMPANY_SIZES), dtype=object)[sim.company_size],
        "country": np.array(list(COUNTRIES), dtype=object)[sim.country],
        "seniority": np.array(list(SENIORITIES), dtype=object)[sim.seniority],
        "job_function": np.array(list(JOB_FUNCTIONS), dtype=object)[sim.job_function],
        **_contacts(sim),
    }
    leads = pd.DataFrame(
        {
            name: np.asarray(columns[name])
            if not isinstance(columns[name], pd.Series)
            else columns[name].to_numpy()
            for name in LEAD_COLUMNS
        }
    )
    truth = pd.DataFrame({"lead_id": ids, "true_probability": sim.true_probability})
    return leads, truth


def _activities_table(sim: _Simulation, lead_ids: np.ndarray) -> pa.Table:
    who, kind, at = sim.events
    order = np.argsort(at, kind="stable")  # export order: by time (ties keep their deterministic order)
    ids = pa.array(lead_ids, type=pa.string())
    return pa.table(
        {
            "lead_id": ids.take(pa.array(who[order])),
            "occurred_at": pa.array(at[order].astype("datetime64[s]").astype("datetime64[ns]")),
            "activity_type": pa.DictionaryArray.from_arrays(
                pa.array(kind[order]), pa.array(list(ACTIVITY_TYPES))
            ),
        }
    )


# --- config -----------------------------------------------------------------------------------


def _sales_and_service_levels(sim: _Simulation) -> tuple[dict, dict]:
    """Capacity and service levels sized to the history, so that the workshop opens with a feasible zone to
    argue inside: sales can work about 90 % of the calm months' MQLs, marketing commits to half of them."""
    calm_months = sim.period.months - PLANTED_MONTHS
    mql_per_month = (sim.mql & (sim.month_index < calm_months)).sum() / calm_months
    per_rep_week = 25.0
    reps = max(1, round(0.9 * mql_per_month * 12 / 52 / per_rep_week))
    sales = {"reps": int(reps), "leads_per_rep_per_week": per_rep_week, "cost_per_lead": 150.0,
             "currency": "EUR"}
    service = {
        "follow_up_hours": ServiceLevelsConfig().follow_up_hours,
        "accept_within_days": ServiceLevelsConfig().accept_within_days,
        "mql_per_month": int(max(10, round(0.5 * mql_per_month, -1))),
        "min_win_rate": 0.10,
    }
    return sales, service


def _config(leads_file: str, reports: str, sales: dict, service: dict, seed: int, as_of: str) -> dict:
    return {
        "source": {"leads": leads_file, "activities": "activities.parquet", "truth": "truth.parquet"},
        "families": {
            "demographics": ["industry", "company_size", "country", "seniority", "job_function"],
            "funnel": ["source", "campaign"],
            "interest": ["pricing_page", "content_download"],
            "engagement": ["email_open", "email_click", "webinar"],
            "activity": ["web_visit", "demo_request"],
            "ignore": ["lead_id", "first_name", "last_name", "email", "phone", "owner"],
        },
        "scoring": {
            "moment": "created",
            "days_after_created": SCORING_DAYS_AFTER_CREATED,
            "horizon_days": HORIZON_DAYS,
            "half_life_days": dict(HALF_LIFE_DAYS),
            "as_of": as_of,
            "seed": int(seed),
        },
        "sales": sales,
        "service_levels": service,
        "paths": {"model": "model", "agreements": "agreements", "reports": reports},
    }


# --- writing ----------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _previous_demo(out: Path) -> dict | None:
    """The manifest of a demo folder at ``out``; ``None`` when ``out`` is absent or empty.

    Raises
    ------
    DataError
        When ``out`` holds something else, or the demo's config was edited since it was written.
    """
    if not out.exists():
        return None
    if not out.is_dir():
        raise DataError("exists and is not a folder", file=str(out), hint="pass another --out")
    if not any(out.iterdir()):
        return None
    manifest_path = out / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise DataError(
            "the folder is not empty and was not written by `alignment demo-data`; refusing to overwrite it",
            file=str(out),
            hint="pass an empty or new --out folder",
        ) from None
    config = out / "alignment.toml"
    if config.is_file() and _sha256(config) != manifest.get("config_sha256"):
        raise DataError(
            "was edited since the demo was generated; refusing to overwrite it",
            file=str(config),
            hint="move your edited config elsewhere, or pass another --out",
        )
    return manifest


def _truth_effects(period) -> dict:
    """``truth_effects.json``: what the generator planted, for the checks that the fit recovers it."""
    return {
        **true_effects(),
        "campaign_source": {**{c: v[0] for c, v in CAMPAIGNS.items()}, PLANTED_CAMPAIGN: PLANTED_SOURCE},
        "post_moment": {
            "follow_up_delay": {
                "applies_to": "win probability, after the scoring moment",
                "delay_hours": {
                    "distribution": "lognormal",
                    "median": DELAY_MEDIAN_HOURS,
                    "sigma": DELAY_SIGMA,
                    "max": DELAY_MAX_HOURS,
                },
                "factor": f"1 + {DELAY_EFFECT} * (1 - 2 * F(delay)), F = the delay's CDF (mean 1)",
                "true_probability": "E over the delay of min(1, sigmoid(logit) * factor)",
            },
        },
        "planted_change": {
            "from_month": str(period.planted_from),
            "campaign": PLANTED_CAMPAIGN,
            "source": PLANTED_SOURCE,
            "extra_volume_share": PLANTED_EXTRA_VOLUME,
            "company_size_shares": {
                "before": {k: v[0] for k, v in COMPANY_SIZES.items()},
                "after": PLANTED_COMPANY_SIZE_SHARES,
            },
            "seniority_shares": {
                "before": {k: v[0] for k, v in SENIORITIES.items()},
                "after": PLANTED_SENIORITY_SHARES,
            },
        },
        "scoring": {
            "moment": "created",
            "days_after_created": SCORING_DAYS_AFTER_CREATED,
            "horizon_days": HORIZON_DAYS,
            "decay": "0.5 ** (age_days / half_life_days[type])",
            "count": "log1p(sum of decayed events strictly before the scoring moment)",
        },
    }


def write_demo(
    out: str | Path,
    n_leads: int = 20_000,
    months: int = 24,
    seed: int = 7,
    file_format: str | None = None,
    reports_dir: str | Path | None = None,
    end: str = "2026-10-31",
) -> Path:
    """Generate the seeded demo history and a ready config into ``out``, atomically.

    Parameters
    ----------
    out : str or Path
        Target folder. It must be absent, empty or a previous demo (which is replaced; anything else a user
        saved in it, such as ``model/``, ``agreements/`` or ``reports/``, is kept).
    n_leads : int, default 20000
        Number of leads (>= 200).
    months : int, default 24
        Length of the history in calendar months, ending with the month of ``end`` (>= 6; the last 3 carry
        the planted change).
    seed : int, default 7
        Random seed: the same seed, size and ``end`` give byte-identical files.
    file_format : {"csv", "parquet"}, optional
        Format of the leads table; default CSV up to 100,000 leads, Parquet above.
    reports_dir : str or Path, optional
        Where the written config sends monthly reports; default ``out/reports``.
    end : str, default "2026-10-31"
        The export date (``YYYY-MM-DD``); the history ends at its 23:59:59.

    Returns
    -------
    Path
        The folder written.

    Raises
    ------
    ConfigError
        For a bad parameter.
    DataError
        When ``out`` holds something that is not a previous demo.
    """
    period = _check_parameters(n_leads, months, seed, file_format, end)
    given, out = Path(out), Path(out).resolve()  # resolved: "." must have a real name and parent
    if out == Path.cwd().resolve() or out in Path.cwd().resolve().parents:
        raise DataError("refusing to replace the current folder or one of its parents", file=str(given),
                        hint="pass a subfolder, e.g. --out data/demo")
    _previous_demo(out)  # refuse early, before spending time
    file_format = file_format or ("csv" if n_leads <= CSV_MAX_LEADS else "parquet")
    leads_file = f"leads.{file_format}"
    reports = Path(reports_dir) if reports_dir is not None else out / "reports"
    reports_relative = Path(os.path.relpath(reports.resolve(), out.resolve())).as_posix()
    as_of = pd.Timestamp(period.export, unit="s").strftime("%Y-%m-%d %H:%M:%S")

    steps = tqdm(total=8, desc="demo history", unit="step", disable=None, leave=False)
    sim = _Simulation(int(n_leads), period, int(seed))
    for step in (
        sim.leads,
        sim.pre_moment_activities,
        sim.truth,
        sim.outcome_and_funnel,
        sim.post_moment_activities,
    ):
        step()
        steps.update()
    sales, service = _sales_and_service_levels(sim)
    leads, truth = _leads_frame(sim, reps=max(sales["reps"], 2))
    steps.update()

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        _write_files(staging, sim, leads, truth, period, steps, leads_file=leads_file,
                     config=_config(leads_file, reports_relative, sales, service, seed, as_of),
                     manifest={"generator": "alignment demo-data", "n_leads": int(n_leads),
                               "months": int(months), "seed": int(seed), "end": str(end),
                               "format": file_format})
        _swap_in(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        steps.update()
        steps.close()
    return given


def _write_files(staging: Path, sim: _Simulation, leads: pd.DataFrame, truth: pd.DataFrame, period,
                 steps, *, leads_file: str, config: dict, manifest: dict) -> None:
    """Every file of the demo folder, into ``staging`` (swapped in by the caller)."""
    if manifest["format"] == "csv":
        leads.to_csv(staging / leads_file, index=False, date_format="%Y-%m-%d %H:%M:%S")
    else:
        pq.write_table(pa.Table.from_pandas(leads, preserve_index=False), staging / leads_file)
    pq.write_table(_activities_table(sim, leads["lead_id"].to_numpy()), staging / "activities.parquet")
    steps.update()
    pq.write_table(pa.Table.from_pandas(truth, preserve_index=False), staging / "truth.parquet")
    effects = _truth_effects(period)
    (staging / "truth_effects.json").write_text(json.dumps(effects, indent=2) + "\n", encoding="utf-8")
    config_path = staging / "alignment.toml"
    config_path.write_text(
        "# Written by `alignment demo-data`; a ready workspace config for the demo.\n"
        + tomli_w.dumps(config),
        encoding="utf-8",
    )
    manifest = {
        **manifest,
        "files": sorted(p.name for p in staging.iterdir()) + [MANIFEST],
        "config_sha256": _sha256(config_path),
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _swap_in(staging: Path, out: Path) -> None:
    """Replace ``out`` by ``staging`` with renames, carrying over whatever the user saved in ``out``."""
    manifest = _previous_demo(out)  # re-checked: nothing may have appeared meanwhile
    if not out.exists():
        staging.rename(out)
        return
    generated = set(manifest["files"]) if manifest else set()
    generated.update(GENERATED_FILES)
    carried: list[str] = []
    retired = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
    try:
        for entry in out.iterdir():
            if entry.name not in generated:  # model/, agreements/, reports/ ...: the user's, kept
                entry.rename(staging / entry.name)
                carried.append(entry.name)
        out.rename(retired)
        staging.rename(out)
    except BaseException:
        # The caller removes the staging folder: the user's entries go back to where they were first.
        if retired.exists() and not out.exists():
            retired.rename(out)
        for name in carried:
            if (staging / name).exists():
                (staging / name).rename(out / name)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def demo_summary(out: str | Path) -> str:
    """A one-paragraph summary of a written demo folder (for the command line)."""
    out = Path(out)
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    return (
        f"demo history: {manifest['n_leads']:,} leads over {manifest['months']} months (seed "
        f"{manifest['seed']}, ending {manifest['end']}) in {out}/ — config: {out / 'alignment.toml'}"
    )


__all__ = [
    "write_demo",
    "true_effects",
    "probability_at_moment",
    "delay_factor",
    "demo_summary",
    "ACTIVITY_TYPES",
    "HALF_LIFE_DAYS",
    "PLANTED_CAMPAIGN",
]
