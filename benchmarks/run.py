"""The benchmark runner: speed, memory and accuracy of the whole workbook, measured in one run.

``python -m benchmarks.run`` (``make bench``) generates the demo history at 1M leads with the real CLI
(cached under ``benchmarks/cache/``), fits it as a whole process, compares the scale with optbinning on the
same training matrix, times the threshold engine, the workshop round trip in headless Chromium and the
monthly report, prints a table and writes ``benchmarks/results/latest.json``. ``--quick`` does the same on
20,000 leads and writes ``benchmarks/results/quick.json`` (not committed). Keys carry the history size in
their names (``fit_1m_seconds``, ``fit_20k_seconds``), so a quick number is never mistaken for a full one.

A section whose module is not written yet is skipped with a "not available yet: <why>" line, and a section
that fails is reported with its error; either way the runner completes and writes its results. It exits 1
when a section failed (not when one was merely unavailable).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import importlib.util
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
import tomllib
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import tomli_w

from benchmarks import SectionUnavailable, require_attribute, require_module, timing

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = ROOT / "benchmarks" / "cache"
RESULTS_DIR = ROOT / "benchmarks" / "results"
FULL_LEADS = 1_000_000
QUICK_LEADS = 20_000
DEFAULT_SEED = 7
THRESHOLD_UPDATES = 200
PROCESS_REPEATS = 3
"""Runs of each whole-process measure (the fit, the report) in a full run."""
COMMAND_TIMEOUT = 1200
"""Seconds after which a measured command is killed (20× the 60 s targets): the runner always completes."""

SECTIONS = ("machine", "demo_data", "fit", "report", "features", "optbinning", "thresholds", "workshop")
"""In the order they run. The whole-process measures (the fit, the report) come before the sections that
work in this process: after the features section the runner holds ~4 GB it has freed but not returned, a
child started from it counted that as its own peak memory (4.3 GB for a 1.8 GB report), and the same report
took 15–16 s there against 12–13 s started from a small runner (2026-12-04, three runs each)."""

PACKAGES = ("alignment", "pandas", "numpy", "scikit-learn", "scipy", "pyarrow", "pandera", "papermill",
            "nbconvert", "voila", "ipywidgets", "playwright", "optbinning", "psutil", "duckdb",
            "ibis-framework", "pyspark")


class DependencyFailed(SectionUnavailable):
    """A section cannot run because a section it needs failed (that failure is reported on its own)."""


@dataclass
class Target:
    """A target from the issues: ``key`` must be ``<= limit`` (or ``>= limit`` when ``at_least``)."""

    key: str
    limit: float
    at_least: bool = False
    text: str = ""
    applies: bool = True
    """False for a size-bound target (set at 1M leads) read on another history size."""

    def verdict(self, results: dict[str, Any]) -> str:
        value = results.get(self.key)
        if not isinstance(value, int | float) or math.isnan(value):
            return "—"
        if not self.applies:
            return "(set for 1M)"
        ok = value >= self.limit if self.at_least else value <= self.limit
        return "met" if ok else "MISSED"


def size_label(n_leads: int) -> str:
    """A short size for key names: 1,000,000 → ``1m``, 20,000 → ``20k``, 2,500 → ``2.5k``.

    Parameters
    ----------
    n_leads : int
        Number of leads in the demo history.

    Returns
    -------
    str
        The label used in result keys such as ``fit_1m_seconds``.
    """
    if n_leads <= 0:
        raise ValueError(f"n_leads must be positive, got {n_leads}")
    for unit, suffix in ((1_000_000, "m"), (1_000, "k")):
        if n_leads >= unit:
            return f"{n_leads / unit:g}{suffix}"
    return str(n_leads)


def targets_for(label: str) -> list[Target]:
    """The targets of issues 3–6, keyed on the size-labelled result names.

    Speed, memory and the optbinning ratio are set for 1M leads: on another size they get no verdict.
    """
    full = label == size_label(FULL_LEADS)
    return [
        Target(f"fit_{label}_seconds", 20, text="≤ 20 s", applies=full),
        Target(f"fit_{label}_peak_mib", 2371, text="≤ 2371 MiB (issue 15: not above 2026-11-26's)",
               applies=full),
        Target("oracle_minus_auc", 0.01, text="≤ 0.01"),
        Target("challenger_minus_auc", 0.01, text="≤ 0.01"),
        Target("ece_holdout", 0.02, text="≤ 0.02"),
        Target("fit_vs_optbinning_ratio", 3, at_least=True, text="≥ 3×", applies=full),
        Target("auc_minus_optbinning_auc", 0.0, at_least=True, text="≥ 0 (equal or better)"),
        Target(f"threshold_update_ms_{label}", 50, text="≤ 50 ms", applies=full),
        Target("workshop_roundtrip_ms", 500, text="≤ 500 ms"),
        Target("workshop_page_load_seconds", 2, text="≤ 2 s"),
        Target(f"report_{label}_seconds", 15, text="≤ 15 s", applies=full),
        Target("report_html_mib", 5, text="≤ 5 MiB"),
    ]


# --- measuring a whole process ----------------------------------------------------------------


@dataclass
class ProcessMeasure:
    """Wall time and peak memory of one child process (and everything it started)."""

    seconds: float
    peak_mib: float
    returncode: int
    log_path: Path

    def last_line(self) -> str:
        text = self.log_path.read_text(errors="replace")
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return lines[-1] if lines else "(no output)"


class _TreeMemorySampler(threading.Thread):
    """Polls the memory of a process and its descendants (worker processes count too).

    A sum of RSS would count the pages processes share (the libraries a worker maps like its parent,
    Chromium's many processes) once per process; the tree's memory is instead each process's private
    resident memory (RSS − shared, from ``/proc/<pid>/statm``) plus the largest shared part once. (PSS would
    be exact, but reading it walks the page tables under the process's memory lock 20 times a second; the
    one full run measured with it had the fit a quarter slower.)"""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak_bytes = 0
        self._done = threading.Event()

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._done.is_set():
            private, shared = 0, 0
            try:
                processes = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for process in processes:
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    memory = process.memory_info()
                    own_shared = getattr(memory, "shared", 0)
                    private += memory.rss - own_shared
                    shared = max(shared, own_shared)
            self.peak_bytes = max(self.peak_bytes, private + shared)
            self._done.wait(self.interval)

    def stop(self) -> None:
        self._done.set()
        self.join()


def _kill_tree(pid: int) -> None:
    """Kill a process and every process it started (children first)."""
    with contextlib.suppress(psutil.NoSuchProcess):
        root = psutil.Process(pid)
        for process in [*root.children(recursive=True), root]:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()


class _LoadSampler(threading.Thread):
    """Samples the 1-minute load average during the run (2 cores: above ~2, the numbers are noisy)."""

    def __init__(self, interval: float = 2.0) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.samples: list[float] = [os.getloadavg()[0]]
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.interval):
            self.samples.append(os.getloadavg()[0])

    def stop(self) -> dict[str, float]:
        self._done.set()
        self.join()
        self.samples.append(os.getloadavg()[0])
        return {"loadavg_1m_max": round(max(self.samples), 2),
                "loadavg_1m_mean": round(sum(self.samples) / len(self.samples), 2)}


def measure_command(command: Sequence[str], log_path: Path, *, cwd: Path | None = None,
                    timeout: float | None = None) -> ProcessMeasure:
    """Run ``command`` as a child process; measure its wall time and peak memory.

    Peak memory is the larger of the kernel's peak RSS for the child (``wait4``'s ``ru_maxrss``, exact but per
    process) and the polled memory of the child's whole process tree (catches worker processes; shared pages
    counted once, see :class:`_TreeMemorySampler`).

    Parameters
    ----------
    command : sequence of str
        The command line.
    log_path : Path
        Where the child's stdout and stderr go.
    cwd : Path, optional
        Working folder of the child.
    timeout : float, optional
        Seconds after which the child and everything it started are killed (``TimeoutError``).

    Returns
    -------
    ProcessMeasure
    """
    if timeout is not None and timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout}")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "w") as log:
        start = time.perf_counter()
        process = subprocess.Popen(list(command), cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env)
        sampler = _TreeMemorySampler(process.pid)
        sampler.start()
        timed_out = threading.Event()

        def on_timeout() -> None:
            timed_out.set()
            _kill_tree(process.pid)

        timer = threading.Timer(timeout, on_timeout) if timeout else None
        if timer:
            timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            _kill_tree(process.pid)
            process.wait()
            raise
        finally:
            if timer:
                timer.cancel()
            sampler.stop()
        seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if timed_out.is_set():
        raise TimeoutError(f"{' '.join(command[:4])} ... was killed after {timeout:.0f} s (log: {log_path})")
    peak_mib = max(usage.ru_maxrss / 1024, sampler.peak_bytes / 2**20)  # ru_maxrss is in KiB on Linux
    return ProcessMeasure(seconds=seconds, peak_mib=peak_mib, returncode=process.returncode,
                          log_path=log_path)


def alignment_command(*args: str) -> list[str]:
    """The real ``alignment`` CLI, run with this interpreter (the venv's)."""
    return [sys.executable, "-m", "alignment.cli", *args]


# --- the context shared by the sections ---------------------------------------------------------


@dataclass
class BenchContext:
    """What the sections share: sizes, the cached demo history, and the fitted model folder."""

    n_leads: int
    seed: int
    cache_dir: Path
    threshold_updates: int
    echo: Callable[[str], None] = print
    process_repeats: int = 3
    """Runs of each whole-process measure (the fit, the report): their median and spread are reported."""
    label: str = ""
    demo_dir: Path | None = None
    config_path: Path | None = None
    model_dir: Path | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)
    """Facts about the run that are not numbers (which month was rendered, when the cache was made)."""

    def __post_init__(self) -> None:
        self.label = size_label(self.n_leads)

    @property
    def log_dir(self) -> Path:
        return self.cache_dir / "logs"

    def require_model(self) -> Path:
        if self.model_dir is None or not (self.model_dir / "model.json").is_file():
            raise self._missing("fit", "the fitted model folder")
        return self.model_dir

    def require_config(self) -> Path:
        if self.config_path is None:
            raise self._missing("demo_data", "the demo history")
        return self.config_path

    def _missing(self, section: str, what: str) -> SectionUnavailable:
        if section in self.failed:
            return DependencyFailed(f"needs {what}, and the {section} section failed")
        return SectionUnavailable(f"needs {what}, and the {section} section did not produce one")


