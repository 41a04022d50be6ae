"""Threshold engine speed: one full update at 1M leads, engine vs naive pandas filtering.

A full update is every number the workshop shows for one proposal (MQL, fast-track and recycle
thresholds, the table by grade, the feasible zone and the expected-value optimum). The budget is
50 ms. The naive version filters the frame for each number; the two must give the same answers.

Run: ``.venv/bin/python -m benchmarks.bench_thresholds [--leads N] [--updates N]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import pandas as pd
from tqdm import tqdm

from alignment.thresholds import Proposal, ThresholdEngine, synthetic_scored_validation

BUDGET_MS = 50.0


def random_proposal(rng: np.random.Generator) -> Proposal:
    recycle, mql, fast_track = np.sort(rng.uniform(0, 100, 3))
    return Proposal(mql=mql, fast_track=fast_track, recycle=recycle,
                    mql_per_month=float(rng.uniform(0, 3000)), min_win_rate=float(rng.uniform(0, 0.6)))


def naive_update(data: pd.DataFrame, months: float, proposal: Proposal) -> dict:
    """The headline numbers of a full update by boolean filtering (what a notebook would do)."""
    out = {}
    for name in ("mql", "fast_track", "recycle"):
        above = data[data["score"] >= getattr(proposal, name)]
        missed = int(data["won"].sum() - above["won"].sum())
        out[name] = (len(above) / months, above["probability"].mean(), missed)
    above = data[data["score"] >= proposal.mql]
    out["by_grade"] = above.groupby("grade")["probability"].agg(["size", "mean"])
    return out


def run(n_leads: int = 1_000_000, updates: int = 200, naive_updates: int = 20, seed: int = 0) -> dict:
    data = synthetic_scored_validation(n_leads, seed=seed)
    start = time.perf_counter()
    engine = ThresholdEngine(reps=40, leads_per_rep_per_week=60, cost_per_lead=100).fit(data)
    fit_s = time.perf_counter() - start
    rng = np.random.default_rng(seed)
    proposals = [random_proposal(rng) for _ in range(updates)]

    engine_ms, views = [], []
    for proposal in tqdm(proposals, desc="engine updates", leave=False):
        start = time.perf_counter()
        views.append(engine.evaluate(proposal))
        engine_ms.append((time.perf_counter() - start) * 1000)

    naive_ms, mismatches = [], 0
    for proposal, view in tqdm(list(zip(proposals, views, strict=True))[:naive_updates],
                               desc="naive updates", leave=False):
        start = time.perf_counter()
        naive = naive_update(data, engine.months_, proposal)
        naive_ms.append((time.perf_counter() - start) * 1000)
        for name in ("mql", "fast_track", "recycle"):
            m = getattr(view, name)
            volume, rate, missed = naive[name]
            same_rate = np.isclose(m.expected_win_rate, rate, equal_nan=True)
            same = np.isclose(m.leads_per_month, volume) and m.wins_missed == missed and same_rate
            mismatches += not same
        grades = view.by_grade
        counts = (grades["leads_per_month"] * engine.months_).round().astype(int)
        mismatches += not counts[counts > 0].to_dict() == naive["by_grade"]["size"].to_dict()

    result = {
        "n_leads": n_leads,
        "fit_seconds": round(fit_s, 3),
        "engine_update_ms_median": round(statistics.median(engine_ms), 3),
        "engine_update_ms_p95": round(float(np.percentile(engine_ms, 95)), 3),
        "naive_update_ms_median": round(statistics.median(naive_ms), 1),
        "updates": updates,
        "naive_updates_checked": len(naive_ms),
        "mismatches": mismatches,
        "budget_ms": BUDGET_MS,
    }
    result["within_budget"] = result["engine_update_ms_median"] <= BUDGET_MS
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--naive-updates", type=int, default=20)
    args = parser.parse_args()
    result = run(args.leads, args.updates, args.naive_updates)
    print(f"threshold engine at {result['n_leads']:,} leads: fit {result['fit_seconds']} s; "
          f"full update median {result['engine_update_ms_median']} ms "
          f"(p95 {result['engine_update_ms_p95']} ms, budget "
          f"{BUDGET_MS:.0f} ms) over {result['updates']} random proposals; naive pandas filtering median "
          f"{result['naive_update_ms_median']} ms; {result['mismatches']} mismatches in "
          f"{result['naive_updates_checked']} compared updates")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
