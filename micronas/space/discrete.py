"""`DiscreteNet`: the plain PyTorch network of one `Architecture` (docs/method.md §9.1).

Input `[B, 1, T, S]`, output class logits `[B, num_classes]`. Every conv is conv -> BN -> ReLU with
TF-'same' padding; branch outputs are summed in the order 3, 5, 7 and the residual is added last,
exactly as the exporter emits them; channel dropout follows every cell; the head is a 1x1 conv with
bias and no activation, then the spatial mean. Skipped cells are `nn.Identity` (so cell indices
match the space) and a dead bottleneck (no branch on) is not built.
"""

import torch
from torch import nn

from micronas.space.architecture import Architecture, SFCell, TRCell
from micronas.space.layers import ConvBNReLU, SameConv2d
from micronas.space.searchspace import BRANCH_KERNELS, DROPOUT, TIME_KERNELS, CellPlan
from micronas.space.supernet import SuperNet


class TRNet(nn.Module):
    """One Time-Reduce conv."""

    def __init__(self, cell: TRCell, in_channels: int):
        super().__init__()
        self.choice = cell
        self.conv = ConvBNReLU(in_channels, cell.width, (cell.kernel, 1), (2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class SFNet(nn.Module):
    """One used Sensor-Fusion cell: optional bottleneck + branches, optional residual."""

    def __init__(self, cell: SFCell, plan: CellPlan, in_channels: int):
        super().__init__()
        self.choice = cell
        stride = (1, 2) if cell.reducing else (1, 1)
        on = cell.branches_on
        width = cell.block_width
        self.bottleneck = (
            ConvBNReLU(in_channels, cell.bottleneck_width, (1, plan.input_hw[1]), stride) if on else None
        )
        self.branches = nn.ModuleDict(
            {str(k): ConvBNReLU(cell.bottleneck_width, width, (k, 1), (1, 1)) for k in on}
        )
        self.residual = (
            ConvBNReLU(in_channels, width, (1, 2) if cell.reducing else (1, 1), stride)
            if cell.residual
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = None
        if self.bottleneck is not None:
            b = self.bottleneck(x)
            for branch in self.branches.values():
                y = branch(b) if y is None else y + branch(b)
        if self.residual is not None:
            r = self.residual(x)
            y = r if y is None else y + r
        return y


class DiscreteNet(nn.Module):
    """The trainable float network of `arch`."""

    def __init__(self, arch: Architecture, dropout: float = DROPOUT):
        super().__init__()
        self.arch = arch
        cells, channels = [], 1
        for plan, cell in zip(arch.space.cells, arch.cells):
            if isinstance(cell, TRCell):
                cells.append(TRNet(cell, channels))
                channels = cell.width
            elif cell.skip:
                cells.append(nn.Identity())
            else:
                cells.append(SFNet(cell, plan, channels))
                channels = cell.block_width
        self.cells = nn.ModuleList(cells)
        self.dropout = nn.Dropout2d(dropout)
        self.head = SameConv2d(channels, arch.num_classes, (1, 1), (1, 1), bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for cell in self.cells:
            if not isinstance(cell, nn.Identity):
                x = self.dropout(cell(x))
        return self.head(x).mean(dim=(2, 3))

    @torch.no_grad()
    def load_from_supernet(self, supernet: SuperNet) -> "DiscreteNet":
        """Copy the matching slices of a supernet's weights (weight sharing / warm start)."""
        if supernet.space != self.arch.space:
            raise ValueError(f"{supernet.space} is not the space of this architecture ({self.arch.space})")
        for net, super_cell in zip(self.cells, supernet.cells):
            if isinstance(net, TRNet):
                candidates = super_cell.candidates
                index = TIME_KERNELS.index(net.choice.kernel)
                net.conv.load_slice(candidates.candidate_weight(index), candidates.bn,
                                    candidates.candidate_channels(index).start)
            elif isinstance(net, SFNet):
                if net.bottleneck is not None:
                    net.bottleneck.copy_slice_from(super_cell.bottleneck)
                for k, branch in net.branches.items():
                    branch.copy_slice_from(super_cell.branches[BRANCH_KERNELS.index(int(k))])
                if net.residual is not None:
                    net.residual.copy_slice_from(super_cell.residual)
        self.head.weight.copy_(supernet.head.weight[:, : self.head.in_channels])
        self.head.bias.copy_(supernet.head.bias)
        return self
