"""The dataflow of a discrete architecture: its operators in execution order with the tensors they use.

`Architecture.ops()` lists what runs; the memory model also needs which tensor each op reads and how
long each tensor lives. `op_graph(arch)` walks the cells in the exporter's fixed order
(docs/method.md §6.2) and numbers the activation tensors as the int8 flatbuffer does: the graph input
first, then one output per operator in execution order.
"""

from dataclasses import dataclass
from math import prod

from micronas.space.architecture import Architecture
from micronas.space.cells import INPUT, CellStep, cell_steps, head_ops
from micronas.space.opspec import OpSpec
from micronas.space.searchspace import CellPlan


@dataclass(frozen=True)
class Step:
    """One operator and the activation tensors (ids into `OpGraph.tensor_shapes`) it reads and writes."""

    op: OpSpec
    inputs: tuple[int, ...]
    output: int


@dataclass(frozen=True)
class OpGraph:
    """Activation tensors (shapes without batch), the steps, and which tensors are graph inputs."""

    tensor_shapes: tuple[tuple[int, ...], ...]
    steps: tuple[Step, ...]
    inputs: tuple[int, ...] = (0,)

    @property
    def output(self) -> int:
        return self.steps[-1].output

    def tensor_bytes(self, tensor: int) -> int:
        """Bytes of an int8 activation tensor."""
        return prod(self.tensor_shapes[tensor])


class _Builder:
    def __init__(self, input_shape):
        self.shapes = [tuple(input_shape)]
        self.steps = []

    def emit(self, op: OpSpec, *inputs: int) -> int:
        self.shapes.append(op.output_shape)
        self.steps.append(Step(op, tuple(inputs), len(self.shapes) - 1))
        return len(self.shapes) - 1


def _emit_cell(builder: _Builder, steps: list[CellStep], x: int) -> int:
    """Emit one cell's steps (`micronas.space.cells.cell_steps`) on the tensor `x`; returns its output."""
    tensors = {INPUT: x}
    for step in steps:
        tensors[step.output] = builder.emit(step.op, *(tensors[name] for name in step.inputs))
    return tensors[steps[-1].output] if steps else x


def op_graph(arch: Architecture) -> OpGraph:
    """The steps of `arch` with their tensors; `[s.op for s in steps] == arch.ops()`."""
    builder = _Builder((*arch.input_shape, 1))
    x = 0
    for steps in arch.cell_steps():
        x = _emit_cell(builder, steps, x)
    for op in head_ops(arch.space, builder.shapes[x][-1]):
        x = builder.emit(op, x)
    return OpGraph(tuple(builder.shapes), tuple(builder.steps))


def cell_graph(plan: CellPlan, cell, in_channels: int) -> OpGraph:
    """One cell alone, its input as the graph input: the same per-step live sets as inside a network."""
    builder = _Builder((*plan.input_hw, in_channels))
    _emit_cell(builder, cell_steps(plan, cell, in_channels), 0)
    return OpGraph(tuple(builder.shapes), tuple(builder.steps))


def single_op_graph(op: OpSpec, add_inputs: int = 1) -> OpGraph:
    """The graph of a one-operator model. This project's profiler (`single_op_tflite`) builds an ADD that
    adds its one graph input to itself; the reference measurements' ADD models read two graph inputs
    (`add_inputs=2`)."""
    if op.kind != "add" or add_inputs == 1:
        reads = (0, 0) if op.kind == "add" else (0,)
        return OpGraph((op.input_shape, op.output_shape), (Step(op, reads, 1),), (0,))
    return OpGraph((op.input_shape, op.input_shape, op.output_shape), (Step(op, (0, 1), 2),), (0, 1))
