"""Refuse a budget that no architecture of the space can meet, before any training starts.

Latency and flash minima are exact (dynamic programming in `micronas.cost.extremes`). The arena is a
greedy plan that no dynamic programme decomposes; its floor is taken as the exact arena of the
architecture with the smallest live-set peak (no arena is below that peak, and on the bundled and
paper datasets this architecture is also the cheapest in latency).
"""

from micronas.budgets import UNITS
from micronas.cost.extremes import extreme
from micronas.cost.model import CostModel
from micronas.errors import ConfigError
from micronas.space.searchspace import SearchSpace


def cheapest_figures(space: SearchSpace, cost_model: CostModel, budgets: list[str]) -> dict[str, float]:
    """The smallest achievable figure of each named budget, in budget units (latency ms, memory/flash kB)."""
    figures = {}
    if "latency" in budgets:
        figures["latency"] = extreme(space, cost_model, "latency").value
    if "flash" in budgets:
        figures["flash"] = cost_model.flash_bytes(extreme(space, cost_model, "flash").arch) / 1024
    if "memory" in budgets:
        figures["memory"] = cost_model.arena(extreme(space, cost_model, "peak").arch).arena_bytes / 1024
    return figures


def check_feasible(space: SearchSpace, cost_model: CostModel, constraints: dict) -> dict[str, float]:
    """Raise one ConfigError sentence if a budget is below the cheapest architecture; else the cheapest figures."""
    budgets = {name: float(value) for name, value in constraints.items() if value is not None}
    figures = cheapest_figures(space, cost_model, list(budgets))
    for name, budget in budgets.items():
        if budget < figures[name]:
            unit = UNITS[name]
            raise ConfigError(
                f"constraints.{name}={budget:g} {unit} is below the cheapest architecture of the search space "
                f"for mcu={cost_model.name} ({figures[name]:.4g} {unit}); choose at least {figures[name]:.4g} {unit}."
            )
    return figures
