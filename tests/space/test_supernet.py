from dataclasses import replace

import numpy as np
import pytest
import torch

from micronas.space.architecture import Architecture
from micronas.space.discrete import DiscreteNet
from micronas.space.supernet import SuperNet


@torch.no_grad()
def randomise_batchnorm(module: torch.nn.Module, generator: torch.Generator) -> None:
    """Non-trivial BN statistics and affine parameters, so inference-mode BN is really exercised."""
    for bn in module.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            n = bn.num_features
            bn.running_mean.copy_(torch.randn(n, generator=generator) * 0.2)
            bn.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            bn.weight.copy_(torch.rand(n, generator=generator) + 0.5)
            bn.bias.copy_(torch.randn(n, generator=generator) * 0.2)


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_one_hot_supernet_equals_the_discrete_net(space, mode):
    """Weight sharing: the supernet at a one-hot point computes exactly its discrete network."""
    generator = torch.Generator().manual_seed(0)
    supernet = SuperNet(space, dropout=0.0)
    randomise_batchnorm(supernet, generator)
    rng = np.random.default_rng(0)
    t, s = space.input_shape
    x = torch.randn(6, 1, t, s, generator=generator)
    for _ in range(6):
        arch = Architecture.random(space, rng)
        net = DiscreteNet(arch, dropout=0.0).load_from_supernet(supernet)
        supernet.train(mode == "train")
        net.train(mode == "train")
        with torch.no_grad():
            expected = net(x)
            actual = supernet(x, arch.one_hot())
        assert expected.shape == (6, space.num_classes)
        torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


def test_soft_weights_give_gradients_to_every_decision(spaces):
    space = spaces["ucihar"]
    supernet = SuperNet(space)
    logits = {key: torch.randn(shape, requires_grad=True) for key, shape in space.logit_shapes().items()}
    weights = {key: torch.softmax(value, 0) for key, value in logits.items()}
    x = torch.randn(4, 1, *space.input_shape)
    loss = torch.nn.functional.cross_entropy(supernet(x, weights), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    for key, value in logits.items():
        assert value.grad is not None and float(value.grad.abs().sum()) > 0, key


def test_one_hot_width_zeroes_the_channels_beyond_it(spaces):
    space = spaces["ucihar"]
    supernet = SuperNet(space).eval()
    arch = Architecture.random(space, np.random.default_rng(3))
    cell = supernet.cells[0]
    weights = arch.one_hot()
    with torch.no_grad():
        out = cell(
            torch.randn(2, 1, *space.input_shape),
            {"kernel": weights["cell0.kernel"], "width": weights["cell0.width"]},
        )
    width = arch.cells[0].width
    assert float(out[:, width:].abs().sum()) == 0.0
    assert float(out[:, :width].abs().sum()) > 0.0


def test_supernet_refuses_incomplete_or_misshapen_weights(spaces):
    space = spaces["basicmotions"]
    supernet = SuperNet(space)
    weights = Architecture.largest(space).one_hot()
    x = torch.randn(2, 1, *space.input_shape)
    missing = dict(weights)
    missing.pop("cell0.kernel")
    with pytest.raises(ValueError, match="cell0.kernel"):
        supernet(x, missing)
    wrong = dict(weights, **{"cell2.residual": torch.ones(3)})
    with pytest.raises(ValueError, match=r"cell2.residual have shape \(3,\)"):
        supernet(x, wrong)


def test_discrete_net_has_no_dead_bottleneck_and_skips_cells(spaces):
    space = spaces["ucihar"]
    data = Architecture.largest(space).to_dict()
    data["cells"][4].update(branch3=False, branch5=False, branch7=False)
    data["cells"][5]["skip"] = True
    net = DiscreteNet(Architecture.from_dict(data))
    assert net.cells[4].bottleneck is None and len(net.cells[4].branches) == 0
    assert isinstance(net.cells[5], torch.nn.Identity)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == sum(op.kind == "conv2d" for op in net.arch.ops())


class Doubling(torch.nn.Module):
    """A deterministic stand-in for channel dropout's 1/(1-p) scaling, to see where dropout is applied."""

    def forward(self, x):
        return 2 * x


def test_a_skipped_cell_passes_its_input_unchanged_as_in_the_discrete_net(space):
    """A fixed fault: the supernet applied dropout after skipped cells; the DiscreteNet does not."""
    generator = torch.Generator().manual_seed(1)
    supernet = SuperNet(space)
    randomise_batchnorm(supernet, generator)
    rng = np.random.default_rng(1)
    arch = next(a for a in (Architecture.random(space, rng) for _ in range(500))
                if any(getattr(c, "skip", False) for c in a.cells))
    net = DiscreteNet(arch).load_from_supernet(supernet)
    supernet.dropout, net.dropout = Doubling(), Doubling()
    t, s = space.input_shape
    x = torch.randn(4, 1, t, s, generator=generator)
    with torch.no_grad():
        torch.testing.assert_close(supernet.eval()(x, arch.one_hot()), net.eval()(x), rtol=1e-5, atol=1e-5)


def test_a_used_cell_with_nothing_on_runs_its_residual(space):
    """A fixed fault: such a cell output zeros in the supernet; it deploys (and trains) as its residual."""
    generator = torch.Generator().manual_seed(2)
    supernet = SuperNet(space, dropout=0.0)
    randomise_batchnorm(supernet, generator)
    arch = Architecture.largest(space)
    index = next(i for i, plan in enumerate(space.cells) if plan.type == "sf_reduce")
    cells = list(arch.cells)
    cells[index] = replace(cells[index], branch3=False, branch5=False, branch7=False, residual=True)
    with_residual = Architecture(arch.input_shape, arch.num_classes, tuple(cells))
    weights = with_residual.one_hot()
    weights[f"cell{index}.residual"] = torch.tensor([1.0, 0.0])
    net = DiscreteNet(with_residual, dropout=0.0).load_from_supernet(supernet)
    t, s = space.input_shape
    x = torch.randn(4, 1, t, s, generator=generator)
    with torch.no_grad():
        torch.testing.assert_close(supernet.eval()(x, weights), net.eval()(x), rtol=1e-5, atol=1e-5)
