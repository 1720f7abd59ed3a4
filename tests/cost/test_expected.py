"""Differentiable expected costs: exact at one-hot weights, differentiable, ordered sensibly."""

import numpy as np
import pytest
import torch

from micronas.config import load_config
from micronas.cost.expected import ExpectedCosts
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


@pytest.mark.parametrize("shape", [(128, 9, 6), (64, 30, 10), (100, 6, 4)])
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


def test_expectation_matches_sampling_under_diffuse_probabilities(l552):
    """Beyond one-hot: the exact expectation equals the mean over independently sampled decisions
    (degenerate cells included: they run no ops)."""
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
