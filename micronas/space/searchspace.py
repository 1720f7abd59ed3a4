"""The macro structure of the search space and its ordered list of decisions (docs/method.md §3).

Layout (docs/method.md §2): a window is a one-channel image, PyTorch `[B, 1, T, S]` (NCHW) and
TFLite `[1, T, S, 1]` (NHWC), height = time and width = sensors. The convolutions of each cell type
(kernels, strides, what reads what) are described once, in `micronas.space.cells`. The deployed graph
holds only CONV_2D, ADD, MEAN and SOFTMAX, with no RESHAPE, TRANSPOSE or PAD.

Decision layout (the contract with the cost model and the search module):

* `SearchSpace.decisions` is the ordered list of every decision: cells in network order, and within
  a cell the order of `DECISIONS[cell.type]`. Each `Decision` has the cell index, the cell type
  (`"tr"`, `"sf_reduce"`, `"sf"`), the decision name and its option values.
* Relaxed choices (what `SuperNet.forward(x, choices)` takes) and logits are dicts from
  `Decision.key` (`"cell{index}.{name}"`, e.g. `"cell3.block_width"`) to a 1-D tensor of length
  `Decision.ways`; entry `i` belongs to `Decision.options[i]`. `SearchSpace.logit_shapes()` gives
  the shapes. Binary decisions have options `(False, True)`, so index 1 is "on": `branch{k}` for
  each k of `BRANCH_KERNELS` (each temporal branch on), `residual` (residual conv on) and `skip` (the
  whole non-reducing cell replaced by the identity; `P(use) = weights[key][0]`).
* TR cell: `kernel` (3, 5, 7), `width` (4, 8, 12, 16): 7 logits.
  SF-reduce: `bottleneck_width`, `block_width` (8, 16, ..., 64), `branch3`, `branch5`, `branch7`,
  `residual`: 24 logits. SF non-reducing: the same plus `skip`: 26 logits.
* The fields of a cell in an architecture JSON are exactly these decision names (see
  `micronas.space.architecture`).
"""

from dataclasses import dataclass
from math import ceil, prod

TIME_KERNELS = (3, 5, 7)
TR_WIDTHS = (4, 8, 12, 16)
SF_WIDTHS = tuple(range(8, 65, 8))
BRANCH_KERNELS = (3, 5, 7)
TIME_LIMIT = 16
SENSOR_LIMIT = 5
NON_REDUCING_PER_STAGE = 2
DROPOUT = 0.3
OFF_ON = (False, True)

_SF_DECISIONS = (
    ("bottleneck_width", SF_WIDTHS),
    ("block_width", SF_WIDTHS),
    *((f"branch{k}", OFF_ON) for k in BRANCH_KERNELS),
    ("residual", OFF_ON),
)
DECISIONS = {
    "tr": (("kernel", TIME_KERNELS), ("width", TR_WIDTHS)),
    "sf_reduce": _SF_DECISIONS,
    "sf": _SF_DECISIONS + (("skip", OFF_ON),),
}
"""Decision names and option values of each cell type, in decision order."""


@dataclass(frozen=True)
class Decision:
    """One searchable choice: `ways` logits, entry `i` selects `options[i]`."""

    cell: int
    cell_type: str
    name: str
    options: tuple

    @property
    def key(self) -> str:
        return f"cell{self.cell}.{self.name}"

    @property
    def ways(self) -> int:
        return len(self.options)


@dataclass(frozen=True)
class CellPlan:
    """A cell's place in the macro structure: its type and the (H, W) of its input and output."""

    index: int
    type: str
    input_hw: tuple[int, int]
    output_hw: tuple[int, int]

    @property
    def reducing(self) -> bool:
        """Whether this cell halves its input: TR cells halve time, SF-reduce cells halve sensors."""
        return self.type in ("tr", "sf_reduce")


def halvings(size: int, limit: int) -> int:
    """`max(1, #{k >= 1 : ceil(size / 2^k) >= limit})`: how many cells halve an axis of `size`."""
    count = 0
    while ceil(size / 2 ** (count + 1)) >= limit:
        count += 1
    return max(1, count)


