"""Every operator the supernet of a search space can produce: the LUT's to-do list (docs/method.md §7.1).

For each cell, every conv site (`micronas.space.cells`) at every (input width, output width) its
decisions allow, with the input widths the preceding cells can produce; `ADD` at each output width of a
cell that sums several sites; then the head for each width entering it. Duplicates (the same shapes in
several cells) count once.
"""

from itertools import product

from micronas.space.cells import ConvSite, conv_sites, has_adds, head_ops, output_widths, site_op, site_widths
from micronas.space.opspec import OpSpec
from micronas.space.searchspace import CellPlan, SearchSpace


def enumerate_ops(space: SearchSpace) -> list[OpSpec]:
    """Unique OpSpecs of `space` in a stable order (510 for UCI-HAR 128x9, 918 for SkodaR 64x30)."""
    ops: dict[str, OpSpec] = {}

    def add(op: OpSpec) -> None:
        ops.setdefault(op.key(), op)

    in_widths: tuple[int, ...] = (1,)
    for plan in space.cells:
        for (_, reads, writes), sites in _by_source_and_channels(plan, in_widths).items():
            for c_in, c_out, site in product(reads, writes, sites):
                add(site_op(plan, site, c_in, c_out))
        if has_adds(plan):
            for c in output_widths(plan):
                add(OpSpec("add", (*plan.output_hw, c), (*plan.output_hw, c)))
        # A skipped non-reducing cell passes its input on, which is also one of its output widths.
        in_widths = output_widths(plan)
    for channels in in_widths:
        add(head_ops(space, channels)[0])  # the head conv
    for op in head_ops(space, in_widths[0])[1:]:  # MEAN, SOFTMAX
        add(op)
    return list(ops.values())


def _by_source_and_channels(plan: CellPlan, in_widths: tuple[int, ...]) -> dict[tuple, list[ConvSite]]:
    """A cell's sites grouped by what they read and their (input, output) channel options, in order of each
    group's first site: ops interleave within a group, the order the latency tables were profiled in."""
    groups: dict[tuple, list[ConvSite]] = {}
    for site in conv_sites(plan):
        groups.setdefault((site.source, *site_widths(plan, site, in_widths)), []).append(site)
    return groups
