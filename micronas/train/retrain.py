"""Train one repeat of a found architecture from scratch, resumable (docs/method.md §9.2).

Every epoch ends with `<folder>/last.ckpt` (weights, optimiser, early-stopping and best-weights state),
so a killed or interrupted (Ctrl-C) run continues from its last finished epoch when it is started
again with the same folder. A finished repeat is stored as `<folder>/trained.pt` and not trained again.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from micronas.checkpoints import load_checkpoint
from micronas.space.architecture import Architecture
from micronas.space.discrete import DiscreteNet
from micronas.fitting.classifier import fit_classifier
from micronas.fitting.trainer import Accelerator
from micronas.train.settings import Retraining

log = logging.getLogger(__name__)

LAST_CHECKPOINT = "last.ckpt"
TRAINED = "trained.pt"


@dataclass(frozen=True)
class TrainedRepeat:
    """One retrained network (best arch-val weights) and how its training went."""

    seed: int
    net: DiscreteNet
    best_epoch: int
    arch_val_loss: float
    resumed_from_epoch: int | None


def train_repeat(
    arch: Architecture,
    datamodule,
    recipe: Retraining,
    seed: int,
    folder: Path,
    logger=False,
    callbacks=(),
    progress: str = "",
    accelerator: Accelerator = Accelerator(),
) -> TrainedRepeat:
    """Train `DiscreteNet(arch)` seeded with `seed` under `recipe` (max_epochs, patience, patience_steps,
    lr), with its checkpoints in `folder`; resume from `folder/last.ckpt` or reuse `folder/trained.pt`.
    `progress` names the phase whose progress is shown (empty: silent)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(seed, verbose=False)
    net = DiscreteNet(arch)
    trained = folder / TRAINED
    if trained.is_file():
        state = load_checkpoint(trained)
        net.load_state_dict(state["weights"])
        log.info("seed %d: reusing the finished training in %s", seed, trained)
        return TrainedRepeat(seed, net.eval(), state["best_epoch"], state["arch_val_loss"], None)
    last = folder / LAST_CHECKPOINT
    resumed = None
    if last.is_file():
        resumed = int(load_checkpoint(last)["epoch"]) + 1
        log.info("seed %d: resuming from %s after epoch %d", seed, last, resumed)
    checkpoint = ModelCheckpoint(
        dirpath=folder, filename=Path(LAST_CHECKPOINT).stem, monitor=None, save_top_k=1, every_n_epochs=1
    )
    best = fit_classifier(
        net,
        datamodule,
        recipe.max_epochs,
        recipe.patience,
        recipe.lr,
        logger=logger,
        callbacks=[checkpoint, *callbacks],
        progress=progress,
        ckpt_path=str(last) if resumed is not None else None,
        accelerator=accelerator,
        patience_steps=recipe.patience_steps,
        augmentation=recipe.augmentation,
        label_smoothing=recipe.label_smoothing,
        lr_decay=recipe.lr_decay,
    )
    torch.save(
        {"weights": net.state_dict(), "best_epoch": best.best_epoch, "arch_val_loss": best.best}, trained
    )
    return TrainedRepeat(seed, net.eval(), best.best_epoch, best.best, resumed)
