"""The benchmark runner keeps working: the quick code path on a tiny history produces every key as a number.

No wall-clock limits are asserted here (speed is measured by ``make bench``, not tested); these tests check
that the runner measures what it says, names its keys by size, skips only what is not written yet, and
compares against optbinning on the same matrices.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks import bench_optbinning, run

ROOT = Path(__file__).resolve().parent.parent
TINY_LEADS = 2_000
HAS_OPTBINNING = importlib.util.find_spec("optbinning") is not None
needs_optbinning = pytest.mark.skipif(not HAS_OPTBINNING, reason="optbinning is the benchmark's extra, not "
                                      "installed here (pip install -e '.[bench]')")

# What each section must produce once every file it needs exists (the modules it measures and those of the
# sections it depends on).
DEMO, MODEL = "alignment/demo.py", "alignment/model.py"
SECTION_KEYS = {
    "demo_data": ([DEMO], ["demo_data_2k_seconds"]),
    "fit": ([DEMO, MODEL], ["fit_2k_seconds", "fit_2k_spread_seconds", "fit_2k_peak_mib", "auc_holdout",
                            "auc_oracle", "auc_challenger", "ece_holdout", "oracle_minus_auc",
                            "challenger_minus_auc"]),
    "features": ([DEMO, "alignment/features.py", "alignment/loader.py"], ["features_2k_seconds"]),
    "optbinning": ([DEMO, MODEL], ["optbinning_auc", "optbinning_fit_seconds", "fit_vs_optbinning_ratio",
                                   "scorecard_fit_2k_seconds"]),
    "thresholds": (["alignment/thresholds.py", "benchmarks/bench_thresholds.py"],
                   ["threshold_update_ms_2k", "threshold_naive_ms_2k", "threshold_naive_vs_engine_ratio",
                    "threshold_naive_vs_engine_ratio_min", "threshold_naive_vs_engine_ratio_max"]),
    "workshop": ([DEMO, MODEL, "alignment/serve.py", "benchmarks/bench_workshop.py"],
                 ["workshop_roundtrip_ms"]),
    "report": ([DEMO, MODEL, "alignment/report.py"], ["report_2k_seconds", "report_2k_spread_seconds",
                                                       "report_html_mib"]),
}


def is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# --- the quick code path, end to end ----------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    out = folder / "quick.json"
    # As `make bench-quick` runs it: `python -m benchmarks.run` in its own process.
    process = subprocess.run([sys.executable, "-m", "benchmarks.run", "--leads", str(TINY_LEADS),
                              "--threshold-updates", "5", "--process-repeats", "2",
                              "--cache", str(folder / "cache"),
                              "--out", str(out)],
                             cwd=ROOT, capture_output=True, text=True)
    assert out.is_file(), process.stdout[-2000:] + process.stderr[-2000:]
    return process.returncode, json.loads(out.read_text()), folder


@pytest.mark.slow
def test_tiny_run_produces_every_available_key_as_a_number(tiny_run):
    code, results, _ = tiny_run
    assert results["errors"] == {}, results["errors"]
    assert code == 0
    for section, (needed, keys) in SECTION_KEYS.items():
        needs_browser = section == "workshop" and not Path("/usr/bin/chromium").exists()
        lacks_optbinning = section == "optbinning" and not HAS_OPTBINNING
        if all((ROOT / file).is_file() for file in needed) and not (needs_browser or lacks_optbinning):
            assert section not in results["skipped"], results["skipped"].get(section)
        if section in results["skipped"]:
            assert results["skipped"][section].startswith("not available yet: ")
            continue
        for key in keys:
            assert is_number(results.get(key)), f"{section}: {key} = {results.get(key)!r}"
    for key in ("fit_2k", "report_2k"):  # whole processes, run twice: the median of both runs
        runs = results[f"{key}_runs_seconds"]  # each rounded to 0.01 s, as the median and the spread are
        assert len(runs) == 2 and results[f"{key}_seconds"] == pytest.approx(float(np.median(runs)), abs=0.02)
        assert results[f"{key}_spread_seconds"] == pytest.approx(max(runs) - min(runs), abs=0.02)
    machine = results["machine"]
    assert machine["cores"] >= 1 and machine["memory_gib"] > 0 and machine["python"].startswith("3.")
    assert machine["packages"]["pandas"] == pd.__version__
    assert results["run"]["n_leads"] == TINY_LEADS and results["run"]["size_label"] == "2k"


@pytest.mark.slow
def test_demo_history_is_cached_with_its_generation_time(tiny_run):
    _, results, folder = tiny_run
    if "demo_data" in results["skipped"]:
        pytest.skip(results["skipped"]["demo_data"])
    demo_dir = folder / "cache" / f"demo-{TINY_LEADS}-seed{run.DEFAULT_SEED}"
    meta = json.loads((demo_dir / "meta.json").read_text())
    assert meta["n_leads"] == TINY_LEADS and meta["seconds"] == results["demo_data_2k_seconds"]
    # A second run reuses the cache: the same generation time is reported, nothing is generated again.
    again = run.run_benchmarks(n_leads=TINY_LEADS, out=folder / "again.json", cache_dir=folder / "cache",
                               sections=["demo_data"], echo=lambda line: None)
    assert again["demo_data_2k_seconds"] == meta["seconds"]


# --- measuring a process ------------------------------------------------------------------------


def test_measure_command_sees_the_peak_memory_of_a_grandchild(tmp_path):
    # The child starts a grandchild that holds ~200 MiB for a moment; the measure must see it.
    grandchild = "import time; block = bytearray(200 * 2**20); block[::4096] = b'x' * len(block[::4096]); " \
                 "time.sleep(0.5)"
    child = f"import subprocess, sys; sys.exit(subprocess.call([sys.executable, '-c', {grandchild!r}]))"
    measure = run.measure_command([sys.executable, "-c", child], tmp_path / "log.txt")
    assert measure.returncode == 0
    assert measure.peak_mib >= 200
    assert measure.seconds > 0


def test_measure_command_reports_the_exit_code_and_last_line(tmp_path):
    measure = run.measure_command([sys.executable, "-c", "import sys; print('first'); print('boom'); "
                                   "sys.exit(3)"], tmp_path / "log.txt")
    assert measure.returncode == 3
    assert measure.last_line() == "boom"


# --- pieces -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n_leads", "label"), [(1_000_000, "1m"), (20_000, "20k"), (2_500, "2.5k"),
                                                 (150, "150"), (2_000_000, "2m")])
def test_size_label(n_leads, label):
    assert run.size_label(n_leads) == label


def test_size_label_refuses_non_positive():
    with pytest.raises(ValueError, match="positive"):
        run.size_label(0)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_leads": 100}, "at least 200"),
    ({"n_leads": 2_000, "threshold_updates": 0}, "threshold_updates"),
    ({"n_leads": 2_000, "process_repeats": 0}, "process_repeats"),
    ({"n_leads": 2_000, "sections": ["fit", "nonsense"]}, "unknown section"),
])
def test_run_benchmarks_refuses_bad_parameters(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        run.run_benchmarks(out=tmp_path / "out.json", cache_dir=tmp_path, **kwargs)
    assert not (tmp_path / "out.json").exists()


def test_main_refuses_too_small_a_history(tmp_path, capsys):
    assert run.main(["--leads", "100", "--out", str(tmp_path / "out.json")]) == 2
    assert "at least 200" in capsys.readouterr().err


def test_card_metrics_reads_the_model_card_and_computes_the_gaps(tmp_path):
    card = tmp_path / "model.json"
    card.write_text(json.dumps({"metrics": {"holdout": {"auc": 0.80, "ece": 0.011, "brier": 0.1},
                                            "oracle": {"auc": 0.815}, "challenger": {"auc": 0.79}}}))
    metrics = run.card_metrics(card)
    assert metrics["auc_holdout"] == 0.8 and metrics["ece_holdout"] == 0.011
    assert metrics["oracle_minus_auc"] == pytest.approx(0.015)
    assert metrics["challenger_minus_auc"] == pytest.approx(-0.01)


def test_card_metrics_names_what_the_card_lacks(tmp_path):
    card = tmp_path / "model.json"
    card.write_text(json.dumps({"metrics": {"holdout": {"auc": 0.80, "ece": 0.011}}}))
    with pytest.raises(RuntimeError, match="auc_oracle, auc_challenger"):
        run.card_metrics(card)


def test_targets_give_a_verdict_only_for_numbers():
    fit_time, ratio = run.targets_for("1m")[0], run.Target("fit_vs_optbinning_ratio", 3, at_least=True)
    assert fit_time.verdict({"fit_1m_seconds": 19.5}) == "met"
    assert fit_time.verdict({"fit_1m_seconds": 21.0}) == "MISSED"
    assert fit_time.verdict({}) == "—"
    assert ratio.verdict({"fit_vs_optbinning_ratio": 2.0}) == "MISSED"
    # A speed target set for 1M leads gives no verdict on a quick history.
    quick_fit = run.targets_for("20k")[0]
    assert quick_fit.key == "fit_20k_seconds"
    assert quick_fit.verdict({"fit_20k_seconds": 5.0}) == "(set for 1M)"


def test_table_lists_skipped_and_failed_sections():
    table = run.format_table({"fit_1m_seconds": 18.0, "skipped": {"workshop": "not available yet: x"},
                              "errors": {"report": "RuntimeError: y"}, "run": {"size_label": "1m"}})
    assert "| `fit_1m_seconds` | 18.0 | ≤ 20 s | met |" in table
    assert "not available yet: x" in table and "FAILED: RuntimeError: y" in table


def test_results_are_written_atomically(tmp_path):
    out = tmp_path / "results" / "latest.json"
    run.write_json_atomic(out, {"a": 1.5})
    assert json.loads(out.read_text()) == {"a": 1.5}
    assert [p.name for p in out.parent.iterdir()] == ["latest.json"]


# --- the optbinning comparison on matrices built here ------------------------------------------------


def synthetic_split(n: int = 6_000, seed: int = 0) -> bench_optbinning.TrainingSplit:
    from alignment.scorecard import PointsScorecard

    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "employees": rng.lognormal(4, 1.2, n),
        "industry": rng.choice(["software", "retail", "health", "other"], n),
        "pricing_visits": rng.poisson(1.0, n).astype(float),
    })
    X.loc[rng.random(n) < 0.1, "employees"] = np.nan
    logit = (-3.0 + 0.4 * np.log(X["employees"].fillna(50)) + (X["industry"] == "software") * 1.5
             + 0.8 * X["pricing_visits"])
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()
    cut = n * 2 // 3
    scorecard = PointsScorecard(families={"employees": "demographics", "industry": "demographics",
                                          "pricing_visits": "interest"}, n_boot=0, random_state=seed)
    return bench_optbinning.TrainingSplit(X.iloc[:cut], y[:cut], X.iloc[cut:], y[cut:], scorecard)


@needs_optbinning
def test_optbinning_comparison_scores_both_scales_on_the_same_holdout():
    measured = bench_optbinning.compare_on_split(synthetic_split(), echo=lambda line: None)
    for key in ("scorecard_fit_seconds", "scorecard_auc", "optbinning_fit_seconds", "optbinning_auc",
                "fit_vs_optbinning_ratio", "auc_minus_optbinning_auc"):
        assert is_number(measured[key]), key
    # Both must find the planted signal, with a higher score meaning a likelier win (optbinning reversed).
    assert measured["scorecard_auc"] > 0.7 and measured["optbinning_auc"] > 0.7
    assert measured["auc_minus_optbinning_auc"] == pytest.approx(
        measured["scorecard_auc"] - measured["optbinning_auc"], abs=1e-4)
    assert measured["train_rows"] == 4_000 and measured["holdout_rows"] == 2_000


def test_optbinning_comparison_refuses_a_one_class_holdout():
    split = synthetic_split()
    split.y_holdout = np.zeros_like(split.y_holdout)
    with pytest.raises(ValueError, match="won and not-won"):
        bench_optbinning.compare_on_split(split, echo=lambda line: None)


def test_categorical_columns_are_the_non_numeric_ones():
    X = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", None], "c": [True, False], "d": [1, 2]})
    assert bench_optbinning.categorical_columns(X) == ["b", "c"]


def test_profile_command_writes_the_hottest_functions(tmp_path):
    data = tmp_path / "data.json"
    data.write_text(json.dumps({"a": list(range(1000))}))
    summary = run.profile_command("json", [sys.executable, "-m", "json.tool", str(data)], tmp_path / "prof")
    text = summary.read_text()
    assert text.startswith("# profile of json") and "cumulative" in text
    assert (tmp_path / "prof" / "profile-json.prof").is_file()


def test_profile_command_refuses_a_command_without_a_module(tmp_path):
    with pytest.raises(ValueError, match="python -m module"):
        run.profile_command("x", [sys.executable, "script.py"], tmp_path)


def test_measure_command_kills_a_child_that_runs_past_its_timeout(tmp_path):
    with pytest.raises(TimeoutError, match="killed after"):
        run.measure_command([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "log.txt",
                            timeout=1)


def test_measure_command_refuses_a_non_positive_timeout(tmp_path):
    with pytest.raises(ValueError, match="timeout"):
        run.measure_command([sys.executable, "-c", "pass"], tmp_path / "log.txt", timeout=0)


def test_a_section_after_a_failed_one_says_it_was_skipped_for_that(tmp_path):
    ctx = run.BenchContext(n_leads=2_000, seed=7, cache_dir=tmp_path, threshold_updates=5)
    with pytest.raises(run.SectionUnavailable, match="did not produce one"):
        run.section_report(ctx)
    ctx.failed.add("demo_data")
    with pytest.raises(run.DependencyFailed, match="the demo_data section failed"):
        run.section_report(ctx)


@pytest.mark.slow
def test_profile_of_our_scale_on_the_fits_training_matrix(tiny_run, tmp_path):
    _, results, folder = tiny_run
    if "fit" in results["skipped"]:
        pytest.skip(results["skipped"]["fit"])
    config_path = folder / "cache" / f"demo-{TINY_LEADS}-seed{run.DEFAULT_SEED}" / "bench.toml"
    text = run.profile_scorecard(config_path, tmp_path).read_text()
    assert text.startswith("# profile of PointsScorecard.fit on ")
    assert "scorecard.py" in text and "by own time" in text
