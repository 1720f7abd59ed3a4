"""Differentiable expected costs: exact at one-hot weights, differentiable, ordered sensibly."""

import numpy as np
import pytest
import torch

from micronas.config import load_config
from dataclasses import replace
from itertools import product

from micronas.cost.expected import ExpectedCosts
from micronas.cost.extremes import extreme
from micronas.cost.graph import op_graph
from micronas.space.architecture import cell_ops
from micronas.cost.memory import peak_bytes
from micronas.cost.model import CostModel
from micronas.space import Architecture, SearchSpace
from micronas.space.architecture import SFCell, TRCell
from micronas.space.opspec import OpSpec


@pytest.fixture(scope="module")
def l552():
    return CostModel.from_mcu(load_config("search", ["mcu=nucleo_l552"]).mcu)


@pytest.mark.parametrize("shape", [(128, 9, 6), (64, 30, 10), (100, 6, 4), (25, 12, 5), (24, 3, 3)])
def test_one_hot_weights_give_the_discrete_costs(l552, shape):
    space = SearchSpace(*shape)
    expected = ExpectedCosts(space, l552)
    rng = np.random.default_rng(3)
    for _ in range(25):
        arch = Architecture.random(space, rng)
        costs = expected(arch.one_hot())
        discrete_ms = l552.network_latency(arch.ops()).total_ms
        assert costs["latency"].item() == pytest.approx(discrete_ms, rel=1e-12)
        assert costs["peak"].item() == peak_bytes(op_graph(arch), l552.build)
        assert costs["flash"].item() == l552.flash_bytes(arch)


def test_costs_are_differentiable_in_the_probabilities(l552):
    space = SearchSpace(128, 9, 6)
    expected = ExpectedCosts(space, l552)
    logits = {d.key: torch.zeros(d.ways, requires_grad=True) for d in space.decisions}
    costs = expected({key: torch.softmax(value, 0) for key, value in logits.items()})
    (costs["latency"] + costs["memory"] + costs["flash"]).backward()
    grads = torch.cat([value.grad for value in logits.values()])
    assert torch.isfinite(grads).all() and grads.abs().sum() > 0
    # Wider block widths cost more time: the gradient prefers the narrow end.
    width = logits["cell3.block_width"].grad
    assert width[0] < width[-1]


@pytest.mark.parametrize("shape", [(128, 9, 6), (25, 12, 9)])
def test_the_slope_at_a_one_hot_point_is_the_exact_cost_of_changing_one_decision(l552, shape):
    """The gradient the hardware loss follows is exact where the search ends: expected latency and flash
    are linear in each decision's distribution, so at an architecture's one-hot point the gradient along a
    decision differs between two options by exactly the cost difference of the two architectures that
    differ in that decision only (the cost model's, the oracle)."""
    space = SearchSpace(*shape)
    expected = ExpectedCosts(space, l552)
    rng = np.random.default_rng(11)
    for _ in range(4):
        arch = Architecture.random(space, rng)
        for measure in ("latency", "flash"):
            point = {key: value.double().requires_grad_(True) for key, value in arch.one_hot().items()}
            expected(point)[measure].backward()
            for decision in space.decisions:
                exact = []
                for option in range(decision.ways):
                    changed = {**arch.one_hot(), decision.key: torch.eye(decision.ways)[option]}
                    other = Architecture.derive(space, changed)
                    exact.append(l552.network_latency(other.ops()).total_ms if measure == "latency"
                                 else l552.flash_bytes(other))
                slope = point[decision.key].grad
                np.testing.assert_allclose((slope - slope[0]).numpy(), np.array(exact) - exact[0],
                                           rtol=1e-9, atol=1e-9, err_msg=f"{measure} along {decision.key}")