def file_digest(*paths: Path) -> str:
    """A short digest of some source files (so a cache made by older code is not reused)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes() if path.is_file() else b"<missing>")
    return digest.hexdigest()[:16]


# --- sections -------------------------------------------------------------------------------------


def section_machine(ctx: BenchContext) -> dict[str, Any]:
    """Cores, memory, CPU, Python and key package versions, and how busy the machine was."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    cpu_model = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    git_commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip()
    # Code measured that differs from the commit (work in progress in the tree) is named, not hidden.
    changed = subprocess.run(["git", "status", "--porcelain", "--", "alignment", "notebooks", "benchmarks"],
                             cwd=ROOT, capture_output=True, text=True).stdout.splitlines()
    machine = {
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu": cpu_model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
        "chromium": shutil.which("chromium"),
        "git_commit": git_commit,
        "uncommitted_files": sorted(line[3:] for line in changed),
        "loadavg_1m_at_start": round(os.getloadavg()[0], 2),
    }
    return {"machine": machine}


def ensure_demo(ctx: BenchContext) -> tuple[Path, dict[str, Any]]:
    """The demo history at ``ctx.n_leads``, generated with the real CLI once and cached with its timing.

    ``meta.json`` is written last, so a folder without it is an interrupted generation and is made again; the
    cache is also made again when ``alignment/demo.py`` changed since.
    """
    require_module("alignment.demo")
    demo_dir = ctx.cache_dir / f"demo-{ctx.n_leads}-seed{ctx.seed}"
    meta_path = demo_dir / "meta.json"
    code = file_digest(ROOT / "alignment" / "demo.py")
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("demo_code") == code and (demo_dir / "alignment.toml").is_file():
            ctx.echo(f"  cached: {demo_dir} (generated in {meta['seconds']:.1f} s on {meta['created_at']})")
            return demo_dir, meta
        ctx.echo("  alignment/demo.py changed since the cache was made: generating again")
    if demo_dir.exists():
        shutil.rmtree(demo_dir)
    ctx.echo(f"  generating {ctx.n_leads:,} leads with `alignment demo-data` into {demo_dir}")
    measure = measure_command(
        alignment_command("demo-data", "--leads", str(ctx.n_leads), "--seed", str(ctx.seed), "--format",
                          "parquet", "--out", str(demo_dir)),
        ctx.log_dir / f"demo-data-{ctx.label}.log", timeout=COMMAND_TIMEOUT,
    )
    if measure.returncode != 0:
        raise RuntimeError(f"alignment demo-data exited {measure.returncode}: {measure.last_line()}")
    meta = {
        "n_leads": ctx.n_leads,
        "seed": ctx.seed,
        "seconds": round(measure.seconds, 3),
        "peak_mib": round(measure.peak_mib, 1),
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "demo_code": code,
        "n_activities": count_activities(demo_dir),
    }
    tmp = meta_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, indent=2))
    os.replace(tmp, meta_path)
    return demo_dir, meta


