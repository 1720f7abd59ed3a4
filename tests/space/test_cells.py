"""The cell description (`micronas.space.cells`) and its consumers agree, for every cell type and shape.

The LUT enumeration and the expected costs are checked on the same shapes in tests/cost (test_enumerate,
test_expected); the one-hot supernet against the DiscreteNet in test_supernet.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from micronas.space import Architecture, DiscreteNet, OpSpec, SearchSpace, SuperNet
from micronas.space.cells import conv_sites
from micronas.space.discrete import CellNet
from micronas.space.layers import SameConv2d

CELL_TYPES = ("tr", "sf_reduce", "sf")
SHAPES = [(128, 9, 6), (25, 12, 5), (100, 6, 4), (24, 3, 3)]


def hooked_convs(module: torch.nn.Module, records: list) -> None:
    """Record every convolution `module` runs as an `OpSpec` read from the torch tensors and modules."""

    def hook(conv, inputs, output):
        (_, c_in, h_in, w_in), (_, c_out, h_out, w_out) = inputs[0].shape, output.shape
        activation = "none" if conv.bias is not None else "relu"  # only the head conv has a bias
        records.append(OpSpec.conv((h_in, w_in, c_in), (h_out, w_out, c_out), conv.kernel_size, conv.stride,
                                   activation))

    for conv in module.modules():
        if isinstance(conv, SameConv2d):
            conv.register_forward_hook(hook)


def random_architectures(shape, count=8):
    space, rng = SearchSpace(*shape), np.random.default_rng(sum(shape))
    return space, [Architecture.random(space, rng) for _ in range(count)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("cell_type", CELL_TYPES)
def test_the_discrete_nets_convolutions_are_the_architectures_ops(cell_type, shape):
    space, archs = random_architectures(shape)
    x, checked = torch.zeros(1, 1, *space.input_shape), 0
    for arch in archs:
        net = DiscreteNet(arch).eval()
        records = {}
        for index, cell in enumerate(net.cells):
            if isinstance(cell, CellNet) and space.cells[index].type == cell_type:
                hooked_convs(cell, records.setdefault(index, []))
        with torch.no_grad():
            net(x)
        steps = arch.cell_steps()
        for index, convs in records.items():
            assert convs == [step.op for step in steps[index] if not step.is_add]
            checked += 1
    assert checked


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("cell_type", CELL_TYPES)
def test_the_supernets_modules_have_the_sites_kernels_and_strides(cell_type, shape):
    space = SearchSpace(*shape)
    supernet = SuperNet(space)
    for plan, cell in zip(space.cells, supernet.cells):
        if plan.type != cell_type:
            continue
        sites = conv_sites(plan)
        if cell_type == "tr":
            assert cell.candidates.kernels == tuple(site.kernel[0] for site in sites)
            assert {cell.candidates.conv.stride} == {site.stride for site in sites}
            continue
        convs = cell.convs()
        assert list(convs) == [site.name for site in sites]
        for site in sites:
            assert (convs[site.name].conv.kernel_size, convs[site.name].conv.stride) == (site.kernel, site.stride)


def test_a_fourth_branch_kernel_is_one_edit_of_the_description():
    """With BRANCH_KERNELS = (3, 5, 7, 9) every consumer follows: decisions, supernet == DiscreteNet,
    the DiscreteNet's convolutions == ops, the LUT enumeration and the expected costs at one-hot choices."""
    script = textwrap.dedent(
        """
        import importlib.util, pathlib, sys
        path = pathlib.Path(importlib.util.find_spec("micronas").origin).parent / "space" / "searchspace.py"
        source = path.read_text().replace("BRANCH_KERNELS = (3, 5, 7)", "BRANCH_KERNELS = (3, 5, 7, 9)")
        module = importlib.util.module_from_spec(
            importlib.util.spec_from_file_location("micronas.space.searchspace", path))
        sys.modules[module.__name__] = module  # before micronas.space imports the unedited one
        exec(compile(source, str(path), "exec"), module.__dict__)

        import numpy as np, torch
        from micronas.config import load_config
        from micronas.cost.enumerate import enumerate_ops
        from micronas.cost.expected import ExpectedCosts
        from micronas.cost.graph import op_graph
        from micronas.cost.memory import peak_bytes
        from micronas.cost.model import CostModel
        from micronas.space import Architecture, DiscreteNet, SearchSpace, SuperNet
        from tests.space.test_cells import hooked_convs

        space = SearchSpace(24, 3, 3)
        assert "cell1.branch9" in space.logit_shapes()
        model = CostModel.from_mcu(load_config("search", ["mcu=nucleo_l552"]).mcu)
        expected, keys = ExpectedCosts(space, model), {op.key() for op in enumerate_ops(space)}
        supernet, rng, x = SuperNet(space, dropout=0.0).eval(), np.random.default_rng(0), torch.randn(2, 1, 24, 3)
        nines = 0
        for _ in range(12):
            arch = Architecture.random(space, rng)
            nines += sum(getattr(cell, "branch9", False) for cell in arch.cells)
            net, records = DiscreteNet(arch, dropout=0.0).load_from_supernet(supernet).eval(), []
            hooked_convs(net, records)
            with torch.no_grad():
                torch.testing.assert_close(supernet(x, arch.one_hot()), net(x), rtol=1e-5, atol=1e-5)
            assert records == [op for op in arch.ops() if op.kind == "conv2d"]
            assert {op.key() for op in arch.ops()} <= keys
            costs = expected(arch.one_hot())
            assert abs(costs["latency"].item() - model.network_latency(arch.ops()).total_ms) < 1e-9
            assert costs["peak"].item() == peak_bytes(op_graph(arch), model.build)
            assert costs["flash"].item() == model.flash_bytes(arch)
        assert nines
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                            cwd=Path(__file__).parents[2])
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
