"""The MLflow store: several processes starting together on a new sqlite file all get their run recorded;
a URI MLflow cannot open ends in one sentence."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from micronas.errors import ConfigError
from micronas.tracking.store import tracking_client

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 4
# One search job's MLflow start, as `search.py` does it, once every process has imported everything.
JOB = """
import sys, time
from pathlib import Path
from micronas.config import load_config
from micronas.tracking.mlflow_run import make_mlflow_logger
uri, folder, index = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
cfg = load_config("search", [f"logger.tracking_uri={uri}", f"seed={index}"])
(folder / f"ready{index}").touch()
while len(list(folder.glob("ready*"))) < int(sys.argv[4]):
    time.sleep(0.001)
logger = make_mlflow_logger(cfg)
logger.log_metrics({"job": float(index)})
logger.finalize("success")
print(logger.run_id)
"""


def test_jobs_started_together_on_a_new_store_are_all_recorded(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    jobs = [subprocess.Popen([sys.executable, "-c", JOB, uri, str(tmp_path), str(i), str(PROCESSES)],
                             cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i in range(PROCESSES)]
    outputs = [job.communicate(timeout=300) for job in jobs]
    assert [job.returncode for job in jobs] == [0] * PROCESSES, [err[-2000:] for _, err in outputs]
    run_ids = {out.strip().splitlines()[-1] for out, _ in outputs}
    client = mlflow.MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert {r.info.run_id for r in runs} == run_ids and len(run_ids) == PROCESSES
    assert sorted(r.data.metrics["job"] for r in runs) == [float(i) for i in range(PROCESSES)]
    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        tables = [name for (name,) in db.execute("select name from sqlite_master where type='table'")]
    assert not [name for name in tables if name.startswith("_alembic_tmp")]


@pytest.mark.parametrize("uri, reason", [
    ("bogus://x", "got unsupported URI 'bogus://x'"),
    ("sqlite:////nonexistent-folder/mlflow.db", "No such file or directory"),
])
def test_a_store_that_cannot_be_opened_is_named_in_one_sentence(uri, reason):
    with pytest.raises(ConfigError) as error:
        tracking_client(uri)
    assert str(error.value).startswith(f"logger.tracking_uri={uri} is not an MLflow store that can be opened")
    assert reason in str(error.value) and "\n" not in str(error.value)
