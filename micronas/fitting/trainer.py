"""`conf/trainer`, read and checked once: where and how Lightning trains (search, random baseline,
retraining, QAT) and whether progress lines are shown."""

from dataclasses import dataclass

from micronas.config import auto_or_positive_int, flag, one_of

ACCELERATORS = ("cpu", "gpu", "cuda", "mps", "tpu", "auto")  # Lightning's names


@dataclass(frozen=True)
class Accelerator:
    """Where Lightning trains (`accelerator`, `devices`) and whether with deterministic algorithms."""

    name: str = "cpu"
    devices: int | str = 1
    deterministic: bool = True

    @classmethod
    def from_config(cls, trainer_cfg) -> "Accelerator":
        """From `conf/trainer`; a bad value ends in one sentence."""
        return cls(one_of("trainer.accelerator", trainer_cfg.accelerator, ACCELERATORS),
                   auto_or_positive_int("trainer.devices", trainer_cfg.devices),
                   flag("trainer.deterministic", trainer_cfg.deterministic))


@dataclass(frozen=True)
class TrainerSettings:
    """Everything the entry points read from `conf/trainer`."""

    accelerator: Accelerator
    progress: bool  # show a progress line per phase (trainer.enable_progress_bar)

    @classmethod
    def from_config(cls, trainer_cfg) -> "TrainerSettings":
        """The settings of `cfg.trainer`, or one sentence naming the first bad value."""
        return cls(Accelerator.from_config(trainer_cfg),
                   flag("trainer.enable_progress_bar", trainer_cfg.enable_progress_bar))
