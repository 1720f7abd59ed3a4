"""A tiny real sweep shared by the sweep, report and notebook tests: `search.py -m` with the joblib
launcher, 2 jobs of 1 search epoch on BasicMotions, into a private sqlite MLflow store."""

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SWEEP_ARGS = ("search.epochs=1", "++search.min_steps=0", "constraints.latency=20,40",
              "trainer.enable_progress_bar=false")


@dataclass
class Sweep:
    folder: Path      # where the sweep ran (holds mlflow.db and data/)
    sweep_dir: Path
    tracking_uri: str
    parent_run_id: str
    stdout: str


def _run_sweep(folder: Path, sweep_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    """`python search.py -m ...` in `folder`, as a user runs it; fails the test on a non-zero exit."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "search.py"), "-m", *SWEEP_ARGS, f"hydra.sweep.dir={sweep_dir}",
         *overrides],
        cwd=folder, capture_output=True, text=True, timeout=600,
        env={**os.environ, "MICRONAS_DATA_DIR": str(folder / "data")},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Callback" not in result.stderr, result.stderr[-3000:]  # Hydra only warns when a callback fails
    return result


@pytest.fixture
def run_sweep():
    """`run_sweep(folder, sweep_dir, *overrides)`: the tiny sweep's command with more overrides."""
    return _run_sweep


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory) -> Sweep:
    folder = tmp_path_factory.mktemp("sweep")
    sweep_dir = folder / "multirun"
    result = _run_sweep(folder, sweep_dir, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    parent = (sweep_dir / "mlflow_parent_run_id").read_text().strip()
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    return Sweep(folder, sweep_dir, uri, parent, result.stdout + result.stderr)
