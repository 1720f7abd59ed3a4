"""Every operator the supernet of a search space can produce: the LUT's to-do list (docs/method.md §7.1).

For each cell, every (input width, output width, kernel) combination its decisions allow, with the
input widths the preceding cells can produce; then `ADD` at each block width, the head conv for each
width entering it, `MEAN` and `SOFTMAX`. Duplicates (the same shapes in several cells) count once.
"""

from itertools import product

from micronas.space.opspec import OpSpec
from micronas.space.searchspace import BRANCH_KERNELS, SF_WIDTHS, TIME_KERNELS, TR_WIDTHS, SearchSpace


def enumerate_ops(space: SearchSpace) -> list[OpSpec]:
    """Unique OpSpecs of `space` in a stable order (510 for UCI-HAR 128x9, 918 for SkodaR 64x30)."""
    ops: dict[str, OpSpec] = {}

    def add(op: OpSpec) -> None:
        ops.setdefault(op.key(), op)

    in_widths: tuple[int, ...] = (1,)
    for plan in space.cells:
        (h_in, w_in), (h_out, w_out) = plan.input_hw, plan.output_hw
        if plan.type == "tr":
            for c_in, c_out, k in product(in_widths, TR_WIDTHS, TIME_KERNELS):
                add(OpSpec.conv((h_in, w_in, c_in), (h_out, w_out, c_out), (k, 1), (2, 1)))
            in_widths = TR_WIDTHS
            continue
        stride = (1, 2) if plan.reducing else (1, 1)
        residual_kernel = (1, 2) if plan.reducing else (1, 1)
        for c_in, c_out in product(in_widths, SF_WIDTHS):
            add(OpSpec.conv((h_in, w_in, c_in), (h_out, w_out, c_out), (1, w_in), stride))
            add(OpSpec.conv((h_in, w_in, c_in), (h_out, w_out, c_out), residual_kernel, stride))
        for c_b, c_y, k in product(SF_WIDTHS, SF_WIDTHS, BRANCH_KERNELS):
            add(OpSpec.conv((h_out, w_out, c_b), (h_out, w_out, c_y), (k, 1), (1, 1)))
        for c_y in SF_WIDTHS:
            add(OpSpec("add", (h_out, w_out, c_y), (h_out, w_out, c_y)))
        # A skipped non-reducing cell passes its input on, which is also an SF width.
        in_widths = SF_WIDTHS
    (h, w), n = space.head_hw, space.num_classes
    for c in in_widths:
        add(OpSpec.conv((h, w, c), (h, w, n), (1, 1), (1, 1), activation="none"))
    add(OpSpec("mean", (h, w, n), (n,)))
    add(OpSpec("softmax", (n,), (n,)))
    return list(ops.values())
