"""The greedy repair turns a derived architecture that breaks budgets into one that meets them."""

import numpy as np
import pytest
import torch

from micronas.config import load_config
from micronas.cost.extremes import extreme
from micronas.cost.model import CostModel
from micronas.search.repair import excess, repair
from micronas.space.architecture import Architecture
from micronas.space.searchspace import SearchSpace


@pytest.fixture(scope="module")
def l552():
    return CostModel.from_mcu(load_config("search", ["mcu=nucleo_l552"]).mcu)


def test_repair_meets_feasible_budgets_and_keeps_the_most_probable_choices(l552):
    space = SearchSpace(100, 6, 4)
    arch = Architecture.largest(space)
    cheapest = extreme(space, l552, "latency").value
    constraints = {"latency": 3 * cheapest, "memory": l552.predict(arch).arena_bytes / 1024 / 2}
    logits = {d.key: torch.zeros(d.ways) for d in space.decisions}
    assert excess(l552.predict(arch), constraints) > 0
    repaired, changes = repair(arch, logits, l552, constraints)
    assert excess(l552.predict(repaired), constraints) == 0
    assert all(l552.predict(repaired).verdicts(constraints).values())
    assert 0 < len(changes) < 40 and repaired != arch
    # Every reported change is the difference between the two architectures, decision by decision.
    before, after = arch.one_hot(), repaired.one_hot()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed <= {c.decision for c in changes}


def test_repair_leaves_an_architecture_that_meets_its_budgets_alone(l552):
    arch = Architecture.random(SearchSpace(100, 6, 4), np.random.default_rng(1))
    costs = l552.predict(arch)
    logits = {d.key: torch.zeros(d.ways) for d in arch.space.decisions}
    assert repair(arch, logits, l552, {"latency": costs.latency_ms * 1.01}) == (arch, [])
