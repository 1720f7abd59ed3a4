"""MLflow runs against a real sqlite store, read back through the MLflow client."""

import pytest
from mlflow.tracking import MlflowClient

from micronas.config import load_config
from micronas.tracking.mlflow_run import config_from_run, log_config, make_mlflow_logger, run_name


def test_a_run_carries_names_tags_params_and_the_resolved_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = load_config(
        "search",
        ["dataset=ucihar", "mcu=nucleo_l552", "constraints.latency=50", f"logger.tracking_uri={uri}"],
    )
    logger = make_mlflow_logger(cfg, {"parent_run": "none"})
    log_config(logger, cfg)
    logger.log_metrics({"val/acc": 0.75}, step=3)
    logger.finalize("success")

    run = MlflowClient(uri).get_run(logger.run_id)
    assert run.info.run_name == "dnas | ucihar | nucleo_l552 | latency<=50 ms"
    assert run.info.status == "FINISHED"
    assert {"dataset": "ucihar", "mcu": "nucleo_l552", "stage": "search", "parent_run": "none"}.items() <= (
        run.data.tags.items()
    )
    assert run.data.params["constraints.latency"] == "50"
    assert run.data.params["constraints.memory"] == "None"
    assert run.data.metrics["val/acc"] == 0.75
    experiment = MlflowClient(uri).get_experiment(run.info.experiment_id)
    assert experiment.name == "micronas-ucihar"
    stored = config_from_run(logger)
    assert stored.mcu.clock_hz == cfg.mcu.clock_hz
    assert stored.constraints.latency == 50


@pytest.mark.parametrize("overrides, name", [
    (["search=random", "dataset=japanesevowels", "mcu=nucleo_f446re"],
     "random | japanesevowels | nucleo_f446re | no budget"),
    (["constraints.latency=7.5", "constraints.memory=64", "constraints.flash=128"],
     "dnas | basicmotions | nucleo_l552 | latency<=7.5 ms, memory<=64 kB, flash<=128 kB"),
    (["mcu=qemu_m33", "constraints.latency=1"], "dnas | basicmotions | qemu_m33 | latency<=1 M instructions"),
    (["logger.run_name=my-try", "constraints.latency=7"], "my-try"),
])
def test_run_names_say_what_differs_between_runs(overrides, name):
    assert run_name(load_config("search", overrides)) == name


def test_a_retrain_run_is_named_by_its_stage():
    cfg = load_config("train", ["mcu=nucleo_l552", "constraints.latency=20"])
    assert run_name(cfg, "seed 3") == "train | basicmotions | nucleo_l552 | latency<=20 ms | seed 3"
