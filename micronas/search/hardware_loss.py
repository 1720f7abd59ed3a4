"""The hardware-aware architecture loss terms (docs/method.md §5)."""

import torch

from micronas.errors import ConfigError

MODES = ("asym_log", "hinge")


def hardware_loss(expected: torch.Tensor, target: float, mode: str = "asym_log", gamma_hi: float = 4.0,
                  gamma_lo: float = 0.002, margin: float = 0.0, squared: bool = False) -> torch.Tensor:
    """The loss that pushes an expected cost (latency ms, arena bytes, ...) below its `target`.

    `asym_log` (reference): `gamma * ln(E / target)` with `gamma_hi` above the target and `gamma_lo`
    below it, so a small push remains when the budget is met. `hinge`:
    `gamma_hi * max(0, ln(E / ((1 - margin) * target)))`, squared on request, with no push below.
    Both are scale-free: the gradient is `gamma * grad(E) / E`.
    """
    if mode == "asym_log":
        ratio = torch.log(expected / target)
        return torch.where(expected > target, gamma_hi * ratio, gamma_lo * ratio)
    if mode == "hinge":
        if not 0 <= margin < 1:
            raise ConfigError(f"search.hardware_loss.margin={margin} is not valid: use 0 <= margin < 1.")
        excess = torch.clamp(torch.log(expected / ((1 - margin) * target)), min=0)
        return gamma_hi * (excess**2 if squared else excess)
    raise ConfigError(
        f"search.hardware_loss.mode={mode} is not a known mode; valid options are: {', '.join(MODES)}."
    )
