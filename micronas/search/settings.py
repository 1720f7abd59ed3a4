"""The settings of a search, read from `cfg.search` and checked once.

`GradientSearch.from_config(cfg.search)` (DNAS, DARTS) and `RandomSearch.from_config(cfg.search)` (the
random baseline) are the only places that read the config section; the search module, the random search
and the run take the typed, checked result. A bad value ends in one sentence naming it and what is valid,
before any data is loaded.
"""

from dataclasses import asdict, dataclass

import torch

from micronas.config import auto_or_positive_int, is_real, learning_rate, one_of, positive_int
from micronas.errors import ConfigError
from micronas.search.hardware_loss import hardware_loss
from micronas.search.temperature import temperature

METHODS = ("dnas", "darts")
COST_DISTRIBUTIONS = ("sampled", "sharpened", "sample")
DERIVATIONS = ("constrained", "argmax")
# where the hardware loss is evaluated: the expected costs, or the derived (argmax) architecture's exact costs
LOSS_POINTS = ("expected", "derived")


@dataclass(frozen=True)
class Temperature:
    """The Gumbel-softmax temperature schedule (docs/method.md §4.2)."""

    schedule: str
    initial: float
    final: float
    decay: float
    floor: float

    def at(self, step: int, steps: int) -> float:
        """The temperature of architecture step `step` of `steps`."""
        return temperature(step, steps, self.schedule, self.initial, self.final, self.decay, self.floor)


@dataclass(frozen=True)
class HardwareLoss:
    """The hardware-aware loss (docs/method.md §5) and its ramp over the first architecture steps."""

    mode: str
    gamma_hi: float
    gamma_lo: float
    margin: float
    squared: bool
    ramp_fraction: float
    at: str

    def __call__(self, expected: torch.Tensor, target: float) -> torch.Tensor:
        return hardware_loss(expected, target, self.mode, self.gamma_hi, self.gamma_lo, self.margin,
                             self.squared)


@dataclass(frozen=True)
class GradientSearch:
    """Everything `SearchModule` and the gradient search run read (`conf/search/dnas.yaml` documents each)."""

    method: str
    epochs: int
    min_steps: int
    warmup_fraction: float
    arch_every: int
    temperature: Temperature
    costs_under: str
    hardware_loss: HardwareLoss
    sharpening: float
    weights_lr: float
    grad_clip_norm: float
    arch_lr: float
    arch_final_lr: float
    derivation: str
    latency_floor: float  # constrained derivation: share of the latency budget to reach if possible

    @classmethod
    def from_config(cls, search_cfg) -> "GradientSearch":
        """The settings of `cfg.search`, or one sentence naming the first bad value."""
        one_of("search.method", search_cfg.method, METHODS)
        one_of("search.costs_under", search_cfg.costs_under, COST_DISTRIBUTIONS)
        one_of("search.derivation", search_cfg.derivation, DERIVATIONS)
        one_of("search.hardware_loss.at", search_cfg.hardware_loss.at, LOSS_POINTS)
        for name, value in (("warmup_fraction", search_cfg.warmup_fraction),
                            ("hardware_loss.ramp_fraction", search_cfg.hardware_loss.ramp_fraction),
                            ("latency_floor", search_cfg.latency_floor)):
            if not is_real(value) or not 0 <= value < 1:
                raise ConfigError(f"search.{name}={value} is not valid; it must be in [0, 1).")
        if not is_real(search_cfg.sharpening) or search_cfg.sharpening < 0:
            raise ConfigError(f"search.sharpening={search_cfg.sharpening} is not valid; it must be a number "
                              ">= 0 (0: off).")
        arch_every = positive_int("search.arch_every", search_cfg.arch_every)
        t, loss = search_cfg.temperature, search_cfg.hardware_loss
        settings = cls(
            method=search_cfg.method,
            epochs=int(search_cfg.epochs),
            min_steps=int(search_cfg.min_steps),
            warmup_fraction=float(search_cfg.warmup_fraction),
            arch_every=arch_every,
            temperature=Temperature(t.schedule, float(t.initial), float(t.final), float(t.decay),
                                    float(t.floor)),
            costs_under=search_cfg.costs_under,
            hardware_loss=HardwareLoss(loss.mode, float(loss.gamma_hi), float(loss.gamma_lo),
                                       float(loss.margin), bool(loss.squared), float(loss.ramp_fraction),
                                       loss.at),
            sharpening=float(search_cfg.sharpening),
            weights_lr=float(search_cfg.weights_optimizer.lr),
            grad_clip_norm=float(search_cfg.weights_optimizer.grad_clip_norm),
            arch_lr=float(search_cfg.arch_optimizer.lr),
            arch_final_lr=float(search_cfg.arch_optimizer.final_lr),
            derivation=search_cfg.derivation,
            latency_floor=float(search_cfg.latency_floor),
        )
        settings.temperature.at(0, 2)  # an unknown schedule or final > initial: its own sentence, now
        settings.hardware_loss(torch.tensor(1.0), 1.0)  # an unknown mode or a bad margin likewise
        return settings

    def trajectory(self) -> dict:
        """The settings that change the path a search takes from its start (a resumed search must repeat
        them); the length is its step count, and the derivation acts only after the search."""
        shared = ("method", "warmup_fraction", "arch_every", "weights_lr", "grad_clip_norm", "arch_lr",
                  "arch_final_lr")
        relaxed = ("temperature", "costs_under", "hardware_loss", "sharpening")  # DARTS ignores them
        names = shared + (relaxed if self.method == "dnas" else ())
        return {name: asdict(self)[name] for name in names}


@dataclass(frozen=True)
class RandomSearch:
    """Everything the random baseline reads (`conf/search/random.yaml` documents each)."""

    candidates: int
    max_draws: int
    epochs: int
    patience: int
    patience_steps: int
    lr: float
    workers: int | str  # auto: the CPU cores over threads_per_candidate
    threads_per_candidate: int

    @classmethod
    def from_config(cls, search_cfg) -> "RandomSearch":
        """The settings of `cfg.search`, or one sentence naming the first bad value."""
        counts = {name: positive_int(f"search.{name}", search_cfg.get(name))
                  for name in ("candidates", "max_draws", "epochs", "patience", "threads_per_candidate")}
        return cls(**counts,
                   patience_steps=positive_int("search.patience_steps", search_cfg.get("patience_steps", 0),
                                               least=0),
                   lr=learning_rate("search.lr", search_cfg.get("lr")),
                   workers=auto_or_positive_int("search.workers", search_cfg.get("workers")))
