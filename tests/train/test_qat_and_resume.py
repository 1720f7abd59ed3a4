"""QAT really changes the int8 model; a retrain interrupted mid-way continues from its last epoch."""

import numpy as np
import pytest
import torch
from pytorch_lightning.callbacks import Callback

from micronas.config import load_config
from micronas.data import make_datamodule
from micronas.export.pipeline import nchw_to_nhwc
from micronas.export.tflm import TflmRunner
from micronas.train.int8 import export_and_score
from micronas.train.qat import quantization_aware_finetune
from micronas.train.retrain import LAST_CHECKPOINT, TRAINED, train_repeat
from micronas.train.settings import Retraining


@pytest.fixture(scope="module")
def datamodule():
    dm = make_datamodule(load_config("train", ["dataset=basicmotions"]))
    dm.setup()
    return dm


def recipe(max_epochs: int):
    cfg = load_config("train", [f"retraining.max_epochs={max_epochs}", "retraining.patience=50"])
    return Retraining.from_config(cfg.retraining)


def test_qat_fine_tuning_puts_weights_on_the_int8_grid_and_changes_the_exported_model(
    datamodule, small_arch, tmp_path
):
    trained = train_repeat(small_arch, datamodule, recipe(4), 0, tmp_path / "ckpt")
    net, splits = trained.net, {"test": datamodule.test_dataset}
    representative = datamodule.representative_windows(64)
    ptq, _ = export_and_score(net, representative, splits, datamodule.num_classes, tmp_path / "ptq")
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    before = [c.weight.detach().clone() for c in convs]
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    statistics = [n.running_mean.clone() for n in norms]

    quantization_aware_finetune(net, datamodule, epochs=2, lr=1e-4, patience=20)
    for conv, old in zip(convs, before):
        weight = conv.weight.detach()
        assert not torch.equal(weight, old)
        steps = weight / (weight.abs().amax(dim=(1, 2, 3), keepdim=True) / 127)
        assert torch.allclose(steps, steps.round(), atol=1e-3)  # per-channel symmetric int8 grid
    for norm, mean in zip(norms, statistics):  # BN frozen: the folded weights are the fine-tuned ones
        assert torch.equal(norm.running_mean, mean)
    qat, scores = export_and_score(net, representative, splits, datamodule.num_classes, tmp_path / "qat")
    assert qat.tflite != ptq.tflite
    windows = nchw_to_nhwc(datamodule.test_dataset.tensors[0].numpy())
    before, after = TflmRunner(ptq.tflite).predict(windows), TflmRunner(qat.tflite).predict(windows)
    assert not np.array_equal(before, after)
    assert 0.0 <= scores["test"].accuracy <= 1.0


class StopAfter(Callback):
    """Interrupt training like Ctrl-C at the end of epoch `epoch`."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_end(self, trainer, module):
        if trainer.current_epoch == self.epoch:
            raise KeyboardInterrupt


class FirstEpoch(Callback):
    def __init__(self):
        self.epochs = []

    def on_train_epoch_start(self, trainer, module):
        self.epochs.append(trainer.current_epoch)


def test_an_interrupted_retrain_resumes_from_its_last_epoch_and_a_finished_one_is_reused(
    datamodule, small_arch, tmp_path
):
    arch, folder = small_arch, tmp_path / "ckpt"
    with pytest.raises(SystemExit):  # Lightning's graceful Ctrl-C shutdown
        train_repeat(arch, datamodule, recipe(5), 0, folder, callbacks=[StopAfter(2)])
    assert (folder / LAST_CHECKPOINT).is_file() and not (folder / TRAINED).exists()
    saved_epoch = torch.load(folder / LAST_CHECKPOINT, weights_only=False)["epoch"]
    assert saved_epoch in (1, 2)  # the epoch that finished, or the interrupted one saved on its end

    seen = FirstEpoch()
    resumed = train_repeat(arch, datamodule, recipe(5), 0, folder, callbacks=[seen])
    assert resumed.resumed_from_epoch == saved_epoch + 1
    assert seen.epochs == list(range(saved_epoch + 1, 5))
    assert (folder / TRAINED).is_file()

    reused = train_repeat(arch, datamodule, recipe(5), 0, folder)
    assert reused.resumed_from_epoch is None and reused.best_epoch == resumed.best_epoch
    for a, b in zip(reused.net.state_dict().values(), resumed.net.state_dict().values()):
        assert torch.equal(a, b)
