"""Greedy repair of a derived architecture that breaks a budget (METHOD 4.4, the optional last step).

The relaxed search meets budgets on the expected costs; the derived argmax network is judged on its
exact costs, and the expected arena is a fitted map that cannot see the planner's fragmentation. When
the derived network breaks a budget, the repair changes one decision at a time: among all single-decision
changes, it takes the one that removes the most budget excess (in log units) per unit of architecture
logit it gives up, until every budget holds or no change helps. Each change is reported.
"""

import math
from dataclasses import dataclass

from micronas.cost.model import ArchitectureCosts, CostModel
from micronas.space.architecture import Architecture, ArchitectureError


@dataclass(frozen=True)
class Change:
    """One repair step: `decision` set from `before` to `after`."""

    decision: str
    before: object
    after: object

    def __str__(self) -> str:
        return f"{self.decision}: {self.before} -> {self.after}"


def excess(costs: ArchitectureCosts, constraints: dict) -> float:
    """Sum over budgets of `max(0, ln(cost / budget))`: zero when every budget holds."""
    return sum(
        max(0.0, math.log(costs.value(name) / float(limit))) for name, limit in constraints.items() if limit is not None
    )


def _neighbours(arch: Architecture):
    """Every valid architecture one decision away, with the change."""
    data = arch.to_dict()
    for index, cell in enumerate(data["cells"]):
        for decision in arch.space.decisions:
            if decision.cell != index:
                continue
            for option in decision.options:
                if option == cell[decision.name]:
                    continue
                cells = [dict(c) for c in data["cells"]]
                cells[index][decision.name] = option
                try:
                    neighbour = Architecture.from_dict({**data, "cells": cells, "costs": {}})
                except ArchitectureError:  # a degenerate cell or a skipped reducing cell
                    continue
                yield neighbour, Change(decision.key, cell[decision.name], option), decision


def repair(arch: Architecture, logits: dict, cost_model: CostModel, constraints: dict,
           max_changes: int = 50) -> tuple[Architecture, list[Change]]:
    """`arch` changed greedily until its exact predicted costs meet `constraints` (or nothing helps)."""
    changes: list[Change] = []
    current = excess(cost_model.predict(arch), constraints)
    while current > 0 and len(changes) < max_changes:
        best = None
        for neighbour, change, decision in _neighbours(arch):
            remaining = excess(cost_model.predict(neighbour), constraints)
            gained = current - remaining
            if gained <= 0:
                continue
            vector = [float(v) for v in logits[decision.key]]
            lost = vector[decision.options.index(change.before)] - vector[decision.options.index(change.after)]
            score = gained / (max(lost, 0.0) + 1e-3)
            if best is None or score > best[0]:
                best = (score, neighbour, change, remaining)
        if best is None:
            break
        _, arch, change, current = best
        changes.append(change)
    return arch, changes
