"""The retraining recipe on real bundled data: it learns, stops early, and restores the best weights."""

import pytest
import pytorch_lightning as pl
import torch

from micronas.config import load_config
from micronas.data import make_datamodule
from micronas.space.architecture import Architecture
from micronas.space.discrete import DiscreteNet
from micronas.space.searchspace import SearchSpace
from micronas.fitting.classifier import evaluate, fit_classifier


def test_fit_classifier_learns_basicmotions_and_restores_the_best_arch_val_weights():
    cfg = load_config("train", ["dataset=basicmotions"])
    dm = make_datamodule(cfg)
    dm.setup()
    space = SearchSpace(*dm.input_shape, dm.num_classes)
    pl.seed_everything(0)
    net = DiscreteNet(Architecture.largest(space))
    before = evaluate(net, dm.val_dataloader(), dm.num_classes)
    best = fit_classifier(net, dm, max_epochs=100, patience=20)
    after = evaluate(net, dm.val_dataloader(), dm.num_classes)
    assert 0 <= best.best_epoch < 100
    assert after.accuracy > max(before.accuracy, 0.5)
    # The restored weights are the best epoch's: their arch-val loss is the recorded best.
    net.eval()
    with torch.no_grad():
        losses = [torch.nn.functional.cross_entropy(net(x), y, reduction="sum") for x, y in dm.val_dataloader()]
    assert float(sum(losses)) / len(dm.val_dataset) == pytest.approx(best.best, rel=1e-4)


def test_lr_decay_halves_the_lr_only_after_a_quarter_of_the_patience_without_a_lower_arch_val_loss():
    """Per epoch: its arch-val loss and the lr it trained with. The lr stays at 1e-2 x 0.5^k, and falls
    exactly after more than 2 epochs (patience 8 / 4) in a row without a new lowest loss."""
    cfg = load_config("train", ["dataset=basicmotions"])
    dm = make_datamodule(cfg)
    dm.setup()
    pl.seed_everything(0)
    net = DiscreteNet(Architecture.largest(SearchSpace(*dm.input_shape, dm.num_classes)))
    epochs = []

    class Record(pl.Callback):
        def on_train_epoch_end(self, trainer, module):
            epochs.append((float(trainer.callback_metrics["val/loss"]),
                           trainer.optimizers[0].param_groups[0]["lr"]))

    fit_classifier(net, dm, max_epochs=20, patience=8, lr=1e-2, lr_decay=0.5, callbacks=[Record()])
    lrs = [lr for _, lr in epochs]
    assert lrs[-1] < 1e-2  # an lr-plateau happened within 20 epochs of a largest network on basicmotions
    assert all(any(lr == pytest.approx(1e-2 * 0.5**k) for k in range(12)) for lr in lrs)
    best, stale = float("inf"), 0  # epochs in a row without a lower loss (relative threshold 1e-4)
    for epoch, (loss, lr) in enumerate(epochs):
        if epoch:  # the lr of this epoch falls exactly when more than 2 epochs before it were stale
            assert (lr < lrs[epoch - 1]) == (stale > 2), (epoch, epochs)
            stale = 0 if lr < lrs[epoch - 1] else stale
        stale = 0 if loss < best * (1 - 1e-4) else stale + 1
        best = min(best, loss)


def test_recalibrate_batchnorm_replaces_running_statistics_by_those_of_the_loader():
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    from micronas.fitting.classifier import recalibrate_batchnorm

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 1), nn.BatchNorm2d(3), nn.Dropout(0.5))
    net[1].running_mean.fill_(7.0)
    x = 3 + 2 * torch.randn(32, 1, 4, 4)
    recalibrate_batchnorm(net, DataLoader(TensorDataset(x, torch.zeros(32)), batch_size=8))
    with torch.no_grad():
        features = net[0](x)
    torch.testing.assert_close(net[1].running_mean, features.mean(dim=(0, 2, 3)))
    assert not net.training and net[1].momentum == 0.1


def test_patience_counts_weight_steps_on_a_small_dataset_and_retraining_shows_progress(monkeypatch, capsys):
    """basicmotions has 4 weight steps per epoch: 40 steps of patience are 10 epochs, not the 2 asked."""
    from micronas.fitting import classifier

    waited = []

    class Recorded(classifier.EarlyStopping):
        def __init__(self, *args, patience, **kwargs):
            waited.append(patience)
            super().__init__(*args, patience=patience, **kwargs)

    monkeypatch.setattr(classifier, "EarlyStopping", Recorded)
    dm = make_datamodule(load_config("train", ["dataset=basicmotions"]))
    steps_per_epoch = -(-len(dm.train_dataset) // dm.batch_size)
    net = DiscreteNet(Architecture.largest(SearchSpace(*dm.input_shape, dm.num_classes)))
    fit_classifier(net, dm, max_epochs=3, patience=2, patience_steps=40, progress="retraining")
    assert waited == [max(2, -(-40 // steps_per_epoch))]
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("retraining: ")]
    assert lines[-1].startswith(f"retraining: {3 * steps_per_epoch}/{3 * steps_per_epoch} steps (100 %)")
    assert all("ETA at most" in line for line in lines)