def count_activities(demo_dir: Path) -> int | None:
    """Rows in the demo's activities table (from the Parquet footer, without reading the data)."""
    import pyarrow.parquet as pq

    config = tomllib.loads((demo_dir / "alignment.toml").read_text())
    location = config.get("source", {}).get("activities")
    if not location:
        return None
    path = Path(location) if Path(location).is_absolute() else demo_dir / location
    if path.suffix == ".parquet" and path.is_file():
        return pq.ParquetFile(path).metadata.num_rows
    if path.is_dir():
        return sum(pq.ParquetFile(p).metadata.num_rows for p in sorted(path.glob("*.parquet")))
    return None


def write_bench_config(demo_dir: Path) -> Path:
    """A copy of the demo config whose model, agreements and reports go to the runner's own folders."""
    config = tomllib.loads((demo_dir / "alignment.toml").read_text())
    config.setdefault("paths", {}).update(
        {"model": "bench-model", "agreements": "bench-agreements", "reports": "bench-reports"})
    path = demo_dir / "bench.toml"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(tomli_w.dumps(config))
    os.replace(tmp, path)
    return path


def section_demo_data(ctx: BenchContext) -> dict[str, Any]:
    demo_dir, meta = ensure_demo(ctx)
    ctx.demo_dir = demo_dir
    ctx.config_path = write_bench_config(demo_dir)
    ctx.notes["demo_generated_at"] = meta["created_at"]
    ctx.notes["demo_dir"] = str(demo_dir)
    results = {f"demo_data_{ctx.label}_seconds": meta["seconds"]}
    if meta.get("n_activities") is not None:
        results[f"demo_activities_{ctx.label}"] = meta["n_activities"]
    return results


