"""Threshold engine speed: one full update at 1M leads, engine vs naive pandas filtering.

A full update is every number the workshop shows for one proposal (MQL, fast-track and recycle
thresholds, the table by grade, the feasible zone and the expected-value optimum). The budget is
50 ms. The naive version filters the frame for each number; the two must give the same answers. On the
compared proposals the two are timed alternately (neither always first), and their ratio is the ratio of
the medians.

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
from benchmarks.timing import ratio_range, spread, timed

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


def _mismatches(view, naive: dict, months: float) -> int:
    """How many of the headline answers (MQL, fast-track, recycle, by grade) differ between the two."""
    found = 0
    for name in ("mql", "fast_track", "recycle"):
        m = getattr(view, name)
        volume, rate, missed = naive[name]
        same_rate = np.isclose(m.expected_win_rate, rate, equal_nan=True)
        found += not (np.isclose(m.leads_per_month, volume) and m.wins_missed == missed and same_rate)
    counts = (view.by_grade["leads_per_month"] * months).round().astype(int)
    return found + (not counts[counts > 0].to_dict() == naive["by_grade"]["size"].to_dict())


def run(n_leads: int = 1_000_000, updates: int = 200, naive_updates: int = 20, seed: int = 0) -> dict:
    data = synthetic_scored_validation(n_leads, seed=seed)
    start = time.perf_counter()
    engine = ThresholdEngine(reps=40, leads_per_rep_per_week=60, cost_per_lead=100).fit(data)
    fit_s = time.perf_counter() - start
    rng = np.random.default_rng(seed)
    proposals = [random_proposal(rng) for _ in range(updates)]

    # The compared proposals: engine and naive timed alternately on each (neither always first), so their
    # ratio holds on a shared machine; then the rest of the proposals on the engine alone.
    engine_ms, naive_ms, mismatches = [], [], 0
    compared = proposals[:naive_updates]
    for turn, proposal in enumerate(tqdm(compared, desc="engine vs naive updates", leave=False)):
        answers: dict[str, object] = {}
        sides = {"engine": lambda p=proposal, a=answers: a.setdefault("engine", engine.evaluate(p)),
                 "naive": lambda p=proposal, a=answers: a.setdefault(
                     "naive", naive_update(data, engine.months_, p))}
        for name in (list(sides) if turn % 2 == 0 else list(reversed(sides))):
            (engine_ms if name == "engine" else naive_ms).append(timed(sides[name]) * 1000)
        mismatches += _mismatches(answers["engine"], answers["naive"], engine.months_)
    paired_engine_ms = list(engine_ms)
    for proposal in tqdm(proposals[len(compared):], desc="engine updates", leave=False):
        engine_ms.append(timed(lambda proposal=proposal: engine.evaluate(proposal)) * 1000)

    result = {
        "n_leads": n_leads,
        "fit_seconds": round(fit_s, 3),
        "engine_update_ms_median": round(statistics.median(engine_ms), 3),
        "engine_update_ms_p95": round(float(np.percentile(engine_ms, 95)), 3),
        "naive_update_ms_median": round(statistics.median(naive_ms), 1),
        "naive_update_ms_spread": round(spread(naive_ms), 1),
        "paired_engine_update_ms_median": round(statistics.median(paired_engine_ms), 3),
        "naive_vs_engine_ratio": round(statistics.median(naive_ms) / statistics.median(paired_engine_ms), 1),
        "naive_vs_engine_ratio_range": [round(r, 1) for r in ratio_range(naive_ms, paired_engine_ms)],
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
