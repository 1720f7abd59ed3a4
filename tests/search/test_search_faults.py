"""A search SIGKILLed at a random point and run again gives the uninterrupted result, recorded once."""

import json

import mlflow
import pytest

from tests.faults import finish, kill_at_random_point, logged_steps, start


@pytest.mark.slow   # three searches (~1 min)
@pytest.mark.parametrize("seed", [0])
def test_a_search_killed_at_a_random_point_and_run_again_gives_the_same_architecture_once(tmp_path, seed):
    overrides = ("search.epochs=4", "++search.min_steps=0", "constraints.latency=30")
    finish(start(tmp_path, "search.py", *overrides, "hydra.run.dir=whole"))
    killed = start(tmp_path, "search.py", *overrides, "hydra.run.dir=killed")
    kill_at_random_point(killed, tmp_path / "killed", seed)
    finish(start(tmp_path, "search.py", *overrides, "hydra.run.dir=killed"))   # resumes by itself

    whole, resumed = (json.loads((tmp_path / d / "summary.json").read_text()) for d in ("whole", "killed"))
    assert resumed["architecture"] == whole["architecture"] and resumed["predicted"] == whole["predicted"]
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) == 2 and all(r.info.status == "FINISHED" for r in runs)
    assert logged_steps(client, resumed["mlflow_run_id"]) == logged_steps(client, whole["mlflow_run_id"])