def section_fit(ctx: BenchContext) -> dict[str, Any]:
    """``alignment fit`` as a whole process, then the hold-out metrics from the model card it wrote."""
    config_path = ctx.require_config()
    require_module("alignment.model")
    model_dir = config_path.parent / "bench-model"
    results = repeated_command(ctx, "fit", model_dir)
    ctx.model_dir = model_dir
    results.update(card_metrics(model_dir / "model.json"))
    return results


def repeated_command(ctx: BenchContext, name: str, output: Path) -> dict[str, Any]:
    """``alignment <name> --config bench.toml`` as a whole process, ``ctx.process_repeats`` times, each from
    scratch (``output``, the runner's own folder for what it writes, removed first): the median seconds,
    their spread (max - min), every run's seconds, and the highest peak memory."""
    config_path = ctx.require_config()

    def once() -> ProcessMeasure:
        if output.exists():
            shutil.rmtree(output)
        measure = measure_command(alignment_command(name, "--config", str(config_path)),
                                  ctx.log_dir / f"{name}-{ctx.label}.log", timeout=COMMAND_TIMEOUT)
        if measure.returncode != 0:
            raise RuntimeError(f"alignment {name} exited {measure.returncode}: {measure.last_line()}")
        return measure

    measures = [once() for _ in range(ctx.process_repeats)]
    seconds = [measure.seconds for measure in measures]
    if len(measures) > 1:
        ctx.echo(f"  {len(measures)} runs: " + ", ".join(f"{value:.1f} s" for value in seconds))
    key = f"{name}_{ctx.label}"
    return {f"{key}_seconds": round(timing.median(seconds), 2),
            f"{key}_spread_seconds": round(timing.spread(seconds), 2),
            f"{key}_runs_seconds": [round(value, 2) for value in seconds],
            f"{key}_peak_mib": round(max(measure.peak_mib for measure in measures), 1)}


def card_metrics(card_path: Path) -> dict[str, float]:
    """Hold-out, oracle and challenger metrics from a model card, and the gaps the targets are about."""
    metrics = json.loads(card_path.read_text()).get("metrics", {})

    def pick(*keys: str) -> float | None:
        node: Any = metrics
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return float(node) if isinstance(node, int | float) else None

    found = {
        "auc_holdout": pick("holdout", "auc"),
        "auc_oracle": pick("oracle", "auc"),
        "auc_challenger": pick("challenger", "auc"),
        "ece_holdout": pick("holdout", "ece"),
        "brier_holdout": pick("holdout", "brier"),
    }
    results = {key: round(value, 5) for key, value in found.items() if value is not None}
    if "auc_holdout" in results:
        for other, gap in (("auc_oracle", "oracle_minus_auc"), ("auc_challenger", "challenger_minus_auc")):
            if other in results:
                results[gap] = round(results[other] - results["auc_holdout"], 5)
    missing = [key for key, value in found.items() if value is None and key != "brier_holdout"]
    if missing:
        raise RuntimeError(f"{card_path} lacks {', '.join(missing)} (metrics.holdout.auc/ece, "
                           "metrics.oracle.auc, metrics.challenger.auc)")
    return results


def section_features(ctx: BenchContext) -> dict[str, Any]:
    """Point-in-time features on the benchmark's history, and the activity aggregation on the engine against
    the pandas baseline it replaced (``benchmarks.baseline_activities``), timed interleaved.

    The workspace is read by the real loader first (timed on its own); ``build_features`` is then measured
    with ``benchmarks.bench_features.measure`` (wall, CPU and extra peak memory). The aggregation alone is
    timed :data:`benchmarks.timing.REPEATS` times per side, interleaved, on the same leads and moments; the
    ratio is of the medians (> 1: the engine is faster).
    """
    config_path = ctx.require_config()
    features = require_module("alignment.features")
    loader = require_module("alignment.loader")
    from alignment.config import load_config

    config = load_config(config_path)
    start = time.perf_counter()
    workspace = loader.load_workspace(config)
    load_seconds = time.perf_counter() - start
    results = {f"load_workspace_{ctx.label}_seconds": round(load_seconds, 2)}
    measure = importlib.import_module("benchmarks.bench_features").measure
    feature_set, cost = measure(lambda: features.build_features(workspace, config))
    results.update({f"features_{ctx.label}_seconds": float(cost["seconds"]),
                    f"features_{ctx.label}_cpu_seconds": float(cost["cpu_seconds"]),
                    f"features_{ctx.label}_extra_peak_mib": float(cost["extra_peak_mib"])})
    results.update(_aggregation_against_baseline(ctx, workspace, feature_set, config))
    return results  # the workspace is freed here, before the next section


