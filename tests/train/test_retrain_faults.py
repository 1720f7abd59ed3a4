"""A retrain SIGKILLed at a random point and run again gives the uninterrupted model, recorded once."""

import mlflow
import pytest

from tests.faults import finish, kill_at_random_point, start


@pytest.mark.slow   # three retrainings with export and measurement (~2 min)
@pytest.mark.parametrize("seed", [0])
def test_a_retrain_killed_at_a_random_point_and_run_again_gives_the_same_model_once(tmp_path, host_setup, seed):
    arch_path, lut = host_setup
    overrides = (f"arch={arch_path}", "dataset=basicmotions", "mcu=host", f"mcu.cost.lut_path={lut}",
                 "retraining.max_epochs=6", "retraining.measurement.repeats=2")
    finish(start(tmp_path, "train.py", *overrides, "hydra.run.dir=whole"))
    killed = start(tmp_path, "train.py", *overrides, "hydra.run.dir=killed")
    kill_at_random_point(killed, tmp_path / "killed", seed)
    finish(start(tmp_path, "train.py", *overrides, "hydra.run.dir=killed"))

    assert (tmp_path / "whole" / "model_int8.tflite").read_bytes() == \
        (tmp_path / "killed" / "model_int8.tflite").read_bytes()
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) == 2 and all(r.info.status == "FINISHED" for r in runs)
