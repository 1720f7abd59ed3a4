"""Cheapest and most expensive architectures: exact values, and no random architecture beyond them."""

import numpy as np
import pytest

from micronas.config import load_config
from micronas.cost.extremes import cell_choices, extreme
from micronas.cost.graph import op_graph
from micronas.cost.memory import peak_bytes
from micronas.cost.model import CostModel
from micronas.space import Architecture, SearchSpace


@pytest.fixture(scope="module")
def setting():
    model = CostModel.from_mcu(load_config("search", ["mcu=nucleo_f446re"]).mcu)
    return SearchSpace(100, 6, 4), model


def value(model, metric, arch):
    if metric == "latency":
        return model.network_latency(arch.ops()).total_ms
    if metric == "flash":
        return model.flash_bytes(arch)
    return peak_bytes(op_graph(arch), model.build)


def test_cell_choices_count_the_non_degenerate_outcomes():
    space = SearchSpace(128, 9, 6)
    counts = [len(cell_choices(plan)) for plan in space.cells]
    # TR 12; SF-reduce 1024 minus the 64 degenerate (no branch, no residual); SF adds one skipped cell.
    assert counts == [12, 12, 12, 960, 961, 961]


@pytest.mark.parametrize("metric", ["latency", "flash", "peak"])
def test_extremes_bound_every_random_architecture(setting, metric):
    space, model = setting
    low, high = extreme(space, model, metric, True), extreme(space, model, metric, False)
    assert value(model, metric, low.arch) == pytest.approx(low.value)
    assert value(model, metric, high.arch) == pytest.approx(high.value)
    rng = np.random.default_rng(9)
    values = [value(model, metric, Architecture.random(space, rng)) for _ in range(150)]
    assert low.value <= min(values) and max(values) <= high.value
    assert low.value < high.value