def _aggregation_against_baseline(ctx: BenchContext, workspace: Any, feature_set: Any, config: Any
                                  ) -> dict[str, Any]:
    """The engine's activity aggregation and the pandas baseline, interleaved, on the same inputs."""
    import numpy as np
    import pandas as pd

    from alignment import features
    from benchmarks.baseline_activities import pandas_activity_features

    activities = workspace.activities
    lead_index = feature_set.X.index
    moments = feature_set.scored_at.to_numpy().astype("datetime64[ns]").view("int64")
    slug_of = {raw: features.activity_slug(raw) for raw in activities.activity_types}
    slugs = sorted(set(slug_of.values()))
    half_life = {slug: features._lookup(config.scoring.half_life_days, slug,
                                        config.scoring.default_half_life_days) for slug in slugs}
    # The baseline gets what the old loader handed it: ids as a Categorical over the leads, types categorical.
    frame = activities.backend.execute(activities.table)
    frame["lead_id"] = pd.Categorical(frame["lead_id"], categories=lead_index)
    frame["activity_type"] = frame["activity_type"].astype("category")
    out: dict[str, Any] = {}

    def engine() -> None:
        out["engine"] = features._aggregate_activities(activities, None, lead_index, moments, config,
                                                       for_fitting=False)[1]

    def baseline() -> None:
        out["pandas"] = pandas_activity_features(frame, lead_index, moments, half_life)

    seconds = timing.interleaved({"engine": engine, "pandas": baseline})
    decayed = np.column_stack([out["engine"][f"{slug}_decayed"] for slug in slugs])
    agree = bool(np.allclose(decayed, out["pandas"]["decayed"], rtol=1e-5, atol=1e-6)) and bool(
        np.array_equal(out["engine"]["active_days_90d"], out["pandas"]["active_days"]))
    lowest, highest = timing.ratio_range(seconds["pandas"], seconds["engine"])
    engine_median, pandas_median = timing.median(seconds["engine"]), timing.median(seconds["pandas"])
    ctx.echo(f"  aggregation, {timing.REPEATS} interleaved runs each: engine median {engine_median:.2f} s, "
             f"pandas baseline {pandas_median:.2f} s; same answers: {agree}")
    label = ctx.label
    return {
        f"aggregation_engine_{label}_seconds": round(timing.median(seconds["engine"]), 2),
        f"aggregation_engine_{label}_spread_seconds": round(timing.spread(seconds["engine"]), 2),
        f"aggregation_pandas_{label}_seconds": round(timing.median(seconds["pandas"]), 2),
        f"aggregation_pandas_{label}_spread_seconds": round(timing.spread(seconds["pandas"]), 2),
        "pandas_vs_engine_ratio": round(pandas_median / engine_median, 2),
        "pandas_vs_engine_ratio_min": round(lowest, 2),
        "pandas_vs_engine_ratio_max": round(highest, 2),
        "aggregation_same_answers": agree,
    }


def section_optbinning(ctx: BenchContext) -> dict[str, Any]:
    """optbinning's BinningProcess + Scorecard against our scale, on the same training matrix and hold-out."""
    config_path = ctx.require_config()
    if importlib.util.find_spec("optbinning") is None:
        raise SectionUnavailable("optbinning is not installed (the benchmark's extra: "
                                 "pip install -e '.[bench]')")
    from benchmarks import bench_optbinning

    measured = bench_optbinning.compare_with_optbinning(config_path, seed=ctx.seed, echo=ctx.echo)
    return {
        "optbinning_auc": measured["optbinning_auc"],
        "optbinning_fit_seconds": measured["optbinning_fit_seconds"],
        f"scorecard_fit_{ctx.label}_seconds": measured["scorecard_fit_seconds"],
        f"scorecard_fit_noboot_{ctx.label}_seconds": measured["scorecard_fit_noboot_seconds"],
        "fit_vs_optbinning_ratio_noboot": measured["fit_vs_optbinning_ratio_noboot"],
        "scorecard_auc_same_matrix": measured["scorecard_auc"],
        "fit_vs_optbinning_ratio": measured["fit_vs_optbinning_ratio"],
        "fit_vs_optbinning_ratio_min": measured["fit_vs_optbinning_ratio_min"],
        "fit_vs_optbinning_ratio_max": measured["fit_vs_optbinning_ratio_max"],
        f"scorecard_fit_{ctx.label}_spread_seconds": measured["scorecard_fit_spread_seconds"],
        "optbinning_fit_spread_seconds": measured["optbinning_fit_spread_seconds"],
        "optbinning_timing_repeats": measured["timing_repeats"],
        "auc_minus_optbinning_auc": measured["auc_minus_optbinning_auc"],
        f"optbinning_train_rows_{ctx.label}": measured["train_rows"],
        f"optbinning_holdout_rows_{ctx.label}": measured["holdout_rows"],
    }


