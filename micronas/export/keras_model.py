"""Rebuild a `DiscreteNet` in Keras with BN folded and ReLU fused (docs/method.md §9.4).

Input `[batch, T, S, 1]` (NHWC). Layers are created in the exporter's fixed op order (per SF cell:
bottleneck, branches 3, 5, 7 with an `Add` after each from the second on, residual, final `Add`),
so the converted graph lists exactly `Architecture.ops()`. All convolutions use Keras/TF 'same'
padding, which the PyTorch network reproduces explicitly.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from torch import nn  # noqa: E402

from micronas.export.fold import fold_batchnorm  # noqa: E402
from micronas.space.discrete import DiscreteNet, SFNet, TRNet  # noqa: E402
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


def _sf_cell(x, cell: SFNet, prefix: str):
    y = None
    if cell.bottleneck is not None:
        b = _conv(x, cell.bottleneck, f"{prefix}_bottleneck")
        for k, branch in cell.branches.items():
            yk = _conv(b, branch, f"{prefix}_branch{k}")
            y = yk if y is None else keras.layers.Add(name=f"{prefix}_add{k}")([y, yk])
    if cell.residual is not None:
        r = _conv(x, cell.residual, f"{prefix}_residual")
        y = r if y is None else keras.layers.Add(name=f"{prefix}_add_residual")([y, r])
    return y


def to_keras(net: DiscreteNet) -> keras.Model:
    """A float Keras model computing `net`'s class probabilities in inference mode (BN folded)."""
    t, s = net.arch.input_shape
    inputs = keras.Input((t, s, 1), name="window")
    x = inputs
    for index, cell in enumerate(net.cells):
        if isinstance(cell, TRNet):
            x = _conv(x, cell.conv, f"cell{index}_conv")
        elif isinstance(cell, SFNet):
            x = _sf_cell(x, cell, f"cell{index}")
        elif not isinstance(cell, nn.Identity):
            raise TypeError(f"unknown cell module {type(cell).__name__}")
    x = _conv(x, net.head, "head", activation=None)
    x = keras.layers.GlobalAveragePooling2D(name="mean")(x)
    x = keras.layers.Softmax(name="softmax")(x)
    return keras.Model(inputs, x, name="micronas")


def logits_model(model: keras.Model) -> keras.Model:
    """The same network without its final softmax: class logits (the pooled head output)."""
    return keras.Model(model.input, model.get_layer("mean").output, name="micronas_logits")
