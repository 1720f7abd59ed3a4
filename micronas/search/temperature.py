"""Gumbel-softmax temperature schedules (docs/method.md §4.2)."""

import math

from micronas.errors import ConfigError

SCHEDULES = ("exponential", "reference")


def temperature(step: int, total_steps: int, schedule: str = "exponential", initial: float = 1.0,
                final: float = 0.01, decay: float = 0.995, floor: float = 1e-5) -> float:
    """The temperature at optimisation step `step` (0-based) of a search of `total_steps` steps.

    `exponential` (default) decays from `initial` to `final` over the whole search:
    `tau_s = initial * (final / initial) ** (s / (total_steps - 1))`.
    `reference` is the reference implementation's `initial * decay ** s`, floored at `floor`.
    """
    if schedule == "exponential":
        if not 0 < final <= initial:
            raise ConfigError(
                f"search.temperature.final={final} is not valid with initial={initial}: "
                "the schedule needs 0 < final <= initial."
            )
        progress = step / (total_steps - 1) if total_steps > 1 else 1.0
        return initial * math.exp(progress * math.log(final / initial))
    if schedule == "reference":
        return max(initial * decay**step, floor)
    raise ConfigError(
        f"search.temperature.schedule={schedule} is not a known schedule; valid options are: "
        f"{', '.join(SCHEDULES)}."
    )
