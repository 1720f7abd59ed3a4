"""The settings of retraining, int8 export, QAT and measurement, read from `cfg.retraining` and checked once.

`Retraining.from_config(cfg.retraining)` is the only place that reads the config section; `run_training`
calls it before any data is read (and `search.py ... retrain=true` before the search), and the retraining,
QAT and measurement functions take the typed result. A bad value ends in one sentence naming it and what
is valid.
"""

from dataclasses import dataclass

from micronas.config import is_real, learning_rate, positive_int
from micronas.errors import ConfigError
from micronas.fitting.augment import Augmentation

METHODS = ("ptq", "qat", "auto")


@dataclass(frozen=True)
class Quantization:
    """`retraining.quantization`: PTQ, QAT, or QAT when PTQ loses more than `threshold_points` on arch-val."""

    method: str
    threshold_points: float
    epochs: int
    lr: float


@dataclass(frozen=True)
class Measurement:
    """`retraining.measurement`: the timed runs on the device and the windows of the output check."""

    warmups: int
    repeats: int
    output_windows: int


@dataclass(frozen=True)
class Retraining:
    """Everything the retraining path reads (`conf/retraining/default.yaml` documents each)."""

    max_epochs: int
    patience: int
    patience_steps: int
    lr: float
    lr_decay: float
    label_smoothing: float
    augmentation: Augmentation
    repeats: int
    representative_windows: int
    quantization: Quantization
    measurement: Measurement

    @classmethod
    def from_config(cls, recipe) -> "Retraining":
        """The settings of `cfg.retraining`, or one sentence naming the first bad value."""
        quant, meas = recipe.quantization, recipe.measurement
        if quant.method not in METHODS:
            raise ConfigError(f"retraining.quantization.method={quant.method} is not valid; valid methods "
                              f"are: {', '.join(METHODS)}.")
        threshold = quant.qat_threshold_points
        if not is_real(threshold):
            raise ConfigError(f"retraining.quantization.qat_threshold_points={threshold!r} is not valid: "
                              "use a number of accuracy points such as 1.0.")
        smoothing = recipe.get("label_smoothing", 0.0)
        if not is_real(smoothing) or not 0.0 <= smoothing < 1.0:
            raise ConfigError(f"retraining.label_smoothing={smoothing!r} is not valid: use a number from 0 "
                              "(off) up to, not including, 1.")
        decay = recipe.get("lr_decay", 1.0)
        if not is_real(decay) or not 0.0 < decay <= 1.0:
            raise ConfigError(f"retraining.lr_decay={decay!r} is not valid: use a factor in (0, 1], such as "
                              "0.5 (1: a constant learning rate).")
        return cls(
            max_epochs=positive_int("retraining.max_epochs", recipe.max_epochs),
            patience=positive_int("retraining.patience", recipe.patience),
            patience_steps=positive_int("retraining.patience_steps", recipe.get("patience_steps", 0),
                                        least=0),
            lr=learning_rate("retraining.lr", recipe.lr),
            lr_decay=float(decay),
            label_smoothing=float(smoothing),
            augmentation=Augmentation.from_config(recipe.get("augmentation")),
            repeats=positive_int("retraining.repeats", recipe.repeats),
            representative_windows=positive_int("retraining.representative_windows",
                                                recipe.representative_windows),
            quantization=Quantization(
                quant.method, float(threshold),
                positive_int("retraining.quantization.qat_epochs", quant.qat_epochs),
                learning_rate("retraining.quantization.qat_lr", quant.qat_lr)),
            measurement=Measurement(
                positive_int("retraining.measurement.warmups", meas.warmups, least=0),
                positive_int("retraining.measurement.repeats", meas.repeats),
                positive_int("retraining.measurement.output_windows", meas.output_windows)),
        )
