"""`python search.py ... retrain=true`: one command searches, retrains, exports and measures on mcu=host."""

import json
import subprocess
import sys
from pathlib import Path

import mlflow

REPO = Path(__file__).resolve().parents[2]


def test_search_with_retrain_chains_a_child_retrain_run(host_setup, tmp_path):
    _, lut = host_setup
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    command = [sys.executable, str(REPO / "search.py"), "mcu=host", f"mcu.cost.lut_path={lut}",
               "search.epochs=1", "++search.min_steps=0", "retrain=true", "retraining.max_epochs=2", "retraining.patience=2",
               f"hydra.run.dir={tmp_path / 'run'}", f"logger.tracking_uri={store}",
               "trainer.enable_progress_bar=false"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    search = json.loads((tmp_path / "run" / "summary.json").read_text())
    retrain = json.loads((tmp_path / "run" / "retrain" / "summary.json").read_text())
    assert (tmp_path / "run" / "retrain" / "model_int8.tflite").is_file()
    assert retrain["search_run_id"] == search["mlflow_run_id"]
    assert retrain["predicted"]["arena_bytes"] == search["predicted"]["arena_bytes"]
    client = mlflow.MlflowClient(store)
    child = client.get_run(retrain["mlflow_run_id"])
    assert child.data.tags["mlflow.parentRunId"] == search["mlflow_run_id"]
    assert child.data.tags["stage"] == "train"
    assert child.info.run_name == "train | basicmotions | host | no budget"
    assert "measured/latency_ms" in child.data.metrics