def macro_structure(time_steps: int, channels: int) -> tuple[CellPlan, ...]:
    """The cells for a `time_steps x channels` window: TR x N_T, then [SF-reduce, SF, SF] x N_S."""
    types = ["tr"] * halvings(time_steps, TIME_LIMIT)
    types += (["sf_reduce"] + ["sf"] * NON_REDUCING_PER_STAGE) * halvings(channels, SENSOR_LIMIT)
    cells, (h, w) = [], (time_steps, channels)
    for index, cell_type in enumerate(types):
        out = {"tr": (ceil(h / 2), w), "sf_reduce": (h, ceil(w / 2)), "sf": (h, w)}[cell_type]
        cells.append(CellPlan(index, cell_type, (h, w), out))
        h, w = out
    return tuple(cells)


class SearchSpace:
    """The space for one window shape and class count: cells, decisions, size."""

    def __init__(self, time_steps: int, channels: int, num_classes: int):
        for name, value in (("time_steps", time_steps), ("channels", channels), ("num_classes", num_classes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} is not valid: it must be a positive integer")
        if num_classes < 2:
            raise ValueError(f"num_classes={num_classes} is not valid: a classifier needs at least 2 classes")
        self.input_shape = (time_steps, channels)
        self.num_classes = num_classes
        self.cells = macro_structure(time_steps, channels)
        self.decisions = tuple(
            Decision(cell.index, cell.type, name, options)
            for cell in self.cells
            for name, options in DECISIONS[cell.type]
        )

    @classmethod
    def from_config(cls, cfg) -> "SearchSpace":
        """The space of a composed config's dataset (`time_steps`, `channels`, `num_classes`); a dataset
        config that leaves them null (`dataset=npz`) has its data read for them, as a search does."""
        from micronas.errors import ConfigError

        dataset = cfg.dataset
        values = {key: dataset.get(key) for key in ("time_steps", "channels", "num_classes")}
        if any(value is None for value in values.values()):
            from micronas.data import make_datamodule

            data = make_datamodule(cfg)
            shape = dict(zip(("time_steps", "channels"), data.input_shape))
            values = shape | {"num_classes": data.num_classes}
        try:
            return cls(values["time_steps"], values["channels"], values["num_classes"])
        except ValueError as error:
            raise ConfigError(f"dataset={dataset.name}: {error}.") from None

    def __repr__(self) -> str:
        t, s = self.input_shape
        return f"SearchSpace({t}x{s}, {self.num_classes} classes, {len(self.cells)} cells)"

    def __eq__(self, other) -> bool:
        return isinstance(other, SearchSpace) and (self.input_shape, self.num_classes) == (
            other.input_shape,
            other.num_classes,
        )

    def __hash__(self) -> int:
        return hash((self.input_shape, self.num_classes))

    @property
    def logit_count(self) -> int:
        """Number of architecture logits (97 for UCI-HAR 128x9)."""
        return sum(d.ways for d in self.decisions)

    def logit_shapes(self) -> dict[str, tuple[int]]:
        """`{decision key: (ways,)}` in decision order: the shapes of logits and relaxed choices."""
        return {d.key: (d.ways,) for d in self.decisions}

    def cell_outcomes(self, cell: CellPlan) -> int:
        """Distinct parameterised outcomes of a cell: 12 (TR), 1024 (SF-reduce), 1025 (SF: + skip)."""
        inner = prod(len(options) for name, options in DECISIONS[cell.type] if name != "skip")
        return inner + (1 if cell.type == "sf" else 0)

    @property
    def size(self) -> int:
        """Number of discrete architectures, counted as docs/method.md §3.1 does (exact integer)."""
        return prod(self.cell_outcomes(cell) for cell in self.cells)

    @property
    def head_hw(self) -> tuple[int, int]:
        """(H, W) of the map entering the head."""
        return self.cells[-1].output_hw
