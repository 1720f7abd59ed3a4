"""`ClassifierModule`: a `DiscreteNet` trained with the docs/method.md §9.2 recipe, and its evaluation.

Adam (lr 1e-3, optionally lowered on an arch-val plateau), cross-entropy without class weights, early
stopping on the arch-val loss with the best weights restored. `fit_classifier` is shared by retraining
and by the random-search baseline.
"""

import contextlib
import copy
import logging
import math
from dataclasses import dataclass

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.callbacks import Callback, EarlyStopping
from torch import nn
from torch.utils.data import DataLoader

from micronas.metrics import accuracy, macro_f1
from micronas.fitting.augment import Augmentation
from micronas.fitting.progress import EpochProgress
from micronas.fitting.torch_flags import NoUninitialisedFill
from micronas.fitting.trainer import Accelerator


class ClassifierModule(pl.LightningModule):
    """Cross-entropy training of one network; logs train/val loss and accuracy per epoch. Weight-training
    batches may be augmented and their loss label-smoothed; arch-val sees plain windows and plain loss."""

    def __init__(self, net: nn.Module, lr: float = 1e-3, augmentation: Augmentation = Augmentation(),
                 label_smoothing: float = 0.0, lr_decay: float = 1.0, lr_patience: int = 5):
        super().__init__()
        self.net, self.lr = net, lr
        self.augmentation, self.label_smoothing = augmentation, label_smoothing
        self.lr_decay, self.lr_patience = lr_decay, lr_patience

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _step(self, batch, split: str) -> torch.Tensor:
        x, y = batch
        training = split == "train"
        logits = self.net(self.augmentation(x) if training else x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing if training else 0.0)
        self.log(f"{split}/loss", loss, on_step=False, on_epoch=True, prog_bar=split == "val")
        self.log(f"{split}/acc", (logits.argmax(1) == y).float().mean(), on_step=False, on_epoch=True)
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def configure_callbacks(self):
        return [NoUninitialisedFill()]

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.net.parameters(), lr=self.lr, foreach=True)
        if self.lr_decay == 1.0:
            return optimizer
        # the lr times lr_decay after lr_patience epochs without a lower arch-val loss
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=self.lr_decay,
                                                             patience=self.lr_patience)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": plateau, "monitor": "val/loss"}}


class RestoreBest(Callback):
    """Keeps a copy of the weights with the lowest `monitor` and loads them back when training ends."""

    def __init__(self, monitor: str = "val/loss"):
        self.monitor, self.best, self.best_state, self.best_epoch = monitor, float("inf"), None, -1

    def on_validation_end(self, trainer, module) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if trainer.sanity_checking or value is None or not float(value) < self.best:
            return
        self.best, self.best_epoch = float(value), trainer.current_epoch
        self.best_state = copy.deepcopy(module.state_dict())

    def on_fit_end(self, trainer, module) -> None:
        if self.best_state is not None:
            module.load_state_dict(self.best_state)

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "best_state": self.best_state}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch, self.best_state = state["best"], state["best_epoch"], state["best_state"]


@dataclass(frozen=True)
class Evaluation:
    """Accuracy and macro-F1 of predictions on one split, with the labels kept for a confusion matrix."""

    accuracy: float
    macro_f1: float
    y_true: np.ndarray
    y_pred: np.ndarray


def recalibrate_batchnorm(net: nn.Module, loader: DataLoader) -> nn.Module:
    """Re-estimate every BatchNorm's running statistics on `loader` (a cumulative average); eval mode after.

    A supernet's running statistics average over all the paths it sampled; a path taken out of it (a
    derived architecture with sliced weights) needs the statistics of its own activations.
    """
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [norm.momentum for norm in norms]
    net.eval()
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
        norm.train()
    device = next(net.parameters()).device
    with torch.no_grad():
        for x, _ in loader:
            net(x.to(device))
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum
    return net.eval()


def evaluate(net: nn.Module, loader: DataLoader, num_classes: int) -> Evaluation:
    """Run `net` in eval mode (on the device it is on) over `loader` and score its argmax predictions."""
    was_training = net.training
    net.eval()
    device = next(net.parameters()).device
    truths, predictions = [], []
    with torch.no_grad():
        for x, y in loader:
            predictions.append(net(x.to(device)).argmax(1).cpu().numpy())
            truths.append(y.numpy())
    net.train(was_training)
    y_true, y_pred = np.concatenate(truths), np.concatenate(predictions)
    return Evaluation(accuracy(y_true, y_pred), macro_f1(y_true, y_pred, num_classes), y_true, y_pred)


@contextlib.contextmanager
def quiet_lightning():
    """Silence Lightning's per-Trainer banner (accelerator lines, tips) for many short fits."""
    logger = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def epochs_for(steps: int, batches_per_epoch: int) -> int:
    """The epochs that hold at least `steps` weight steps."""
    return math.ceil(int(steps) / max(int(batches_per_epoch), 1))


def fit_classifier(net: nn.Module, datamodule, max_epochs: int, patience: int, lr: float = 1e-3,
                   logger=False, callbacks=(), progress: str = "", ckpt_path: str | None = None,
                   accelerator: Accelerator = Accelerator(), patience_steps: int = 0,
                   augmentation: Augmentation = Augmentation(), label_smoothing: float = 0.0,
                   lr_decay: float = 1.0) -> RestoreBest:
    """Train `net` on the weight-training split, stop early on the arch-val loss, restore the best weights.

    Early stopping waits `patience` epochs, or the epochs of `patience_steps` weight steps if that is
    more (a small dataset has few steps per epoch); with `lr_decay < 1` the lr is multiplied by it after a
    quarter of that wait without a lower arch-val loss. Returns the `RestoreBest` callback (best arch-val loss
    and its epoch); `net` ends on the CPU. Seed first for repeatability. `progress` names the phase whose
    progress is shown (empty: silent).
    """
    patience = max(int(patience), epochs_for(patience_steps, len(datamodule.train_dataloader())))
    best = RestoreBest("val/loss")
    shown = [EpochProgress(progress, bound=True)] if progress else []
    stopper = EarlyStopping(monitor="val/loss", patience=patience, mode="min")
    with quiet_lightning():
        trainer = pl.Trainer(
            max_epochs=max_epochs, logger=logger,
            callbacks=[best, stopper, *callbacks, *shown],
            accelerator=accelerator.name, devices=accelerator.devices,
            enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
            deterministic=accelerator.deterministic,
            enable_checkpointing=any(hasattr(c, "save_last") for c in callbacks),
        )
        module = ClassifierModule(net, lr, augmentation, label_smoothing, lr_decay, max(1, patience // 4))
        trainer.fit(module, datamodule.train_dataloader(), datamodule.val_dataloader(),
                    ckpt_path=ckpt_path, weights_only=True)
    return best
