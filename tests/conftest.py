"""Shared fixtures: one small demo history per test session, written by the real generator."""

from __future__ import annotations

from pathlib import Path

import pytest

from alignment.demo import write_demo

DEMO_LEADS = 6_000
DEMO_MONTHS = 24
DEMO_SEED = 7


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo history (6,000 leads, 24 months, seed 7, ending 2026-10-31): leads.csv,
    activities.parquet, truth.parquet, truth_effects.json and alignment.toml. Treat it as read-only."""
    out = tmp_path_factory.mktemp("demo") / "history"
    return write_demo(out, n_leads=DEMO_LEADS, months=DEMO_MONTHS, seed=DEMO_SEED)


@pytest.fixture(scope="session")
def demo_config(demo_dir: Path) -> Path:
    """The demo's ready workspace config (``alignment.toml``)."""
    return demo_dir / "alignment.toml"


@pytest.fixture(scope="session")
def fitted_model_dir(demo_config: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model folder fitted by the real ``fit_model`` on the session's demo history (model.json,
    points.csv, scorecard.joblib, scored_validation.parquet). Treat it as read-only."""
    from alignment.model import fit_model

    out = tmp_path_factory.mktemp("model") / "model"
    fit_model(demo_config, out=out, progress=False)
    return out
