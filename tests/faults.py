"""Helpers of the fault tests: the real command, SIGKILLed at a random point (seeded), then run again in the
same folder, must end with the result an uninterrupted run gives and no record twice. (The profiler's own
SIGKILL tests are in tests/cost/test_profile.py and tests/hardware.)"""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]


def start(folder: Path, script: str, *overrides: str) -> subprocess.Popen:
    """`python SCRIPT *overrides` in `folder` with its own MLflow store, in a new process session."""
    command = [sys.executable, str(ROOT / script), *overrides, "trainer.enable_progress_bar=false",
               f"logger.tracking_uri=sqlite:///{folder / 'mlflow.db'}"]
    env = {**os.environ, "MICRONAS_DATA_DIR": str(folder / "data")}
    return subprocess.Popen(command, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env=env)


def finish(process: subprocess.Popen) -> None:
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-3000:]


def kill_at_random_point(process: subprocess.Popen, folder: Path, seed: int) -> float:
    """SIGKILL `process` (and its children) once its MLflow run exists, after a seeded random delay."""
    while not any(folder.rglob("mlflow_*run_id")):
        assert process.poll() is None, process.stderr.read()[-3000:]
        time.sleep(0.05)
    delay = random.Random(seed).uniform(0.0, 8.0)
    time.sleep(delay)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return delay


def logged_steps(client, run_id: str) -> list[tuple[str, int]]:
    """Every (metric, step) the run logged, repeats kept: what a resumed and an uninterrupted run share."""
    keys = client.get_run(run_id).data.metrics
    return sorted((key, m.step) for key in keys for m in client.get_metric_history(run_id, key))
