"""Speed and memory of point-in-time features and the column guards on a large synthetic history.

Generates leads and activity events in memory with numpy (no files), then times
:func:`alignment.features.build_features` and :func:`alignment.guards.screen_columns` on them, one after the
other. Prints wall and CPU seconds, and peak memory: the process's peak resident set (inputs included) and
the extra memory the call itself needed on top of what was resident before it (sampled every 20 ms).

Run: ``.venv/bin/python -m benchmarks.bench_features`` (1M leads, 20M events) or with
``--leads 20000 --events 400000`` for a quick look. ``--lead-ids category`` hands the activities' lead ids
over as a pandas Categorical instead of strings (what a loader can do to save memory and hashing).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import psutil

from alignment.config import parse_config
from alignment.features import build_features
from alignment.guards import screen_columns
from alignment.loader import Workspace

ACTIVITY_TYPES = ["email_open", "email_click", "webinar", "pricing_page", "content_download", "web_visit",
                  "demo_request", "form"]
DAY_S = 86_400


def make_history(n_leads: int, n_events: int, seed: int, lead_ids: str) -> Workspace:
    """A 2-year CRM history with the loader's column types (timestamps ns, outcome and types categorical)."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2023-01-01", "s")
    created = start + rng.integers(0, 730 * DAY_S, n_leads).astype("timedelta64[s]")
    is_mql = rng.random(n_leads) < 0.5
    mql = np.where(is_mql, created + rng.exponential(10 * DAY_S, n_leads).astype("timedelta64[s]"),
                   np.datetime64("NaT"))
    state = rng.choice(np.array(["won", "lost", "open"]), n_leads, p=[0.1, 0.6, 0.3])
    time_to_close = rng.exponential(60 * DAY_S, n_leads).astype("timedelta64[s]")
    closed = np.where(state != "open", created + time_to_close, np.datetime64("NaT"))
    ids = np.char.add("L", np.arange(n_leads).astype("U8"))
    leads = pd.DataFrame({
        "lead_id": pd.array(ids, dtype="str"),
        "outcome": pd.Categorical(state, categories=["won", "lost", "open"]),
        "created_at": created.astype("datetime64[ns]"),
        "mql_at": mql.astype("datetime64[ns]"),
        "closed_at": closed.astype("datetime64[ns]"),
        "source": pd.array(rng.choice(["ads", "seo", "events", "partner", "outbound"], n_leads), dtype="str"),
        "industry": pd.array(rng.choice([f"industry_{i}" for i in range(8)], n_leads), dtype="str"),
        "employees": rng.lognormal(4, 1.3, n_leads).round(),
    })

    lead_code = rng.integers(0, n_leads, n_events, dtype=np.int32)
    offset = rng.integers(-10 * DAY_S, 200 * DAY_S, n_events).astype("timedelta64[s]")
    occurred = (created[lead_code] + offset).astype("datetime64[ns]")
    activity_type = pd.Categorical.from_codes(rng.integers(0, len(ACTIVITY_TYPES), n_events, dtype=np.int8),
                                              categories=ACTIVITY_TYPES)
    event_lead = pd.Categorical.from_codes(lead_code, categories=pd.Index(ids, dtype="str"))
    activities = pd.DataFrame({
        "lead_id": event_lead if lead_ids == "category" else pd.Series(event_lead).astype("str"),
        "occurred_at": occurred,
        "activity_type": activity_type,
    })
    del event_lead, lead_code, occurred
    return Workspace(leads=leads, activities=activities, truth=None, truth_effects=None, warnings=[],
                     excluded={}, families={"industry": "demographics", "employees": "demographics"},
                     as_of=pd.Timestamp("2025-01-31"))


def measure(call: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    """Run ``call`` once: its wall and CPU seconds, and its peak resident memory above the starting point."""
    process = psutil.Process()
    baseline = process.memory_info().rss
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    done.set()
    sampler.join()
    peak[0] = max(peak[0], process.memory_info().rss)
    return result, {"seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
                    "extra_peak_mib": round((peak[0] - baseline) / 2**20, 1)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lead-ids", choices=["str", "category"], default="str")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    generation = time.perf_counter()
    workspace = make_history(args.leads, args.events, args.seed, args.lead_ids)
    generation = time.perf_counter() - generation
    config = parse_config({"source": {"leads": "memory"},
                           "scoring": {"moment": "mql", "horizon_days": 180,
                                       "half_life_days": {"email_open": 14, "pricing_page": 45}}})
    features, feature_cost = measure(lambda: build_features(workspace, config))
    guard, guard_cost = measure(lambda: screen_columns(features.X, features.label, features.family, config,
                                                       outcome=workspace.leads.set_index(features.X.index)
                                                       ["outcome"]))
    figures = {
        "leads": args.leads, "events": args.events, "lead_ids": args.lead_ids,
        "generation_seconds": round(generation, 1),
        "build_features": feature_cost,
        "screen_columns": guard_cost,
        "process_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "features": list(features.X.columns),
        "labelled_leads": int(features.label.notna().sum()),
        "kept": guard.kept,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"{args.leads:,} leads, {args.events:,} events (lead ids as {args.lead_ids}); "
              f"generated in {generation:.1f} s")
        for name in ("build_features", "screen_columns"):
            cost = figures[name]
            print(f"  {name:15s} {cost['seconds']:6.2f} s wall  {cost['cpu_seconds']:6.2f} s CPU  "
                  f"+{cost['extra_peak_mib']:,.0f} MiB peak above its inputs")
        print(f"  process peak RSS (inputs included): {figures['process_peak_rss_mib']:,.0f} MiB")
        print(f"  {len(figures['features'])} features, {figures['labelled_leads']:,} labelled leads, "
              f"{len(guard.kept)} kept by the guards")
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