def test_expectation_matches_sampling_under_diffuse_probabilities(l552):
    """Beyond one-hot: the exact expectation equals the mean over independently sampled decisions
    (a used cell with no branch and no residual deploys as its residual)."""
    space = SearchSpace(100, 6, 4)
    expected = ExpectedCosts(space, l552)
    rng = np.random.default_rng(5)
    probs = {d.key: torch.tensor(rng.dirichlet(np.ones(d.ways))) for d in space.decisions}
    samples = []
    for _ in range(4000):
        ops, channels = [], 1
        for plan in space.cells:
            choices = {
                d.name: d.options[rng.choice(d.ways, p=probs[d.key].numpy())]
                for d in space.decisions
                if d.cell == plan.index
            }
            if plan.type != "tr" and not any(choices[f"branch{k}"] for k in (3, 5, 7)):
                choices["residual"] = True
            cell = (
                TRCell(**choices)
                if plan.type == "tr"
                else SFCell(reducing=plan.type == "sf_reduce", **choices)
            )
            ops += cell_ops(plan, cell, channels)
            if isinstance(cell, TRCell) or not cell.skip:
                channels = cell.width if isinstance(cell, TRCell) else cell.block_width
        (h, w), n = space.head_hw, space.num_classes
        ops += [
            OpSpec("conv2d", (h, w, channels), (h, w, n), (1, 1), (1, 1), "same", "none"),
            OpSpec("mean", (h, w, n), (n,)),
            OpSpec("softmax", (n,), (n,)),
        ]
        samples.append(l552.network_latency(ops).total_ms)
    assert expected(probs)["latency"].item() == pytest.approx(np.mean(samples), rel=0.03)


def _with_cell(arch: Architecture, index: int, cell) -> Architecture:
    cells = list(arch.cells)
    cells[index] = cell
    return Architecture(arch.input_shape, arch.num_classes, tuple(cells))


def test_a_used_cell_with_nothing_on_costs_what_it_deploys_as_never_less_than_a_valid_network(l552):
    """A fixed fault: such a cell cost 0 ms and let the relaxation go below the cheapest valid network."""
    space = SearchSpace(100, 6, 4)
    expected = ExpectedCosts(space, l552)
    cheapest = extreme(space, l552, "latency").arch
    index = next(i for i, plan in enumerate(space.cells) if plan.type == "sf_reduce")
    used = cheapest.cells[index]
    with_residual = _with_cell(cheapest, index, replace(used, branch3=False, branch5=False, branch7=False,
                                                        residual=True))
    weights = with_residual.one_hot()
    weights[f"cell{index}.residual"] = torch.tensor([1.0, 0.0])  # residual off, every branch off
    costs = expected(weights)
    assert costs["latency"].item() == pytest.approx(l552.network_latency(with_residual.ops()).total_ms, rel=1e-12)
    assert costs["latency"].item() >= l552.network_latency(cheapest.ops()).total_ms * (1 - 1e-12)
    assert costs["peak"].item() == peak_bytes(op_graph(with_residual), l552.build)


def test_relaxed_time_reduce_memory_lies_within_the_peaks_of_its_mixture(l552):
    """A fixed fault: each kernel's whole live set was scaled by its probability (3x under the mixture)."""
    space = SearchSpace(128, 9, 6)
    expected = ExpectedCosts(space, l552)
    largest = Architecture.largest(space)
    narrow = [replace(c, bottleneck_width=8, block_width=8) for c in largest.cells[3:]]
    members = [
        Architecture(largest.input_shape, largest.num_classes,
                     tuple(TRCell(kernel=k, width=16) for k in kernels) + tuple(narrow))
        for kernels in product((3, 5, 7), repeat=3)
    ]
    peaks = [peak_bytes(op_graph(member), l552.build) for member in members]
    weights = members[0].one_hot()
    for index in range(3):
        weights[f"cell{index}.kernel"] = torch.full((3,), 1 / 3)
    relaxed = expected(weights)["peak"].item()
    assert min(peaks) <= relaxed <= max(peaks)
