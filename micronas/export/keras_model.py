"""Rebuild a `DiscreteNet` in Keras with BN folded and ReLU fused (docs/method.md §9.4).

Input `[batch, T, S, 1]` (NHWC). Layers are created in the exporter's fixed op order, the steps of each
cell (`micronas.space.cells.cell_steps`; per SF cell: bottleneck, the branches with an `Add` after each
from the second on, residual, final `Add`), so the converted graph lists exactly `Architecture.ops()`.
All convolutions use Keras/TF 'same' padding, which the PyTorch network reproduces explicitly.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from torch import nn  # noqa: E402

from micronas.export.fold import fold_batchnorm  # noqa: E402
from micronas.space.cells import INPUT, CellStep  # noqa: E402
from micronas.space.discrete import CellNet, DiscreteNet, TRNet  # noqa: E402
from micronas.space.layers import ConvBNReLU  # noqa: E402


def _conv(x, block, name: str, activation="relu"):
    """A Keras Conv2D carrying `block`'s weights (a `ConvBNReLU`, BN folded, or a plain conv)."""
    if isinstance(block, ConvBNReLU):
        weight, bias = fold_batchnorm(block)
        conv = block.conv
    else:
        conv = block
        weight = conv.weight.detach().numpy()
        bias = conv.bias.detach().numpy()
    layer = keras.layers.Conv2D(
        conv.out_channels,
        conv.kernel_size,
        strides=conv.stride,
        padding="same",
        activation=activation,
        use_bias=True,
        name=name,
    )
    y = layer(x)
    layer.set_weights([np.transpose(weight, (2, 3, 1, 0)), bias])
    return y


def _layer_name(cell: CellNet, step: CellStep, prefix: str) -> str:
    """The names the export has always used: `cellN_conv` (TR); `cellN_bottleneck`, `cellN_branch5`,
    `cellN_residual`; `cellN_add5` after branch 5 and `cellN_add_residual` after the residual."""
    if step.is_add:
        kernel = step.site.name.removeprefix("branch")
        return f"{prefix}_add{kernel}" if kernel != step.site.name else f"{prefix}_add_{step.site.name}"
    return f"{prefix}_conv" if isinstance(cell, TRNet) else f"{prefix}_{step.site.name}"


def _cell(x, cell: CellNet, prefix: str):
    """One used cell, its steps in the order `Architecture.ops()` lists them."""
    convs, tensors = cell.convs(), {INPUT: x}
    for step in cell.steps:
        inputs, name = [tensors[source] for source in step.inputs], _layer_name(cell, step, prefix)
        if step.is_add:
            tensors[step.output] = keras.layers.Add(name=name)(inputs)
        else:
            tensors[step.output] = _conv(inputs[0], convs[step.site.name], name)
    return tensors[cell.steps[-1].output]


def to_keras(net: DiscreteNet) -> keras.Model:
    """A float Keras model computing `net`'s class probabilities in inference mode (BN folded)."""
    t, s = net.arch.input_shape
    inputs = keras.Input((t, s, 1), name="window")
    x = inputs
    for index, cell in enumerate(net.cells):
        if isinstance(cell, CellNet):
            x = _cell(x, cell, f"cell{index}")
        elif not isinstance(cell, nn.Identity):
            raise TypeError(f"unknown cell module {type(cell).__name__}")
    x = _conv(x, net.head, "head", activation=None)
    x = keras.layers.GlobalAveragePooling2D(name="mean")(x)
    x = keras.layers.Softmax(name="softmax")(x)
    return keras.Model(inputs, x, name="micronas")


def logits_model(model: keras.Model) -> keras.Model:
    """The same network without its final softmax: class logits (the pooled head output)."""
    return keras.Model(model.input, model.get_layer("mean").output, name="micronas_logits")
