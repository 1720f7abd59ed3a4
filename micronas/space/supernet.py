"""`SuperNet`: every architecture of a `SearchSpace` in one module, driven by relaxed choices.

`SuperNet(space)(x, choices)` takes `x` as `[B, 1, T, S]` and `choices` as a dict from every
`Decision.key` of the space to a probability vector of length `Decision.ways` (see
`micronas.space.searchspace`). Gumbel-softmax samples, plain softmax (DARTS) and one-hot vectors
(`Architecture.one_hot()`) all fit; with one-hot choices the output equals the `DiscreteNet` of
that architecture when it shares the weights (`DiscreteNet.load_from_supernet`). It returns class
logits `[B, num_classes]` (pooled, before softmax).

Cells (docs/method.md §3.2-3.4):

* TR: `mask(width) * sum_k p_k * ReLU(BN_k(conv_k(x)))`, k in 3, 5, 7; the three candidates run as one
  convolution (`CandidateConvs`).
* SF: `b = bottleneck(x)`; `y = sum_k P(on_k) * branch_k(b) + P(res runs) * residual(x)`, branches and
  residual masked by the block width, where the residual runs when chosen or when no branch is on (a
  cell with neither deploys as its residual, `micronas.space.architecture.residual_runs`);
  non-reducing: `P(skip) * x + P(use) * dropout(y)`.
* Channel dropout after every used cell (training only), so a skipped cell passes `x` unchanged as in
  the `DiscreteNet`; head: 1x1 conv (no activation), spatial mean.

Every probability multiplies a per-channel vector (`p * mask`) that is folded into the candidate's
BatchNorm affine parameters (`ScalableBatchNorm2d`), so no pass over the activations scales them.
"""

import torch
from torch import nn

from micronas.space.architecture import residual_runs
from micronas.space.layers import CandidateConvs, DynamicConv, SameConv2d, width_mask
from micronas.space.searchspace import (
    BRANCH_KERNELS,
    DROPOUT,
    SF_WIDTHS,
    TIME_KERNELS,
    TR_WIDTHS,
    CellPlan,
    SearchSpace,
)


class TRSuperCell(nn.Module):
    """Time-Reduce cell: three kernel candidates sharing one width mask."""

    def __init__(self, plan: CellPlan, in_channels: int):
        super().__init__()
        self.plan = plan
        self.candidates = CandidateConvs(in_channels, TR_WIDTHS[-1], TIME_KERNELS, (2, 1))

    @property
    def out_channels(self) -> int:
        return TR_WIDTHS[-1]

    def forward(self, x: torch.Tensor, choices: dict) -> torch.Tensor:
        return self.candidates(x, choices["kernel"][:, None] * width_mask(choices["width"], TR_WIDTHS)[None, :])


class SFSuperCell(nn.Module):
    """Sensor-Fusion block: bottleneck, three on/off temporal branches and the residual.

    The skip of a non-reducing cell is mixed in by the `SuperNet`, around the block and its dropout.
    """

    def __init__(self, plan: CellPlan, in_channels: int):
        super().__init__()
        self.plan = plan
        w_in = plan.input_hw[1]
        stride = (1, 2) if plan.reducing else (1, 1)
        widest = SF_WIDTHS[-1]
        if not plan.reducing and in_channels != widest:
            raise ValueError(
                f"a non-reducing SF cell needs {widest} input channels for its skip, got {in_channels}"
            )
        self.bottleneck = DynamicConv(in_channels, SF_WIDTHS, (1, w_in), stride)
        self.branches = nn.ModuleList(DynamicConv(widest, SF_WIDTHS, (k, 1), (1, 1)) for k in BRANCH_KERNELS)
        self.residual = DynamicConv(in_channels, SF_WIDTHS, (1, 2) if plan.reducing else (1, 1), stride)

    @property
    def out_channels(self) -> int:
        return SF_WIDTHS[-1]

    def forward(self, x: torch.Tensor, choices: dict) -> torch.Tensor:
        block_mask = width_mask(choices["block_width"], SF_WIDTHS)
        on = [choices[f"branch{k}"][1] for k in BRANCH_KERNELS]
        any_branch = 1 - (1 - on[0]) * (1 - on[1]) * (1 - on[2])
        b = self.bottleneck(x, width_mask(choices["bottleneck_width"], SF_WIDTHS))
        y = self.residual(x, residual_runs(choices["residual"][1], any_branch) * block_mask)
        for p_on, branch in zip(on, self.branches):
            y = y + branch(b, p_on * block_mask)
        return y


class SuperNet(nn.Module):
    """All architectures of `space`; `forward(x, choices)` mixes them by the relaxed choices
    (probability vectors; "weights" are always the network's parameters)."""

    def __init__(self, space: SearchSpace, dropout: float = DROPOUT):
        super().__init__()
        self.space = space
        cells, channels = [], 1
        for plan in space.cells:
            cell = TRSuperCell(plan, channels) if plan.type == "tr" else SFSuperCell(plan, channels)
            cells.append(cell)
            channels = cell.out_channels
        self.cells = nn.ModuleList(cells)
        self.dropout = nn.Dropout2d(dropout)
        self.head = SameConv2d(channels, space.num_classes, (1, 1), (1, 1), bias=True)
        self._decisions_by_cell = [
            [d for d in space.decisions if d.cell == plan.index] for plan in space.cells
        ]

    def check_choices(self, choices: dict) -> None:
        """Refuse choices that miss a decision, add an unknown one, or have the wrong length."""
        expected = self.space.logit_shapes()
        if set(choices) != set(expected):
            missing, unknown = sorted(set(expected) - set(choices)), sorted(set(choices) - set(expected))
            raise ValueError(f"relaxed choices lack {missing} and have unknown keys {unknown}")
        for key, shape in expected.items():
            if tuple(choices[key].shape) != shape:
                raise ValueError(
                    f"relaxed choices {key} have shape {tuple(choices[key].shape)}, expected {shape}"
                )

    def forward(self, x: torch.Tensor, choices: dict) -> torch.Tensor:
        self.check_choices(choices)
        for cell, decisions in zip(self.cells, self._decisions_by_cell):
            cell_choices = {d.name: choices[d.key] for d in decisions}
            y = self.dropout(cell(x, cell_choices))
            if cell.plan.type == "sf":
                skip = cell_choices["skip"]
                y = skip[1] * x + skip[0] * y
            x = y
        return self.head(x).mean(dim=(2, 3))
