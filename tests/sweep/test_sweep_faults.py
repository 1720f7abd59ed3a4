"""A sweep SIGKILLed at a random point and run again gives the uninterrupted sweep's results, each job
recorded once as a child of the one parent run."""

import json

import mlflow
import pytest

from micronas.tracking.sweep import PARENT_RUN_FILE
from tests.faults import finish, kill_at_random_point, start
from tests.sweep.test_sweep import children

SWEEP = ("-m", "search.epochs=2", "++search.min_steps=0", "constraints.latency=20,40")


def job_architectures(sweep_dir):
    return [json.loads((sweep_dir / job / "summary.json").read_text())["architecture"] for job in ("0", "1")]


@pytest.mark.slow   # three sweeps of two jobs (~2 min)
@pytest.mark.parametrize("seed", [1])
def test_a_sweep_killed_at_a_random_point_and_run_again_gives_the_same_jobs_once(tmp_path, seed):
    (tmp_path / "whole").mkdir()
    (tmp_path / "killed").mkdir()
    finish(start(tmp_path / "whole", "search.py", *SWEEP, "hydra.sweep.dir=multirun"))
    killed = start(tmp_path / "killed", "search.py", *SWEEP, "hydra.sweep.dir=multirun")
    kill_at_random_point(killed, tmp_path / "killed", seed)
    finish(start(tmp_path / "killed", "search.py", *SWEEP, "hydra.sweep.dir=multirun"))

    sweep = tmp_path / "killed" / "multirun"
    assert job_architectures(sweep) == job_architectures(tmp_path / "whole" / "multirun")
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'killed' / 'mlflow.db'}")
    parent = (sweep / PARENT_RUN_FILE).read_text().strip()
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) == 3 and all(r.info.status == "FINISHED" for r in runs)
    assert {r.info.run_id for r in children(client, parent)} == \
        {(sweep / job / "mlflow_run_id").read_text().strip() for job in ("0", "1")}
