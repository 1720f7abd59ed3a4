"""Refuse a budget that no architecture of the space can meet, before any training starts.

Latency and flash minima are exact (dynamic programming in `micronas.cost.extremes`). The arena is a
greedy plan that no dynamic programme decomposes; its floor is taken as the exact arena of the
architecture with the smallest live-set peak (no arena is below that peak, and on the bundled and
paper datasets this architecture is also the cheapest in latency).

A device whose latency comes from its own profiled table (this computer, a QEMU board) is first checked
for that table: none at all stops the search with the command that profiles it; a partial one is warned
about (the operators it lacks are predicted from the ones it has).
"""

import logging

from micronas.budgets import units
from micronas.cost.enumerate import enumerate_ops
from micronas.cost.extremes import extreme
from micronas.cost.model import CostModel
from micronas.errors import ConfigError
from micronas.space.searchspace import SearchSpace

log = logging.getLogger(__name__)
PROFILED_SOURCES = ("host-profile", "qemu-profile")  # mcu.latency_source of a device profiled here


def check_latency_table(space: SearchSpace, cost_model: CostModel, mcu, dataset: str) -> None:
    """Refuse in one sentence a search on a profiled device (`PROFILED_SOURCES`) whose table holds none of
    the space's operators; warn when it lacks some. Devices with a calibrated predictor are not checked."""
    if str(mcu.get("latency_source")) not in PROFILED_SOURCES:
        return
    ops = enumerate_ops(space)
    missing = sum(op.key() not in cost_model.profiled for op in ops)
    if not missing:
        return
    command = f"python -m micronas.profiling.profile mcu={mcu.name} dataset={dataset}"
    where = "in QEMU, with the firmware" if mcu.latency_source == "qemu-profile" else "on this computer"
    if cost_model.predictor is None:
        raise ConfigError(
            f"mcu={mcu.name} has no latency table for this search space ({mcu.cost.lut_path} holds none of "
            f"its {len(ops)} operators); profile it first {where} ({command}; resumable, one entry at a time)."
        )
    log.warning("%s lacks %d of the %d operators of this search space; their latency is predicted from the "
                "others (complete the table with %s)", mcu.cost.lut_path, missing, len(ops), command)


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
            unit = units(cost_model.latency_unit)[name]
            raise ConfigError(
                f"constraints.{name}={budget:g} {unit} is below the cheapest architecture of the search space "
                f"for mcu={cost_model.name} ({figures[name]:.4g} {unit}); choose at least {figures[name]:.4g} {unit}."
            )
    return figures
