"""Fold BatchNorm into the preceding convolution (docs/method.md §9.3)."""

import numpy as np
import torch

from micronas.space.layers import ConvBNReLU


@torch.no_grad()
def fold_batchnorm(block: ConvBNReLU) -> tuple[np.ndarray, np.ndarray]:
    """`(W', b')` of conv -> BN in inference mode: `W' = W*g`, `b' = (b - mu)*g + beta`,
    `g = gamma / sqrt(var + eps)`; `W'` keeps PyTorch's `[out, in, kh, kw]` layout.
    """
    bn = block.bn
    weight = block.conv.weight.double()
    bias = (
        block.conv.bias.double()
        if block.conv.bias is not None
        else torch.zeros_like(bn.running_mean).double()
    )
    gain = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    folded_weight = weight * gain.view(-1, 1, 1, 1)
    folded_bias = (bias - bn.running_mean.double()) * gain + bn.bias.double()
    return folded_weight.float().numpy(), folded_bias.float().numpy()
