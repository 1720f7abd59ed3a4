"""Training-time augmentation of sensor windows (`retraining.augmentation`): jitter and per-channel scaling.

Both act on the z-scored network input `[B, 1, T, S]` of weight-training batches only; arch-val and test
windows are never touched. They are the two augmentations HAR practice applies to every sensor alike
(Um et al., 2017); rotations need the sensor triads' geometry, which the z-scored channels no longer
have. All zero (the default) leaves training exactly as without augmentation.
"""

from dataclasses import dataclass

import torch

from micronas.config import is_real
from micronas.errors import ConfigError


@dataclass(frozen=True)
class Augmentation:
    """`jitter_std`: additive Gaussian noise; `scale_std`: one factor `N(1, scale_std^2)` per window and
    channel (both in units of the z-scored input)."""

    jitter_std: float = 0.0
    scale_std: float = 0.0

    @classmethod
    def from_config(cls, cfg) -> "Augmentation":
        """From `retraining.augmentation` (absent: none); a bad value ends in one sentence."""
        if cfg is None:
            return cls()
        values = {}
        for name in ("jitter_std", "scale_std"):
            value = cfg.get(name, 0.0)
            if not is_real(value) or not 0.0 <= value <= 1.0:
                raise ConfigError(f"retraining.augmentation.{name}={value!r} is not valid: use a number from 0 "
                                  "(off) to 1, in units of the z-scored input.")
            values[name] = float(value)
        return cls(**values)

    @property
    def active(self) -> bool:
        return self.jitter_std > 0 or self.scale_std > 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """An augmented copy of the batch `x` `[B, 1, T, S]` (draws from torch's global generator)."""
        if self.scale_std > 0:
            x = x * (1 + self.scale_std * torch.randn(x.shape[0], 1, 1, x.shape[3], device=x.device))
        if self.jitter_std > 0:
            x = x + self.jitter_std * torch.randn_like(x)
        return x
