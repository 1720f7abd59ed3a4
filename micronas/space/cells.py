"""The operators of each cell type, described once (docs/method.md §3.2-3.4).

A cell type is a list of convolution sites (`conv_sites(plan)`), in the exporter's fixed order:

* TR: one `(k, 1)` conv, stride `(2, 1)`, per kernel candidate `k`; the `kernel` decision runs one.
* SF: the bottleneck `(1, W_in)` conv (stride `(1, 2)` when reducing, else 1), one `(k, 1)` branch per
  branch kernel `k` reading the bottleneck, each run by `branch{k}`, and the residual (`(1, 2)` stride
  `(1, 2)` when reducing, else 1x1), run by `residual`. The bottleneck runs when a branch runs.

A discrete cell runs the sites its choices switch on, in that order, and sums the outputs that no other
site reads in that order, with one ADD from the second on (`cell_steps`). The supernet, the
`DiscreteNet` (and through it the Keras export), `Architecture.ops()`, the expected costs, the LUT
enumeration and the constrained derivation all take a cell's geometry from here.
"""

from dataclasses import dataclass

from micronas.space.opspec import OpSpec
from micronas.space.searchspace import BRANCH_KERNELS, DECISIONS, TIME_KERNELS, CellPlan, SearchSpace

INPUT = "input"
"""The tensor name of a cell's input."""


@dataclass(frozen=True)
class ConvSite:
    """One convolution of a cell type: what it reads, the decision that sets its output channels, the
    decision value that runs it (None: it runs when a site reading it runs), kernel and stride."""

    name: str
    source: str  # INPUT or the name of the site it reads
    width: str
    switch: tuple[str, object] | None
    kernel: tuple[int, int]
    stride: tuple[int, int]


def tr_sites() -> tuple[ConvSite, ...]:
    """A Time-Reduce cell: one candidate conv per temporal kernel."""
    return tuple(ConvSite(f"k{k}", INPUT, "width", ("kernel", k), (k, 1), (2, 1)) for k in TIME_KERNELS)


def sf_sites(plan: CellPlan) -> tuple[ConvSite, ...]:
    """A Sensor-Fusion cell: bottleneck, the temporal branches, residual (its kernel is its stride)."""
    stride = (1, 2) if plan.reducing else (1, 1)
    branches = tuple(
        ConvSite(f"branch{k}", "bottleneck", "block_width", (f"branch{k}", True), (k, 1), (1, 1))
        for k in BRANCH_KERNELS
    )
    bottleneck = ConvSite("bottleneck", INPUT, "bottleneck_width", None, (1, plan.input_hw[1]), stride)
    residual = ConvSite("residual", INPUT, "block_width", ("residual", True), stride, stride)
    return (bottleneck, *branches, residual)


def conv_sites(plan: CellPlan) -> tuple[ConvSite, ...]:
    """Every convolution a cell of `plan` can run, in the exporter's fixed order."""
    return tr_sites() if plan.type == "tr" else sf_sites(plan)


def summed_sites(plan: CellPlan) -> tuple[ConvSite, ...]:
    """The sites whose outputs the cell sums into its output (those no other site reads)."""
    sites = conv_sites(plan)
    read = {site.source for site in sites}
    return tuple(site for site in sites if site.name not in read)


def has_adds(plan: CellPlan) -> bool:
    """Whether a cell of `plan` can run two summed sites at once, and so ADD (sites switched by one
    decision, like the TR kernel candidates, exclude each other)."""
    return len({site.switch[0] for site in summed_sites(plan)}) > 1


def options(plan: CellPlan, decision: str) -> tuple:
    """The option values of one decision of `plan`'s cell type."""
    return dict(DECISIONS[plan.type])[decision]


def output_widths(plan: CellPlan) -> tuple[int, ...]:
    """The channel counts a cell of `plan` can pass on (a skipped cell passes its input's, from the same
    set)."""
    return options(plan, summed_sites(plan)[0].width)


def site_widths(plan: CellPlan, site: ConvSite, in_widths: tuple[int, ...]) -> tuple[tuple, tuple]:
    """`(input channel options, output channel options)` of a site, given those of the cell's input."""
    sources = {s.name: s for s in conv_sites(plan)}
    reads = in_widths if site.source == INPUT else options(plan, sources[site.source].width)
    return reads, options(plan, site.width)


def site_op(plan: CellPlan, site: ConvSite, in_channels: int, out_channels: int) -> OpSpec:
    """The conv of a site at given channel counts; a site reading another one reads the cell's output size."""
    h, w = plan.input_hw if site.source == INPUT else plan.output_hw
    return OpSpec.conv((h, w, in_channels), (*plan.output_hw, out_channels), site.kernel, site.stride)


def switch_probability(plan: CellPlan, site: ConvSite, choices: dict):
    """P(the site's switch is set) under a cell's relaxed choices (`{decision name: probabilities}`)."""
    decision, value = site.switch
    return choices[decision][options(plan, decision).index(value)]


def running_sites(plan: CellPlan, cell) -> tuple[ConvSite, ...]:
    """The sites a discrete cell runs, in order: none for a skipped cell."""
    if getattr(cell, "skip", False):
        return ()
    sites = conv_sites(plan)
    switched = {site for site in sites if site.switch and getattr(cell, site.switch[0]) == site.switch[1]}
    read = {site.source for site in switched}
    return tuple(site for site in sites if site in switched or site.name in read)


@dataclass(frozen=True)
class CellStep:
    """One operator of a discrete cell, the tensors it reads and the one it writes (named by site); for an
    ADD, `site` is the site whose output it adds."""

    op: OpSpec
    inputs: tuple[str, ...]
    output: str
    site: ConvSite

    @property
    def is_add(self) -> bool:
        return self.op.kind == "add"


def cell_steps(plan: CellPlan, cell, in_channels: int) -> list[CellStep]:
    """The operators a discrete cell runs on `in_channels` input channels, in the exporter's fixed order;
    the last one writes the cell's output (none: a skipped cell passes its input on)."""
    sites = running_sites(plan, cell)
    sources = {site.name: site for site in sites}
    read = {site.source for site in sites}
    steps, total = [], None
    for site in sites:
        reads = in_channels if site.source == INPUT else getattr(cell, sources[site.source].width)
        op = site_op(plan, site, reads, getattr(cell, site.width))
        steps.append(CellStep(op, (site.source,), site.name, site))
        if site.name in read:
            continue
        if total is not None:
            add = OpSpec("add", op.output_shape, op.output_shape)
            steps.append(CellStep(add, (total, site.name), f"add_{site.name}", site))
        total = steps[-1].output
    return steps


def head_ops(space: SearchSpace, channels: int) -> list[OpSpec]:
    """The head on `channels` input channels: 1x1 conv to the classes (no activation), MEAN, SOFTMAX."""
    (h, w), n = space.head_hw, space.num_classes
    return [
        OpSpec.conv((h, w, channels), (h, w, n), (1, 1), (1, 1), activation="none"),
        OpSpec("mean", (h, w, n), (n,)),
        OpSpec("softmax", (n,), (n,)),
    ]