def section_thresholds(ctx: BenchContext) -> dict[str, Any]:
    """The threshold engine's full update at ``n_leads`` leads against plain pandas filtering.

    Measured by the workshop engineer's ``benchmarks/bench_thresholds.py`` on a synthetic scored validation
    table of ``n_leads`` rows (the demo's hold-out is only a fraction of the history).
    """
    require_module("alignment.thresholds")
    bench = require_module("benchmarks.bench_thresholds")
    run = require_attribute(bench, "run")
    measured = run(n_leads=ctx.n_leads, updates=ctx.threshold_updates,
                   naive_updates=min(20, ctx.threshold_updates), seed=ctx.seed)
    ctx.notes["thresholds_data"] = (f"synthetic scored hold-out of {ctx.n_leads:,} leads "
                                    "(alignment.thresholds.synthetic_scored_validation)")
    if measured["mismatches"]:
        raise RuntimeError(f"the engine and plain pandas disagree on {measured['mismatches']} numbers in "
                           f"{measured['naive_updates_checked']} updates")
    return {f"threshold_update_ms_{ctx.label}": float(measured["engine_update_ms_median"]),
            f"threshold_update_p95_ms_{ctx.label}": float(measured["engine_update_ms_p95"]),
            f"threshold_naive_ms_{ctx.label}": float(measured["naive_update_ms_median"]),
            f"threshold_naive_spread_ms_{ctx.label}": float(measured["naive_update_ms_spread"]),
            f"threshold_paired_engine_ms_{ctx.label}": float(measured["paired_engine_update_ms_median"]),
            "threshold_naive_vs_engine_ratio": float(measured["naive_vs_engine_ratio"]),
            "threshold_naive_vs_engine_ratio_min": float(measured["naive_vs_engine_ratio_range"][0]),
            "threshold_naive_vs_engine_ratio_max": float(measured["naive_vs_engine_ratio_range"][1]),
            f"threshold_engine_build_{ctx.label}_seconds": float(measured["fit_seconds"])}


def section_workshop(ctx: BenchContext) -> dict[str, Any]:
    """Slider change → numbers updated, in headless Chromium on the Voilà app (the workshop engineer's
    ``benchmarks/bench_workshop.py``)."""
    if shutil.which("chromium") is None:
        raise SectionUnavailable("Chromium is not installed (apt-get install chromium)")
    require_module("alignment.serve")
    bench = require_module("benchmarks.bench_workshop")
    run = require_attribute(bench, "bench_workshop")
    # As many slider moves as threshold updates, up to 20: each costs over half a second in the browser.
    measured = run(config_path=ctx.require_config(), model_dir=ctx.require_model(),
                   samples=min(20, ctx.threshold_updates))
    return {"workshop_roundtrip_ms": round(float(measured["roundtrip_ms"]), 1),
            "workshop_roundtrip_p95_ms": round(float(measured["roundtrip_p95_ms"]), 1),
            "workshop_back_to_back_ms": round(float(measured["back_to_back_ms"]), 1),
            "workshop_page_load_seconds": float(measured["page_load_seconds"]),
            "workshop_first_page_load_seconds": float(measured["first_page_load_seconds"])}


def section_report(ctx: BenchContext) -> dict[str, Any]:
    """``alignment report`` for one month (the last full one) of the history, as a whole process."""
    config_path = ctx.require_config()
    ctx.require_model()
    require_module("alignment.review.report")
    reports_dir = config_path.parent / "bench-reports"
    results = repeated_command(ctx, "report", reports_dir)
    rendered = sorted(reports_dir.glob("*/review.html"), key=lambda p: p.stat().st_mtime)
    if not rendered:
        raise RuntimeError(f"alignment report exited 0 but wrote no */review.html under {reports_dir}")
    html = rendered[-1]
    ctx.notes["report_month"] = html.parent.name
    return {**results, "report_html_mib": round(html.stat().st_size / 2**20, 3)}


SECTION_FUNCTIONS: dict[str, Callable[[BenchContext], dict[str, Any]]] = {
    "machine": section_machine,
    "demo_data": section_demo_data,
    "fit": section_fit,
    "features": section_features,
    "optbinning": section_optbinning,
    "thresholds": section_thresholds,
    "workshop": section_workshop,
    "report": section_report,
}


# --- running and reporting ------------------------------------------------------------------------


@contextlib.contextmanager
def _timed(echo: Callable[[str], None], name: str) -> Iterator[None]:
    start = time.perf_counter()
    echo(f"[{name}] ...")
    yield
    echo(f"[{name}] done in {time.perf_counter() - start:.1f} s")


