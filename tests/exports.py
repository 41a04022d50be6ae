"""Small generated exports of the shapes real CRMs hand over (not the demo generator).

Each writer puts the export and the config a new user would write from the docs into a folder and returns the
config's path. Their leaks and quirks are planted on purpose; the docstrings say which.

- :func:`write_consumer_export`: a consumer company's lead export without any dates. A rep-set status tag
  whose values name the disposition ("Closed - won by Anna", "Lost to Rivalsoft"...), a quality rating filled
  mostly for leads that converted, and an honest time-on-website number that is the strongest real signal.
- :func:`write_call_campaign`: a call-campaign history ordered by time (one row per call). The call
  duration is known only once the call ended; the win rate climbs over the history; months of the year first
  appear late.
- :func:`write_pipeline`: an opportunity pipeline over several tables (deals + accounts + products + teams,
  joined by key). The account is blank for most still-open deals; product keys differ in spelling
  ("GTXPro" in the deals, "GTX Pro" in the products table).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def write_consumer_export(folder: Path, n: int = 4_000, seed: int = 3) -> Path:
    """Lead export without dates: outcome ``Converted`` 1/0; ``Tags`` and ``Lead Quality`` leak."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    origin = rng.choice(
        ["Landing Page Submission", "API", "Lead Add Form", "Lead Import"], n, p=[0.5, 0.35, 0.1, 0.05]
    )
    occupation = rng.choice(
        ["Unemployed", "Working Professional", "Student", "Other"], n, p=[0.6, 0.2, 0.15, 0.05]
    )
    city = rng.choice(["Mumbai", "Thane", "Other Cities", "Pune"], n)
    minutes = rng.gamma(1.2, 400, n).round()
    visits = rng.poisson(3, n).astype(float)
    logit = (
        -1.2
        + 0.0016 * minutes
        + np.where(occupation == "Working Professional", 1.4, 0.0)
        + np.where(origin == "Lead Add Form", 1.5, 0.0)
        + 0.08 * visits
    )
    converted = rng.random(n) < _sigmoid(logit)
    won_tags = np.array(
        ["Closed - won by Anna", "Closed - won by Ravi", "Will call back", "Already a customer"]
    )
    lost_tags = np.array(
        [
            "No answer",
            "Not interested",
            "Lost to Rivalsoft",
            "Interested in another product",
            "Will call back",
            "Wrong number given",
        ]
    )
    tags = np.where(
        converted,
        rng.choice(won_tags, n, p=[0.35, 0.3, 0.25, 0.1]),
        rng.choice(lost_tags, n, p=[0.3, 0.25, 0.1, 0.15, 0.15, 0.05]),
    ).astype(object)
    tags[rng.random(n) < 0.35] = ""
    quality = np.where(
        converted,
        rng.choice(["High", "Might be", "Not sure"], n, p=[0.5, 0.35, 0.15]),
        rng.choice(["Might be", "Not sure", "Poor"], n, p=[0.3, 0.3, 0.4]),
    ).astype(object)
    quality[np.where(converted, rng.random(n) < 0.2, rng.random(n) < 0.7)] = ""
    frame = pd.DataFrame(
        {
            "Prospect ID": [f"p-{i:05d}" for i in range(n)],
            "Lead Origin": origin,
            "Occupation": occupation,
            "City": city,
            "Total Time Spent on Website": minutes,
            "TotalVisits": visits,
            "Tags": tags,
            "Lead Quality": quality,
            "Converted": converted.astype(int),
        }
    )
    frame.to_csv(folder / "leads.csv", index=False)
    config = folder / "alignment.toml"
    config.write_text(
        '[source]\nleads = "leads.csv"\n\n[mapping]\n"Prospect ID" = "lead_id"\n"Converted" = "outcome"\n',
        encoding="utf-8",
    )
    return config


MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]


