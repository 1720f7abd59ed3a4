"""No checkpoint the project reads can run code: a crafted pickle is refused and nothing it asked ran."""

import pytest
import torch

from micronas.checkpoints import load_checkpoint
from micronas.config import load_config
from micronas.data import make_datamodule
from micronas.errors import ConfigError
from micronas.search.search_run import run_search
from micronas.space.discrete import DiscreteNet
from micronas.fitting.classifier import fit_classifier
from micronas.train.retrain import LAST_CHECKPOINT, TRAINED, train_repeat
from micronas.train.settings import Retraining
from tests.train.conftest import small_basicmotions_arch

REFUSED = r"asks to load the global posix.system, which a micronas checkpoint never holds; it was refused"


@pytest.fixture(scope="module")
def datamodule():
    dm = make_datamodule(load_config("train", ["dataset=basicmotions"]))
    dm.setup()
    return dm


def test_load_checkpoint_refuses_a_pickle_that_calls_a_function(code_running_checkpoint, tmp_path):
    marker = code_running_checkpoint(tmp_path / "x.ckpt")
    with pytest.raises(ConfigError, match=REFUSED):
        load_checkpoint(tmp_path / "x.ckpt")
    assert not marker.exists()
    torch.save({"epoch": 3, "state_dict": {"w": torch.ones(2)}}, tmp_path / "plain.ckpt")
    assert load_checkpoint(tmp_path / "plain.ckpt")["epoch"] == 3


def test_resuming_a_search_from_a_crafted_checkpoint_runs_nothing(compose, mlflow_uri,
                                                                  code_running_checkpoint, tmp_path):
    marker = code_running_checkpoint(tmp_path / "given" / "checkpoints" / "last.ckpt")
    cfg = compose(f"logger.tracking_uri={mlflow_uri}", f"ckpt_path={tmp_path / 'given'}")
    with pytest.raises(ConfigError, match=rf"ckpt_path=.*last.ckpt {REFUSED}"):
        run_search(cfg, tmp_path / "run")
    assert not marker.exists()


def test_a_rerun_sweep_job_does_not_run_the_checkpoint_found_in_its_folder(compose, mlflow_uri,
                                                                            code_running_checkpoint,
                                                                            tmp_path):
    job = tmp_path / "multirun" / "0"    # an interrupted job: its run id and a (crafted) last checkpoint
    marker = code_running_checkpoint(job / "checkpoints" / "last.ckpt")
    (job / "mlflow_run_id").write_text("0" * 32 + "\n")
    with pytest.raises(ConfigError, match=REFUSED):
        run_search(compose(f"logger.tracking_uri={mlflow_uri}"), job)
    assert not marker.exists()


@pytest.mark.parametrize("name", [LAST_CHECKPOINT, TRAINED])
def test_a_retrain_folder_with_a_crafted_checkpoint_runs_nothing(datamodule, code_running_checkpoint,
                                                                 tmp_path, name):
    marker = code_running_checkpoint(tmp_path / "ckpt" / name)
    recipe = Retraining.from_config(load_config("train", ["retraining.max_epochs=1"]).retraining)
    with pytest.raises(ConfigError, match=REFUSED):
        train_repeat(small_basicmotions_arch(), datamodule, recipe, 0, tmp_path / "ckpt")
    assert not marker.exists()


def test_lightnings_own_resume_load_is_weights_only(datamodule, code_running_checkpoint, tmp_path,
                                                   monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")   # torch's default must not be what saves us
    marker = code_running_checkpoint(tmp_path / "last.ckpt")
    with pytest.raises(Exception, match="Weights only load failed"):
        fit_classifier(DiscreteNet(small_basicmotions_arch()), datamodule, 1, 1,
                       ckpt_path=str(tmp_path / "last.ckpt"))
    assert not marker.exists()