def run_benchmarks(
    *,
    n_leads: int,
    out: Path,
    seed: int = DEFAULT_SEED,
    cache_dir: Path = DEFAULT_CACHE,
    threshold_updates: int = THRESHOLD_UPDATES,
    sections: Sequence[str] | None = None,
    echo: Callable[[str], None] = print,
    process_repeats: int = PROCESS_REPEATS,
) -> dict[str, Any]:
    """Run the benchmark sections in order and write the results JSON atomically.

    Parameters
    ----------
    n_leads : int
        Size of the demo history (1,000,000 for the full run).
    out : Path
        The results JSON to write.
    seed : int
        Seed of the demo history and of the random threshold updates.
    cache_dir : Path
        Where generated histories, the runner's model folders and logs are kept between runs.
    threshold_updates : int
        Number of random full threshold updates timed (their median is reported).
    sections : sequence of str, optional
        A subset of :data:`SECTIONS` (default: all); what a chosen section needs (the demo history, the
        fit) runs too.
    echo : callable
        Where progress lines go.
    process_repeats : int
        Runs of each whole-process measure (``alignment fit``, ``alignment report``): the median is
        reported, with the spread and every run.

    Returns
    -------
    dict
        The results, as written: numbers by key, plus ``machine``, ``skipped``, ``errors`` and ``run``.
    """
    if n_leads < 200:
        raise ValueError(f"n_leads must be at least 200 (the demo's minimum), got {n_leads}")
    if threshold_updates < 1:
        raise ValueError(f"threshold_updates must be at least 1, got {threshold_updates}")
    if isinstance(process_repeats, bool) or not isinstance(process_repeats, int) or process_repeats < 1:
        raise ValueError(f"process_repeats must be an integer of at least 1, got {process_repeats!r}")
    chosen = list(SECTIONS if sections is None else sections)
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        raise ValueError(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    if any(name not in ("machine", "demo_data") for name in chosen) and "demo_data" not in chosen:
        chosen.insert(0, "demo_data")
    if "fit" not in chosen and any(name in chosen for name in ("workshop", "report")):
        chosen.insert(chosen.index("demo_data") + 1, "fit")
    chosen = [name for name in SECTIONS if name in chosen]

    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    ctx = BenchContext(n_leads=n_leads, seed=seed, cache_dir=cache_dir, threshold_updates=threshold_updates,
                       echo=echo, process_repeats=process_repeats)
    results: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    errors: dict[str, str] = {}
    started = datetime.now(UTC)
    wall = time.perf_counter()
    load = _LoadSampler()
    load.start()
    echo(f"benchmark of {n_leads:,} leads (keys labelled '{ctx.label}'), sections: {', '.join(chosen)}")
    for name in chosen:
        with _timed(echo, name):
            try:
                results.update(SECTION_FUNCTIONS[name](ctx))
            except SectionUnavailable as exc:
                prefix = "skipped" if isinstance(exc, DependencyFailed) else "not available yet"
                skipped[name] = f"{prefix}: {exc}"
                echo(f"  {skipped[name]}")
            except Exception as exc:  # one section failing must not lose the others' numbers
                errors[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                ctx.failed.add(name)
                echo(f"  FAILED: {errors[name]}")
                log = ctx.log_dir / f"error-{name}-{ctx.label}.txt"
                log.parent.mkdir(parents=True, exist_ok=True)
                log.write_text(traceback.format_exc())
                echo(f"  traceback in {log}")
    results["skipped"] = skipped
    results["errors"] = errors
    results["run"] = {
        "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seconds": round(time.perf_counter() - wall, 1),
        "n_leads": n_leads,
        "size_label": ctx.label,
        "seed": seed,
        "threshold_updates": threshold_updates,
        "process_repeats": process_repeats,
        "sections": chosen,
        **load.stop(),
        **ctx.notes,
    }
    write_json_atomic(out, results)
    return results


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary sibling (never a half-written file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")  # keys in the order measured
    os.replace(tmp, path)


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def format_table(results: dict[str, Any]) -> str:
    """The results as a Markdown table: key, value, target, verdict; then what was skipped or failed."""
    label = results.get("run", {}).get("size_label", "1m")
    targets = {target.key: target for target in targets_for(label)}
    rows = ["| key | value | target | verdict |", "|---|---:|---|---|"]
    for key, value in results.items():
        if key in ("machine", "skipped", "errors", "run"):
            continue
        target = targets.get(key)
        rows.append(f"| `{key}` | {format_value(value)} | {target.text if target else ''} | "
                    f"{target.verdict(results) if target else ''} |")
    for name, reason in results.get("skipped", {}).items():
        rows.append(f"| {name} | — | | {reason} |")
    for name, error in results.get("errors", {}).items():
        rows.append(f"| {name} | — | | FAILED: {error} |")
    return "\n".join(rows)


def profile_command(name: str, command: Sequence[str], out_dir: Path, *, top: int = 30) -> Path:
    """Run ``command`` (a ``python -m ...`` line) under cProfile; write the hottest functions as text.

    Profiling slows the run down, so it is separate from the timed run and its wall time is not reported.

    Parameters
    ----------
    name : str
        Names the ``.prof`` and ``.txt`` files.
    command : sequence of str
        Starts with this interpreter and ``-m``; cProfile is inserted before ``-m``.
    out_dir : Path
        Where the files go.
    top : int
        Number of functions listed by cumulative and by own time.

    Returns
    -------
    Path
        The text summary.
    """
    if len(command) < 3 or command[1] != "-m":
        raise ValueError(f"profile_command needs a 'python -m module ...' command, got {list(command)[:3]}")
    out_dir.mkdir(parents=True, exist_ok=True)
    prof = out_dir / f"profile-{name}.prof"
    measure = measure_command([command[0], "-m", "cProfile", "-o", str(prof), *command[1:]],
                              out_dir / f"profile-{name}.log")
    if measure.returncode != 0:
        raise RuntimeError(f"profiled {name} exited {measure.returncode}: {measure.last_line()}")
    return write_profile_summary(prof, f"{name}: {' '.join(command[1:])}",
                                 f"cProfile, main process only; {measure.seconds:.1f} s under the profiler",
                                 out_dir / f"profile-{name}.txt", top=top)


def write_profile_summary(prof: Path, title: str, note: str, out: Path, *, top: int = 30) -> Path:
    """The ``top`` functions of a cProfile dump by cumulative and by own time, as text."""
    import io
    import pstats

    buffer = io.StringIO()
    buffer.write(f"# profile of {title}\n# ({note})\n")
    buffer.write("\n## the workbook's own functions, by cumulative time\n")
    pstats.Stats(str(prof), stream=buffer).sort_stats("cumulative").print_stats(r"/alignment/", top)
    stats = pstats.Stats(str(prof), stream=buffer).strip_dirs()
    buffer.write("\n## everything, by cumulative time\n")
    stats.sort_stats("cumulative").print_stats(top)
    buffer.write("\n## everything, by own time\n")
    stats.sort_stats("tottime").print_stats(top)
    out.write_text(buffer.getvalue())
    return out


def profile_fit(config_path: Path, out_dir: Path) -> Path:
    """Profile ``alignment fit`` on the benchmark's history (into a model folder of its own)."""
    model_dir = config_path.parent / "profile-model"
    if model_dir.exists():
        shutil.rmtree(model_dir)
    command = alignment_command("fit", "--config", str(config_path), "--out", str(model_dir))
    return profile_command("fit", command, out_dir)


def profile_scorecard(config_path: Path, out_dir: Path) -> Path:
    """Profile our scale's fit alone on the fit's training matrix (in this process, single-threaded)."""
    import cProfile

    from sklearn.base import clone
    from threadpoolctl import threadpool_limits

    model = require_module("alignment.model")
    split = require_attribute(model, "training_split")(config_path)
    scorecard = clone(split.scorecard)
    out_dir.mkdir(parents=True, exist_ok=True)
    prof = out_dir / "profile-scorecard.prof"
    profiler = cProfile.Profile()
    start = time.perf_counter()
    with threadpool_limits(limits=1):
        profiler.runcall(scorecard.fit, split.X_train, split.y_train)
    seconds = time.perf_counter() - start
    profiler.dump_stats(prof)
    return write_profile_summary(
        prof, f"PointsScorecard.fit on {split.X_train.shape[0]:,} × {split.X_train.shape[1]}",
        f"cProfile; {seconds:.1f} s under the profiler", out_dir / "profile-scorecard.txt")


PROFILES = {"fit": profile_fit, "scorecard": profile_scorecard}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_LEADS:,} leads, writes benchmarks/results/quick.json")
    parser.add_argument("--leads", type=int, default=None, help="history size (overrides --quick's)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--threshold-updates", type=int, default=THRESHOLD_UPDATES)
    parser.add_argument("--process-repeats", type=int, default=None,
                        help=f"runs of the fit and the report each (default {PROCESS_REPEATS}; "
                             "--quick: 1)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--out", type=Path, default=None, help="results JSON (default by mode)")
    parser.add_argument("--only", action="append", choices=SECTIONS, default=None,
                        help="run only this section (repeatable; what it needs runs too)")
    parser.add_argument("--show", type=Path, default=None, metavar="RESULTS_JSON",
                        help="only print the table of an earlier results file")
    parser.add_argument("--profile", action="append", choices=sorted(PROFILES), default=[],
                        help="afterwards, profile `alignment fit` or our scale's fit alone with cProfile "
                             "(results/profile-SIZE/profile-*.txt); repeatable")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.show:
        print(format_table(json.loads(args.show.read_text())))
        return 0
    n_leads = args.leads or (QUICK_LEADS if args.quick else FULL_LEADS)
    out = args.out or RESULTS_DIR / ("quick.json" if args.quick else "latest.json")
    repeats = args.process_repeats or (1 if args.quick else PROCESS_REPEATS)
    try:
        results = run_benchmarks(n_leads=n_leads, out=out, seed=args.seed, cache_dir=args.cache,
                                 threshold_updates=args.threshold_updates, process_repeats=repeats,
                                 sections=(["machine", *args.only] if args.only else None))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print()
    print(format_table(results))
    print(f"\nwritten: {out}")
    config_path = args.cache / f"demo-{n_leads}-seed{args.seed}" / "bench.toml"
    for name in args.profile:
        if not config_path.is_file():
            print(f"cannot profile {name}: no benchmark history at {config_path.parent}", file=sys.stderr)
            return 1
        summary = PROFILES[name](config_path, out.parent / f"profile-{size_label(n_leads)}")
        print(f"profile of {name}: {summary}")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
