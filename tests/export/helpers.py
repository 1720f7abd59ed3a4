"""Helpers of the export and agreement tests: networks with non-trivial weights, the litert reference
oracle, and brief training."""

import numpy as np
import torch
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from micronas.space.architecture import Architecture
from micronas.space.discrete import DiscreteNet


@torch.no_grad()
def random_network(arch: Architecture, seed: int) -> DiscreteNet:
    """`DiscreteNet(arch)` in eval mode with random conv weights and non-trivial BN statistics."""
    torch.manual_seed(seed)
    net = DiscreteNet(arch)
    for bn in net.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            bn.running_mean.normal_(0, 0.2)
            bn.running_var.uniform_(0.5, 1.5)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0, 0.2)
    return net.eval()


def noise_windows(arch: Architecture, count: int, seed: int) -> np.ndarray:
    """`[count, 1, T, S]` float32 Gaussian windows (calibration for random-weight test networks only)."""
    return np.random.default_rng(seed).normal(size=(count, 1, *arch.input_shape)).astype(np.float32)


def litert_reference(model: bytes, xs: np.ndarray) -> np.ndarray:
    """Outputs of ai-edge-litert's reference kernels (`BUILTIN_REF`), one `invoke()` per int8 input."""
    interpreter = Interpreter(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interpreter.allocate_tensors()
    source, sink = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
    outputs = []
    for x in xs:
        interpreter.set_tensor(source, x[None])
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(sink).copy())
    return np.concatenate(outputs)


def train_briefly(net: DiscreteNet, loader, epochs: int, seed: int) -> DiscreteNet:
    """Adam 1e-3 on cross-entropy for `epochs` (docs/method.md §9.2, minus early stopping); eval mode."""
    torch.manual_seed(seed)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    net.train()
    for _ in range(epochs):
        for x, y in loader:
            optimiser.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            optimiser.step()
    return net.eval()
