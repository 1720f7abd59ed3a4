"""Convolution building blocks shared by the supernet and discrete networks.

All convolutions use TF-'same' padding (docs/method.md §9.4), applied explicitly so that weights
transfer exactly to Keras/TFLite: `pad_total = max((ceil(n/s) - 1)*s + k - n, 0)`, `pad_before =
floor(pad_total/2)`, the rest after. At stride 2 the extra pad goes on the right/bottom.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

BN_EPSILON = 1e-5


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF-'same' padding `(before, after)` of one axis of length `size`."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """`nn.Conv2d` with TF-'same' padding computed from the input size.

    Symmetric padding is left to the convolution itself (no padded copy of the input); only the
    asymmetric case (an even total, e.g. odd kernels at stride 2) pads explicitly.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel, stride, bias: bool):
        super().__init__(in_channels, out_channels, tuple(kernel), tuple(stride), padding=0, bias=bias)

    def forward(self, x: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """The convolution of `x`, with `weight` in place of `self.weight` when given."""
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        top, bottom = same_padding(x.shape[-2], kh, sh)
        left, right = same_padding(x.shape[-1], kw, sw)
        padding = (top, left)
        if top != bottom or left != right:
            x, padding = F.pad(x, (left, right, top, bottom)), (0, 0)
        weight = self.weight if weight is None else weight
        return F.conv2d(x, weight, self.bias, self.stride, padding)


class ScalableBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm whose output can be scaled per channel by folding the scale into its affine parameters.

    For a scale `s >= 0`, `s * ReLU(BN(z)) = ReLU(BN_s(z))` with `gamma_s = s * gamma`, `beta_s = s * beta`:
    the supernet scales every candidate by its probability and width mask this way, at no extra pass over
    the activations. The running statistics are updated exactly as `nn.BatchNorm2d` does.
    """

    def forward(self, x: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
        if scale is None:
            return super().forward(x)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative average (BatchNorm re-estimation)
                factor = 1.0 / float(self.num_batches_tracked)
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight * scale, self.bias * scale,
                            self.training, factor, self.eps)


class ConvBNReLU(nn.Module):
    """conv (no bias) -> BatchNorm -> ReLU; exported as one CONV_2D with BN folded and ReLU fused.

    `forward(x, channel_scale)` multiplies the output channels by `channel_scale >= 0` (see
    `ScalableBatchNorm2d`).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel, stride):
        super().__init__()
        self.conv = SameConv2d(in_channels, out_channels, kernel, stride, bias=False)
        self.bn = ScalableBatchNorm2d(out_channels, eps=BN_EPSILON)

    def forward(self, x: torch.Tensor, channel_scale: torch.Tensor | None = None) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x), channel_scale), inplace=True)

    @torch.no_grad()
    def copy_slice_from(self, source: "ConvBNReLU") -> None:
        """Load the first out/in channels of a wider block (weight sharing with the supernet)."""
        self.load_slice(source.conv.weight, source.bn)

    @torch.no_grad()
    def load_slice(self, weight: torch.Tensor, bn: nn.BatchNorm2d, first_channel: int = 0) -> None:
        """Load `weight[:out, :in]` and the BatchNorm channels `first_channel : first_channel + out`."""
        out_channels, in_channels = self.conv.out_channels, self.conv.in_channels
        self.conv.weight.copy_(weight[:out_channels, :in_channels])
        channels = slice(first_channel, first_channel + out_channels)
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(self.bn, name).copy_(getattr(bn, name)[channels])
        self.bn.num_batches_tracked.copy_(bn.num_batches_tracked)


def width_mask(width_probs: torch.Tensor, widths: tuple[int, ...]) -> torch.Tensor:
    """Cumulative channel mask `mask_c = sum_{i : widths[i] > c} p_i` over the width probabilities `p`
    (docs/method.md §3.5).

    `widths` are `g, 2g, ..., m*g`; the mask has `widths[-1]` entries.
    """
    step, ways = widths[0], len(widths)
    # at_least[i] = sum_{j >= i} w_j, as a product with an upper-triangular matrix of ones (deterministic
    # on a GPU, unlike cumsum and repeat_interleave's backward)
    upper = torch.ones(ways, ways, dtype=width_probs.dtype, device=width_probs.device).triu()
    at_least = upper @ width_probs
    return at_least.unsqueeze(1).expand(ways, step).reshape(-1)


class DynamicConv(ConvBNReLU):
    """One conv at the widest option whose output channels are scaled after the ReLU.

    Order conv -> BN -> ReLU -> scale, so BatchNorm cannot normalise the mask away. The caller passes
    the per-channel scale: a width mask (`width_mask`), possibly times the probability of the path.
    """

    def __init__(self, in_channels: int, widths: tuple[int, ...], kernel, stride):
        _check_widths(widths)
        super().__init__(in_channels, widths[-1], kernel, stride)
        self.widths = tuple(widths)


class CandidateConvs(nn.Module):
    """Parallel conv -> BN -> ReLU candidates with odd temporal kernels `(k, 1)` over one input, as one conv.

    Each kernel is zero-padded, centred, to the largest one and the candidates are stacked on the output
    channels; one BatchNorm covers them all (BatchNorm is per channel). Under TF-'same' padding this
    equals separate convolutions: a kernel `k` pads `(k_max - k) / 2` fewer rows before, which is exactly
    the centring offset. A fixed tap mask keeps the padding taps at zero (they get no gradient).
    `forward(x, scale)` scales candidate `i`'s channel `c` by `scale[i, c] >= 0` and returns the sum over
    candidates, `[B, out_channels, H, W]`.
    """

    def __init__(self, in_channels: int, out_channels: int, kernels: tuple[int, ...], stride):
        super().__init__()
        if any(k % 2 == 0 for k in kernels):
            raise ValueError(f"candidate kernels {kernels} must be odd")
        self.kernels, self.out_channels = tuple(kernels), out_channels
        widest = max(kernels)
        self.conv = SameConv2d(in_channels, len(kernels) * out_channels, (widest, 1), stride, bias=False)
        self.bn = ScalableBatchNorm2d(len(kernels) * out_channels, eps=BN_EPSILON)
        taps = torch.zeros_like(self.conv.weight)
        with torch.no_grad():
            for i, k in enumerate(kernels):
                rows, offset = self.candidate_channels(i), (widest - k) // 2
                taps[rows, :, offset : offset + k] = 1.0
                bound = 1 / math.sqrt(in_channels * k)  # nn.Conv2d's default init for a (k, 1) kernel
                self.conv.weight[rows] = torch.empty_like(self.conv.weight[rows]).uniform_(-bound, bound)
            self.conv.weight.mul_(taps)
        self.register_buffer("taps", taps, persistent=False)

    def candidate_channels(self, index: int) -> slice:
        return slice(index * self.out_channels, (index + 1) * self.out_channels)

    def candidate_weight(self, index: int) -> torch.Tensor:
        """The `(k, 1)` kernel of candidate `index`, without its zero padding."""
        widest, k = max(self.kernels), self.kernels[index]
        offset = (widest - k) // 2
        return self.conv.weight[self.candidate_channels(index), :, offset : offset + k]

    def forward(self, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        z = self.bn(self.conv(x, self.conv.weight * self.taps), scale.reshape(-1))
        return F.relu(z, inplace=True).unflatten(1, (len(self.kernels), self.out_channels)).sum(1)


def _check_widths(widths: tuple[int, ...]) -> None:
    if any(w != (i + 1) * widths[0] for i, w in enumerate(widths)):
        raise ValueError(f"widths {widths} must be g, 2g, ..., m*g")