def write_call_campaign(folder: Path, n: int = 6_000, seed: int = 5) -> Path:
    """Calls ordered by time: ``duration`` leaks, the win rate climbs 5% → 30%, late months first seen late.

    ``poutcome`` is the previous campaign's result (success / failure / nonexistent): known before the call, a
    fair attribute, and not the outcome even though its values read like one.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    # The campaign ran its first summer on volume (may-aug); the later calls spread over 16 months, a few of
    # the first summer's calls were logged under other months (pooled into "Other" in training).
    position = np.arange(n) / n
    days = np.where(position < 0.6, rng.uniform(0, 120, n), rng.uniform(125, 600, n))
    called = pd.Timestamp("2024-05-01") + pd.to_timedelta(np.sort(days), unit="D")
    month = np.array([MONTHS[m - 1] for m in called.month])
    early_rare = (position < 0.6) & (rng.random(n) < 0.01)
    month = np.where(early_rare, rng.choice(["mar", "dec"], n), month)
    age = rng.integers(20, 80, n).astype(float)
    job = rng.choice(["admin.", "blue-collar", "technician", "retired", "student", "management"], n)
    poutcome = rng.choice(["nonexistent", "failure", "success"], n, p=[0.85, 0.1, 0.05])
    base = np.where(position < 0.6, -3.0, np.where(position < 0.8, -2.1, -0.9))
    logit = base + np.where(poutcome == "success", 1.2, 0.0) + np.where(job == "retired", 0.4, 0.0)
    subscribed = rng.random(n) < _sigmoid(logit)
    duration = np.where(subscribed, rng.gamma(3.0, 180, n), rng.gamma(1.6, 110, n)).round()
    frame = pd.DataFrame(
        {
            "call_id": np.arange(1, n + 1),
            "called_on": called.strftime("%Y-%m-%d"),
            "age": age,
            "job": job,
            "month": month,
            "poutcome": poutcome,
            "duration": duration,
            "y": np.where(subscribed, "yes", "no"),
        }
    )
    frame.to_csv(folder / "calls.csv", index=False, sep=";")
    config = folder / "alignment.toml"
    config.write_text(
        '[source]\nleads = "calls.csv"\n\n[mapping]\ncall_id = "lead_id"\ncalled_on = "created_at"\n'
        'y = "outcome"\n\n[scoring]\nmoment = "created"\nhorizon_days = 30\n'
        'as_of = "2026-01-31"\n',
        encoding="utf-8",
    )
    return config


def write_pipeline(folder: Path, n: int = 4_000, seed: int = 11) -> Path:
    """Deals + accounts + products + teams; the account is blank for most open deals; 'GTXPro' ≠ 'GTX Pro'."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    accounts = pd.DataFrame(
        {
            "account": [f"Account {i:02d}" for i in range(60)],
            "sector": rng.choice(["retail", "software", "medical", "finance", "marketing"], 60),
            "revenue": rng.gamma(2.0, 900, 60).round(2),
            "employees": rng.integers(50, 20_000, 60),
        }
    )
    products = pd.DataFrame(
        {
            "product": ["GTX Basic", "GTX Pro", "MG Special", "MG Advanced", "GTK 500"],
            "series": ["GTX", "GTX", "MG", "MG", "GTK"],
            "sales_price": [550, 4821, 55, 3393, 26768],
        }
    )
    teams = pd.DataFrame(
        {
            "sales_agent": [f"Agent {i}" for i in range(12)],
            "regional_office": rng.choice(["Central", "East", "West"], 12),
        }
    )
    engage = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.uniform(0, 600, n), unit="D")
    account = rng.choice(accounts["account"], n)
    product = rng.choice(["GTX Basic", "GTXPro", "MG Special", "MG Advanced", "GTK 500"], n)
    agent = rng.choice(teams["sales_agent"], n)
    sector = accounts.set_index("account").loc[account, "sector"].to_numpy()
    logit = -0.4 + np.where(sector == "software", 0.5, 0.0) + np.where(product == "MG Special", 0.3, 0.0)
    won = rng.random(n) < _sigmoid(logit)
    age_days = (pd.Timestamp("2026-08-31") - engage).days.to_numpy()
    still_open = rng.random(n) < np.where(age_days < 200, 0.45, 0.12)
    stage = np.where(still_open, rng.choice(["Engaging", "Prospecting"], n), np.where(won, "Won", "Lost"))
    close = engage + pd.to_timedelta(rng.uniform(5, 120, n), unit="D")
    frame = pd.DataFrame(
        {
            "opportunity_id": [f"OPP{i:05d}" for i in range(n)],
            "sales_agent": agent,
            "product": product,
            "account": np.where(still_open & (rng.random(n) < 0.7), "", account),
            "deal_stage": stage,
            "engage_date": engage.strftime("%Y-%m-%d"),
            "close_date": np.where(still_open, "", close.strftime("%Y-%m-%d")),
            "close_value": np.where(
                stage == "Won", rng.gamma(2, 1500, n).round(), np.where(still_open, np.nan, 0)
            ),
        }
    )
    frame.to_csv(folder / "sales_pipeline.csv", index=False)
    accounts.to_csv(folder / "accounts.csv", index=False)
    products.to_csv(folder / "products.csv", index=False)
    teams.to_csv(folder / "sales_teams.csv", index=False)
    config = folder / "alignment.toml"
    config.write_text(
        '[source]\nleads = "sales_pipeline.csv"\n\n'
        '[[source.joins]]\npath = "accounts.csv"\non = "account"\n\n'
        '[[source.joins]]\npath = "products.csv"\non = "product"\n\n'
        '[[source.joins]]\npath = "sales_teams.csv"\non = "sales_agent"\n\n'
        '[mapping]\nopportunity_id = "lead_id"\ndeal_stage = "outcome"\nengage_date = "created_at"\n'
        'close_date = "closed_at"\nclose_value = "amount"\nsales_agent = "owner"\n\n'
        '[outcome]\nwon = ["Won"]\nlost = ["Lost"]\nopen = ["Engaging", "Prospecting"]\n\n'
        '[scoring]\nmoment = "created"\nhorizon_days = 150\n',
        encoding="utf-8",
    )
    return config
