"""Convolution building blocks shared by the supernet and discrete networks.

All convolutions use TF-'same' padding (METHOD.md section 9.4), applied explicitly so that weights
transfer exactly to Keras/TFLite: `pad_total = max((ceil(n/s) - 1)*s + k - n, 0)`, `pad_before =
floor(pad_total/2)`, the rest after. At stride 2 the extra pad goes on the right/bottom.
"""

from math import ceil

import torch
import torch.nn.functional as F
from torch import nn

BN_EPSILON = 1e-5


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF-'same' padding `(before, after)` of one axis of length `size`."""
    total = max((ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """`nn.Conv2d` with TF-'same' padding computed from the input size."""

    def __init__(self, in_channels: int, out_channels: int, kernel, stride, bias: bool):
        super().__init__(in_channels, out_channels, tuple(kernel), tuple(stride), padding=0, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        top, bottom = same_padding(x.shape[-2], kh, sh)
        left, right = same_padding(x.shape[-1], kw, sw)
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return super().forward(x)


class ConvBNReLU(nn.Module):
    """conv (no bias) -> BatchNorm -> ReLU; exported as one CONV_2D with BN folded and ReLU fused."""

    def __init__(self, in_channels: int, out_channels: int, kernel, stride):
        super().__init__()
        self.conv = SameConv2d(in_channels, out_channels, kernel, stride, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPSILON)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))

    @torch.no_grad()
    def copy_slice_from(self, source: "ConvBNReLU") -> None:
        """Load the first out/in channels of a wider block (weight sharing with the supernet)."""
        out_channels, in_channels = self.conv.out_channels, self.conv.in_channels
        self.conv.weight.copy_(source.conv.weight[:out_channels, :in_channels])
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(self.bn, name).copy_(getattr(source.bn, name)[:out_channels])
        self.bn.num_batches_tracked.copy_(source.bn.num_batches_tracked)


def width_mask(width_weights: torch.Tensor, widths: tuple[int, ...]) -> torch.Tensor:
    """Cumulative channel mask `mask_c = sum_{i : widths[i] > c} w_i` (METHOD.md section 3.5).

    `widths` are `g, 2g, ..., m*g`; the mask has `widths[-1]` entries.
    """
    step = widths[0]
    at_least = torch.flip(torch.cumsum(torch.flip(width_weights, (0,)), 0), (0,))
    return at_least.repeat_interleave(step)


class DynamicConv(ConvBNReLU):
    """One conv at the widest option; a width distribution scales channels after the ReLU.

    Order conv -> BN -> ReLU -> mask, so BatchNorm cannot normalise the mask away.
    """

    def __init__(self, in_channels: int, widths: tuple[int, ...], kernel, stride):
        if any(w != (i + 1) * widths[0] for i, w in enumerate(widths)):
            raise ValueError(f"widths {widths} must be g, 2g, ..., m*g")
        super().__init__(in_channels, widths[-1], kernel, stride)
        self.widths = tuple(widths)

    def forward(self, x: torch.Tensor, width_weights: torch.Tensor) -> torch.Tensor:
        mask = width_mask(width_weights, self.widths)
        return super().forward(x) * mask.view(1, -1, 1, 1)
