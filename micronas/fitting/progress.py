"""`EpochProgress`: a Lightning fit's progress with an ETA, a bar on a terminal, else a line per epoch."""

from pytorch_lightning.callbacks import Callback

from micronas.console import Progress

MAX_LINES = 25  # off a terminal: a line per epoch, or per few epochs when there are many


class EpochProgress(Callback):
    """Counts training batches over `max_epochs`; `bound`: early stopping may end the fit sooner."""

    def __init__(self, desc: str, bound: bool = False, stream=None):
        self.desc, self.bound, self.stream = desc, bound, stream
        self.progress: Progress | None = None

    def on_train_start(self, trainer, module) -> None:
        per_epoch = max(int(trainer.num_training_batches), 1)
        epochs = int(trainer.max_epochs)
        every = per_epoch * max(1, -(-epochs // MAX_LINES))
        self.progress = Progress(epochs * per_epoch, self.desc, "step", every=every,
                                 done=trainer.current_epoch * per_epoch, stream=self.stream, bound=self.bound)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if self.progress is not None:
            self.progress.update(1, self._note(trainer))

    def _note(self, trainer) -> str:
        metrics = trainer.callback_metrics
        parts = [f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"]
        for key in ("val/loss", "val/acc"):
            if key in metrics:
                parts.append(f"{key} {float(metrics[key]):.3f}")
        return ", ".join(parts)

    def on_train_end(self, trainer, module) -> None:
        if self.progress is not None:
            self.progress.close(f"stopped after epoch {trainer.current_epoch}")
