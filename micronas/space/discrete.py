"""`DiscreteNet`: the plain PyTorch network of one `Architecture` (docs/method.md §9.1).

Input `[B, 1, T, S]`, output class logits `[B, num_classes]`. Every conv is conv -> BN -> ReLU with
TF-'same' padding; branch outputs are summed in the order of the branch kernels and the residual is
added last, exactly as the exporter emits them (`micronas.space.cells.cell_steps`); channel dropout
follows every cell; the head is a 1x1 conv with bias and no activation, then the spatial mean. Skipped
cells are `nn.Identity` (so cell indices match the space) and a dead bottleneck (no branch on) is not
built.
"""

import torch
from torch import nn

from micronas.space.architecture import Architecture, SFCell, TRCell
from micronas.space.cells import INPUT, CellStep
from micronas.space.layers import ConvBNReLU, SameConv2d
from micronas.space.searchspace import DROPOUT
from micronas.space.supernet import SuperNet


class CellNet(nn.Module):
    """One used cell: its convs (`convs()` of the subclass, by site name) run and summed as its `cell_steps`
    say (`micronas.space.cells`)."""

    def __init__(self, cell, steps: list[CellStep]):
        super().__init__()
        self.choice, self.steps = cell, steps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        convs, tensors = self.convs(), {INPUT: x}
        for step in self.steps:
            inputs = [tensors[name] for name in step.inputs]
            tensors[step.output] = inputs[0] + inputs[1] if step.is_add else convs[step.site.name](inputs[0])
        return tensors[self.steps[-1].output]


def _conv(step: CellStep) -> ConvBNReLU:
    return ConvBNReLU(step.op.input_shape[-1], step.op.output_shape[-1], step.site.kernel, step.site.stride)


class TRNet(CellNet):
    """One Time-Reduce conv."""

    def __init__(self, cell: TRCell, steps: list[CellStep]):
        super().__init__(cell, steps)
        (step,) = steps
        self.conv = _conv(step)

    def convs(self) -> dict[str, ConvBNReLU]:
        return {self.steps[0].site.name: self.conv}


class SFNet(CellNet):
    """One used Sensor-Fusion cell: optional bottleneck + branches (by kernel), optional residual."""

    def __init__(self, cell: SFCell, steps: list[CellStep]):
        super().__init__(cell, steps)
        convs = {step.site: _conv(step) for step in steps if not step.is_add}
        by_name = {site.name: conv for site, conv in convs.items()}
        self.bottleneck = by_name.get("bottleneck")
        self.branches = nn.ModuleDict(
            {str(site.kernel[0]): conv for site, conv in convs.items() if site.source != INPUT}
        )
        self.residual = by_name.get("residual")

    def convs(self) -> dict[str, ConvBNReLU]:
        named = {"bottleneck": self.bottleneck, "residual": self.residual}
        named |= {f"branch{k}": branch for k, branch in self.branches.items()}
        return {name: conv for name, conv in named.items() if conv is not None}


class DiscreteNet(nn.Module):
    """The trainable float network of `arch`."""

    def __init__(self, arch: Architecture, dropout: float = DROPOUT):
        super().__init__()
        self.arch = arch
        cells, channels = [], 1
        for cell, steps in zip(arch.cells, arch.cell_steps()):
            if not steps:
                cells.append(nn.Identity())
                continue
            cells.append(TRNet(cell, steps) if isinstance(cell, TRCell) else SFNet(cell, steps))
            channels = steps[-1].op.output_shape[-1]
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
                index = super_cell.sites.index(net.steps[0].site)
                net.conv.load_slice(candidates.candidate_weight(index), candidates.bn,
                                    candidates.candidate_channels(index).start)
            elif isinstance(net, SFNet):
                shared = super_cell.convs()
                for name, conv in net.convs().items():
                    conv.copy_slice_from(shared[name])
        self.head.weight.copy_(supernet.head.weight[:, : self.head.in_channels])
        self.head.bias.copy_(supernet.head.bias)
        return self
