"""`SuperNet`: every architecture of a `SearchSpace` in one module, driven by relaxed choices.

`SuperNet(space)(x, choices)` takes `x` as `[B, 1, T, S]` and `choices` as a dict from every
`Decision.key` of the space to a probability vector of length `Decision.ways` (see
`micronas.space.searchspace`). Gumbel-softmax samples, plain softmax (DARTS) and one-hot vectors
(`Architecture.one_hot()`) all fit; with one-hot choices the output equals the `DiscreteNet` of
that architecture when it shares the weights (`DiscreteNet.load_from_supernet`). It returns class
logits `[B, num_classes]` (pooled, before softmax).

Cells (docs/method.md §3.2-3.4; kernels, strides and widths from `micronas.space.cells`):

* TR: `mask(width) * sum_k p_k * ReLU(BN_k(conv_k(x)))` over the kernel candidates, run as one
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

from math import prod

import torch
from torch import nn

from micronas.space.architecture import residual_runs
from micronas.space.layers import CandidateConvs, DynamicConv, SameConv2d, width_mask
from micronas.space.cells import ConvSite, options, output_widths, sf_sites, switch_probability, tr_sites
from micronas.space.searchspace import DROPOUT, CellPlan, SearchSpace


class TRSuperCell(nn.Module):
    """Time-Reduce cell: its kernel candidates (in the order of the `kernel` options) as one convolution,
    sharing one width mask."""

    def __init__(self, plan: CellPlan, in_channels: int):
        super().__init__()
        self.plan, self.sites = plan, tr_sites()
        self.widths = options(plan, "width")
        kernels = tuple(site.kernel[0] for site in self.sites)
        self.candidates = CandidateConvs(in_channels, self.widths[-1], kernels, self.sites[0].stride)

    @property
    def out_channels(self) -> int:
        return self.widths[-1]

    def forward(self, x: torch.Tensor, choices: dict) -> torch.Tensor:
        mask = width_mask(choices["width"], self.widths)
        return self.candidates(x, choices["kernel"][:, None] * mask[None, :])


class SFSuperCell(nn.Module):
    """Sensor-Fusion block: bottleneck, the on/off temporal branches and the residual.

    The skip of a non-reducing cell is mixed in by the `SuperNet`, around the block and its dropout.
    """

    def __init__(self, plan: CellPlan, in_channels: int):
        super().__init__()
        self.plan = plan
        bottleneck, *branches, residual = sf_sites(plan)
        self.branch_sites = tuple(branches)
        widest = options(plan, "bottleneck_width")[-1]
        if not plan.reducing and in_channels != self.out_channels:
            raise ValueError(
                f"a non-reducing SF cell needs {self.out_channels} input channels for its skip, "
                f"got {in_channels}"
            )

        def conv(site: ConvSite, reads: int) -> DynamicConv:
            return DynamicConv(reads, options(plan, site.width), site.kernel, site.stride)

        self.bottleneck = conv(bottleneck, in_channels)
        self.branches = nn.ModuleList(conv(site, widest) for site in branches)
        self.residual = conv(residual, in_channels)

    @property
    def out_channels(self) -> int:
        return output_widths(self.plan)[-1]

    def convs(self) -> dict[str, DynamicConv]:
        """`{site name: conv}`."""
        names = ("bottleneck", *(site.name for site in self.branch_sites), "residual")
        return dict(zip(names, (self.bottleneck, *self.branches, self.residual)))

    def forward(self, x: torch.Tensor, choices: dict) -> torch.Tensor:
        block_mask = width_mask(choices["block_width"], self.residual.widths)
        on = [switch_probability(self.plan, site, choices) for site in self.branch_sites]
        any_branch = 1 - prod(1 - p_on for p_on in on)
        b = self.bottleneck(x, width_mask(choices["bottleneck_width"], self.bottleneck.widths))
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
