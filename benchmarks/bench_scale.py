"""``make bench-scale``: the engine path at 10M leads + ~200M events on one machine, and Spark on the 1M.

Not part of ``make bench`` or CI: the 10M history takes about 4 minutes to generate (once, cached in
``benchmarks/cache/scale-10m``) and ~15 GB of disk while it is written. It is ten 1M-lead demo histories
(seeds 101–110, made by the real ``alignment demo-data``), their ids prefixed by the chunk so they stay
unique: one ``leads.parquet`` of 10M rows and an ``activities/`` folder of ten Parquet parts (read by the
engine as one hive-partitioned table).

Measured, each as a whole ``alignment fit`` process (wall time, peak RSS of the process tree):

- ``scale_10m_fit_seconds`` / ``scale_10m_fit_peak_mib``: DuckDB (the default engine) with
  ``memory_limit = "2GB"`` (it spills beyond that), against the targets ≤ 10 min and ≤ 8 GiB;
- ``spark_1m_fit_seconds`` / ``spark_1m_fit_peak_mib``: the 1M history of ``make bench`` with
  ``backend = "spark"``, ``local[2]`` (the cost of the cluster path on one machine; the JVM is in the tree).

Run: ``.venv/bin/python -m benchmarks.bench_scale`` → ``benchmarks/results/scale.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tomli_w

from benchmarks.run import (
    COMMAND_TIMEOUT,
    ROOT,
    BenchContext,
    alignment_command,
    ensure_demo,
    measure_command,
    section_machine,
    write_json_atomic,
)

CHUNK_LEADS = 1_000_000
CHUNKS = 10
FIRST_SEED = 101
CACHE = ROOT / "benchmarks" / "cache"
SCALE_TIMEOUT = 3 * 3600


def build_history(out: Path, chunks: int = CHUNKS, chunk_leads: int = CHUNK_LEADS) -> Path:
    """The 10M history in ``out`` (kept when complete: ``meta.json`` is written last)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if (out / "meta.json").is_file():
        return out
    if out.exists():
        shutil.rmtree(out)
    (out / "activities").mkdir(parents=True)
    writer = None
    n_events = 0
    for chunk in range(chunks):
        part = out / f"chunk-{chunk}"
        result = measure_command(
            alignment_command("demo-data", "--leads", str(chunk_leads), "--seed", str(FIRST_SEED + chunk),
                              "--format", "parquet", "--out", str(part)),
            CACHE / "logs" / f"scale-demo-{chunk}.log", timeout=COMMAND_TIMEOUT)
        if result.returncode != 0:
            raise RuntimeError(f"demo-data chunk {chunk} failed: {result.last_line()}")
        prefix = pa.scalar(f"C{chunk}-")
        leads = pq.read_table(part / "leads.parquet")
        leads = leads.set_column(leads.column_names.index("lead_id"), "lead_id",
                                 pc.binary_join_element_wise(prefix, leads["lead_id"].cast(pa.string()), ""))
        if writer is None:
            writer = pq.ParquetWriter(out / "leads.parquet", leads.schema)
        writer.write_table(leads.cast(writer.schema))
        events = pq.read_table(part / "activities.parquet")
        prefixed = pc.binary_join_element_wise(prefix, events["lead_id"].cast(pa.string()), "")
        events = events.set_column(events.column_names.index("lead_id"), "lead_id", prefixed)
        pq.write_table(events, out / "activities" / f"part-{chunk}.parquet")
        n_events += events.num_rows
        if chunk == 0:
            config = tomllib.loads((part / "alignment.toml").read_text())
        shutil.rmtree(part)
        print(f"  chunk {chunk + 1}/{chunks}: {n_events:,} events so far", flush=True)
    writer.close()
    config["source"] = {"leads": "leads.parquet", "activities": "activities"}
    config["sales"]["reps"] = config["sales"]["reps"] * chunks
    config["service_levels"]["mql_per_month"] = config["service_levels"]["mql_per_month"] * chunks
    config["engine"] = {"memory_limit": "2GB", "threads": 2}
    config["paths"] = {"model": "scale-model", "agreements": "scale-agreements", "reports": "scale-reports"}
    (out / "alignment.toml").write_text(tomli_w.dumps(config))
    meta = {"leads": chunks * chunk_leads, "events": n_events,
            "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    (out / "meta.json").write_text(json.dumps(meta, indent=2))
    return out


def fit(config: Path, name: str) -> dict[str, Any]:
    """One ``alignment fit`` process: wall seconds, peak RSS of its tree, its last line."""
    model_dir = config.parent / tomllib.loads(config.read_text())["paths"]["model"]
    if model_dir.exists():
        shutil.rmtree(model_dir)
    result = measure_command(alignment_command("fit", "--config", str(config)),
                             CACHE / "logs" / f"{name}.log", timeout=SCALE_TIMEOUT)
    if result.returncode != 0:
        raise RuntimeError(f"{name}: alignment fit exited {result.returncode}: {result.last_line()}")
    card = json.loads((model_dir / "model.json").read_text())
    return {f"{name}_seconds": round(result.seconds, 1), f"{name}_peak_mib": round(result.peak_mib, 1),
            f"{name}_auc_holdout": round(card["metrics"]["holdout"]["auc"], 4) if "metrics" in card else None}


def spark_config(demo_dir: Path) -> Path:
    """The 1M bench history's config with the aggregation on Spark ``local[2]``."""
    config = tomllib.loads((demo_dir / "alignment.toml").read_text())
    config["engine"] = {"backend": "spark", "master": "local[2]"}
    config["paths"] = {"model": "spark-model", "agreements": "spark-agreements", "reports": "spark-reports"}
    path = demo_dir / "spark.toml"
    path.write_text(tomli_w.dumps(config))
    return path


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "scale.json")
    parser.add_argument("--skip-spark", action="store_true")
    args = parser.parse_args(argv)
    context = BenchContext(n_leads=CHUNK_LEADS, seed=7, cache_dir=CACHE, threshold_updates=0)
    results: dict[str, Any] = dict(section_machine(context))
    history = build_history(CACHE / "scale-10m")
    results.update(json.loads((history / "meta.json").read_text()))
    print(f"fitting {results['leads']:,} leads + {results['events']:,} events on DuckDB", flush=True)
    results.update(fit(history / "alignment.toml", "scale_10m_fit"))
    if not args.skip_spark:
        demo_dir, _ = ensure_demo(context)
        print("fitting the 1M history on Spark local[2]", flush=True)
        results.update(fit(spark_config(demo_dir), "spark_1m_fit"))
    results["measured_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out, results)
    print(json.dumps({k: v for k, v in results.items() if k != "machine"}, indent=2))
    return results


if __name__ == "__main__":
    main()
