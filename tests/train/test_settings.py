"""Retraining and trainer settings are read once, refused in one sentence before the data is read, and
`conf/trainer` reaches the retraining's Lightning Trainer."""

import pytest
import torch
import torch.utils.deterministic
from pytorch_lightning.callbacks import Callback

from micronas.chain import check_retraining
from micronas.config import load_config
from micronas.data import make_datamodule
from micronas.errors import ConfigError
from micronas.fitting.trainer import Accelerator, TrainerSettings
from micronas.train.retrain import train_repeat
from micronas.train.settings import Retraining
from micronas.train.train_run import RUN_ID_FILE, run_training

BAD = [
    ("retraining.lr=0", "retraining.lr=0 is not valid; it must be a positive learning rate such as 1e-3."),
    ("retraining.quantization.qat_lr=-1",
     "retraining.quantization.qat_lr=-1 is not valid; it must be a positive learning rate such as 1e-3."),
    ("retraining.quantization.qat_threshold_points=high",
     "retraining.quantization.qat_threshold_points='high' is not valid: use a number of accuracy points "
     "such as 1.0."),
    ("retraining.measurement.output_windows=0",
     "retraining.measurement.output_windows=0 is not valid; use an integer of at least 1."),
    ("trainer.devices=0", "trainer.devices=0 is not valid; it must be auto or a positive integer."),
    ("trainer.deterministic=sometimes",
     "trainer.deterministic=sometimes is not valid; it must be true or false."),
    ("trainer.enable_progress_bar=2",
     "trainer.enable_progress_bar=2 is not valid; it must be true or false."),
]


@pytest.mark.parametrize("override, sentence", BAD)
def test_a_bad_retraining_or_trainer_value_is_refused_before_the_data_is_read(tmp_path, host_setup,
                                                                              override, sentence):
    arch_path, _ = host_setup
    cfg = load_config("train", [f"logger.tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}",
                                f"arch={arch_path}", "dataset=npz", f"dataset.path={tmp_path / 'absent.npz'}",
                                override])
    with pytest.raises(ConfigError) as error:
        run_training(cfg, tmp_path / "out")
    assert str(error.value) == sentence
    assert not (tmp_path / "out" / RUN_ID_FILE).exists()


@pytest.mark.parametrize("override, sentence", BAD[:4])
def test_search_with_retrain_refuses_a_bad_retraining_value_before_the_search(override, sentence):
    with pytest.raises(ConfigError) as error:
        check_retraining(load_config("search", ["retrain=true", override]))
    assert str(error.value) == sentence


def test_the_default_settings_read_as_the_config_says():
    cfg = load_config("train", [])
    settings = Retraining.from_config(cfg.retraining)
    assert (settings.max_epochs, settings.patience, settings.patience_steps) == (200, 20, 200)
    assert (settings.quantization.method, settings.measurement.output_windows) == ("ptq", 32)
    trainer = TrainerSettings.from_config(cfg.trainer)
    assert trainer.accelerator == Accelerator("cpu", 1, deterministic=True) and trainer.progress


class DeterminismProbe(Callback):
    def on_train_start(self, trainer, module):
        self.deterministic = torch.are_deterministic_algorithms_enabled()
        self.filled = torch.utils.deterministic.fill_uninitialized_memory


@pytest.mark.parametrize("deterministic", [True, False])
def test_conf_trainer_reaches_the_retraining(small_arch, tmp_path, deterministic):
    cfg = load_config("train", ["retraining.max_epochs=1",
                                f"trainer.deterministic={str(deterministic).lower()}"])
    dm = make_datamodule(cfg)
    dm.setup()
    probe, before = DeterminismProbe(), torch.are_deterministic_algorithms_enabled()
    try:
        train_repeat(small_arch, dm, Retraining.from_config(cfg.retraining), 0, tmp_path, callbacks=[probe],
                     accelerator=TrainerSettings.from_config(cfg.trainer).accelerator)
        restored = torch.utils.deterministic.fill_uninitialized_memory
    finally:
        torch.use_deterministic_algorithms(before)
    assert probe.deterministic is deterministic
    assert probe.filled is False and restored is True  # the NaN fill is off while the fit runs, and only then
