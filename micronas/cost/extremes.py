"""The cheapest and the most expensive architecture of a space for a cost model, so that an impossible
budget can be refused before a search starts.

Latency and flash are sums over cells whose terms depend only on the cell's choices and its input width,
and the live-set peak (docs/method.md §6.2) is a maximum of per-step terms of the same kind. Each is therefore
optimised exactly by dynamic programming over the cells with the channel width as the state (a min-sum
or max-sum for latency and flash, a min-max or max-max for the peak). The arena is reported for the
peak-optimal architectures; no arena can be below the smallest peak, since the planned head holds every
step's live tensors.
"""

from dataclasses import dataclass
from itertools import product

from micronas.cost.graph import cell_graph
from micronas.cost.memory import step_bytes
from micronas.cost.model import CostModel
from micronas.space.architecture import Architecture, SFCell, TRCell, cell_ops
from micronas.space.cells import head_ops
from micronas.space.opspec import OpSpec
from micronas.space.searchspace import DECISIONS, CellPlan, SearchSpace

METRICS = ("latency", "flash", "peak")


@dataclass(frozen=True)
class Extreme:
    """An architecture at one end of a metric, with its value (ms for latency, bytes otherwise)."""

    arch: Architecture
    value: float


def cell_choices(plan: CellPlan) -> list:
    """Every non-degenerate cell of `plan`'s type (a skipped cell once)."""
    names = [name for name, _ in DECISIONS[plan.type]]
    cells = []
    for values in product(*(options for _, options in DECISIONS[plan.type])):
        choices = dict(zip(names, values))
        if plan.type == "tr":
            cells.append(TRCell(**choices))
            continue
        cell = SFCell(reducing=plan.type == "sf_reduce", **choices)
        if cell.skip:
            if not any(c.skip for c in cells):
                cells.append(cell)
        elif not cell.degenerate:
            cells.append(cell)
    return cells


def out_channels(cell, in_channels: int) -> int:
    """The channels a cell of this type passes on, given its input's."""
    if isinstance(cell, TRCell):
        return cell.width
    return in_channels if cell.skip else cell.block_width


class CellScorer:
    """Cell and head terms of one metric (latency ms, flash or peak bytes), given a cell's input width."""

    def __init__(self, space: SearchSpace, cost_model: CostModel, metric: str):
        self.space, self.cost_model, self.metric = space, cost_model, metric

    def ops_cost(self, ops: list[OpSpec]) -> float:
        if self.metric == "latency":
            return sum(self.cost_model.latency_ms(op) for op in ops)
        return self.cost_model.flash.flash_bytes(ops) - self.cost_model.flash.fixed_bytes

    def cell(self, plan: CellPlan, cell, in_channels: int) -> float:
        if self.metric == "peak":
            if getattr(cell, "skip", False):
                return 0
            return max(step_bytes(cell_graph(plan, cell, in_channels), self.cost_model.build))
        return self.ops_cost(cell_ops(plan, cell, in_channels))

    def head_cost(self, in_channels: int) -> float:
        ops = head_ops(self.space, in_channels)
        if self.metric == "peak":
            h, w = self.space.head_hw
            n, build = self.space.num_classes, self.cost_model.build
            return max(
                h * w * in_channels + h * w * n + sum(build.scratch_buffers(ops[0])),
                h * w * n + n + sum(build.scratch_buffers(ops[1])),
                2 * n,
            )
        fixed = (
            self.cost_model.invoke_overhead_ms
            if self.metric == "latency"
            else self.cost_model.flash.fixed_bytes
        )
        return self.ops_cost(ops) + fixed


def extreme(space: SearchSpace, cost_model: CostModel, metric: str, cheapest: bool = True) -> Extreme:
    """The architecture of `space` with the smallest (or largest) `metric`: latency, flash or peak."""
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r} is not one of {', '.join(METRICS)}")
    scorer = CellScorer(space, cost_model, metric)
    better = (lambda a, b: a < b) if cheapest else (lambda a, b: a > b)
    combine = max if metric == "peak" else (lambda a, b: a + b)
    states = {1: (0.0, ())}  # channel width -> (value so far, cells so far)
    for plan in space.cells:
        choices = cell_choices(plan)
        following = {}
        for channels, (value, cells) in states.items():
            for cell in choices:
                total = combine(value, scorer.cell(plan, cell, channels))
                out = out_channels(cell, channels)
                if out not in following or better(total, following[out][0]):
                    following[out] = (total, cells + (cell,))
        states = following
    finals = [
        (combine(value, scorer.head_cost(channels)), cells) for channels, (value, cells) in states.items()
    ]
    value, cells = (min if cheapest else max)(finals, key=lambda pair: pair[0])
    return Extreme(Architecture(space.input_shape, space.num_classes, cells), value)


def cost_range(space: SearchSpace, cost_model: CostModel) -> dict[str, tuple[Extreme, Extreme]]:
    """`{metric: (cheapest, most expensive)}` for latency (ms), flash (bytes) and peak (bytes)."""
    return {
        metric: (extreme(space, cost_model, metric, True), extreme(space, cost_model, metric, False))
        for metric in METRICS
    }
