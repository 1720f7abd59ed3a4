"""The TFLM tensor arena of a discrete architecture, by emulating how TFLM plans the int8 graph.

The arena has two parts (tflite-micro's `MicroAllocator`):

- the non-persistent **head**: activation tensors and kernel scratch buffers, each padded to 16 bytes,
  placed by TFLM's `GreedyMemoryPlanner` from their lifetimes. Lifetimes follow TFLM's allocation
  scopes: the graph input (and output) is created at scope 0, operator `i` runs in scope `i + 1`, its
  output is created there and every input's last use moves there; the graph output lives to the end.
  The planner takes buffers largest first (a stable sort, so ties keep tensor order) and puts each at
  the lowest offset where it overlaps no placed buffer that is live at the same time (equal sizes in
  reverse order of addition).
- the **persistent tail**: allocator objects, one `TfLiteEvalTensor` per tensor (constants included),
  one node per operator, each operator's builtin parameters and kernel data, per-channel requantisation
  arrays of convolutions, scratch-buffer handles and the interpreter's input/output tensors, allocated
  downwards from the arena end, each at its alignment, in TFLM's order.

`TflmBuild` holds the sizes. The 64-bit host build is the installed tflite-micro's, measured with its
recording allocator and checked to the byte on whole networks (tests/cost, bench/cost.py). The 32-bit
CMSIS-NN build takes the struct sizes of the pinned TFLM compiled for Cortex-M, and is checked against
what the firmware reports in QEMU (`arena_used_bytes()` of a plain MicroInterpreter: the host's
recording allocator adds bookkeeping of its own). A board's MCU config may correct its fields (`cost.arena.overrides`),
calibrated on measured single-op arenas (`bench/cost.py` prints the error before and after).

`peak_bytes` is the live-set peak of docs/method.md §6.2 (unpadded live tensors plus scratch, maximised
over steps), the quantity the differentiable memory estimate reproduces exactly at one-hot weights.
"""

from dataclasses import dataclass, field, replace

from micronas.cost.graph import OpGraph
from micronas.errors import ConfigError
from micronas.space.opspec import OpSpec

BUFFER_ALIGNMENT = 16  # MicroArenaBufferAlignment()


def align_up(value: int, alignment: int = BUFFER_ALIGNMENT) -> int:
    return -(-value // alignment) * alignment


@dataclass(frozen=True)
class TflmBuild:
    """A TFLM build as the arena sees it: pointer width, kernel library and allocation sizes (bytes)."""

    word_bytes: int
    kernel_library: str  # "reference" or "cmsis-nn": decides the convolution scratch buffers
    fixed_bytes: int  # allocator, planner and interpreter objects, allocated first
    builtin_allocator_bytes: int
    subgraph_bytes: int
    eval_tensor_bytes: int
    node_bytes: int
    tensor_struct_bytes: int  # TfLiteTensor of each interpreter input and output
    quantization_bytes: int  # their TfLiteAffineQuantization
    builtin_params: dict = field(default_factory=dict)  # kind -> (bytes, alignment)
    op_data_bytes: dict = field(default_factory=dict)  # kind -> kernel OpData bytes
    mean_index_scratch_bytes: tuple[int, ...] = (16, 8)  # MEAN's index scratch (absent in older TFLM)

    def scratch_buffers(self, op: OpSpec) -> tuple[int, ...]:
        """Bytes of each scratch buffer the kernel requests for `op`, in request order.

        CMSIS-NN's int8 convolution (the pinned release, DSP path) needs two int16 im2col columns of
        `k_h*k_w*C_in` rounded up to a multiple of 4, except a 1x1 kernel (no padding, at any stride
        and any `C_in`), which needs none (`arm_convolve_wrapper_s8_get_buffer_size`); the reference
        kernels need none for convolutions. MEAN (the reference reduce kernel in both) requests an int32
        accumulator per output element plus, in recent TFLM, two index arrays. ADD and SOFTMAX: none.
        """
        if op.kind == "mean":
            return (4 * op.output_elements, *self.mean_index_scratch_bytes)
        if op.kind != "conv2d" or self.kernel_library != "cmsis-nn":
            return ()
        if op.kernel == (1, 1):
            return ()
        return (4 * align_up(op.kernel[0] * op.kernel[1] * op.input_shape[-1], 4),)


_PARAMS = {"conv2d": (28, 4), "add": (8, 4), "mean": (1, 1), "softmax": (4, 4)}
BUILDS = {
    # The installed tflite-micro Python interpreter: measured with its recording allocator.
    "host-64bit-reference": TflmBuild(
        word_bytes=8,
        kernel_library="reference",
        fixed_bytes=448,
        builtin_allocator_bytes=16,
        subgraph_bytes=24,
        eval_tensor_bytes=24,
        node_bytes=64,
        tensor_struct_bytes=64,
        quantization_bytes=24,
        builtin_params=_PARAMS,
        op_data_bytes={"conv2d": 80, "add": 60, "mean": 44, "softmax": 80},
    ),
    # The pinned TFLM + CMSIS-NN built for Cortex-M (micronas.firmware): sizeof of each struct in that
    # 32-bit build (SingleArenaBufferAllocator 36 + GreedyMemoryPlanner 44 + MicroAllocator 36, the
    # CMSIS-NN OpData), checked against the firmware's arena_used_bytes() in QEMU (tests/firmware).
    "32bit-cmsis-nn": TflmBuild(
        word_bytes=4,
        kernel_library="cmsis-nn",
        fixed_bytes=116,
        builtin_allocator_bytes=8,
        subgraph_bytes=8,
        eval_tensor_bytes=12,
        node_bytes=32,
        tensor_struct_bytes=32,
        quantization_bytes=12,
        # arm-none-eabi-gcc makes enums as small as their values (the AAPCS's short enums): ADD's
        # TfLiteAddParams (a TfLiteFusedActivation and a bool) is then 2 bytes at 1-byte alignment
        builtin_params={**_PARAMS, "add": (2, 1)},
        op_data_bytes={"conv2d": 60, "add": 60, "mean": 44, "softmax": 64},
    ),
}


FIXED_FIELDS = ("word_bytes", "kernel_library")  # what a build is, not what calibration may change


def tflm_build(name: str, overrides: dict | None = None) -> TflmBuild:
    """A named build (see `BUILDS`) with calibrated fields replaced (dict fields merged) by `overrides`."""
    if name not in BUILDS:
        raise ConfigError(
            f"cost.arena.build={name} is not a known TFLM build; valid builds are: {', '.join(BUILDS)}."
        )
    base, changes = BUILDS[name], {}
    for key, value in (overrides or {}).items():
        if key not in base.__dataclass_fields__ or key in FIXED_FIELDS:
            raise ConfigError(
                f"cost.arena.overrides.{key} is not a calibratable field; valid fields are: "
                f"{', '.join(k for k in base.__dataclass_fields__ if k not in FIXED_FIELDS)}."
            )
        current = getattr(base, key)
        changes[key] = (
            {**current, **value}
            if isinstance(current, dict)
            else tuple(value) if isinstance(current, tuple) else int(value)
        )
    return replace(base, **changes)


@dataclass(frozen=True)
class Buffer:
    """One planned buffer: padded size and the first and last allocation scope it is live in."""

    size: int
    first: int
    last: int


def planned_buffers(graph: OpGraph, build: TflmBuild) -> list[Buffer]:
    """The head's buffers in TFLM's order: tensors by index, then scratch buffers by request."""
    first = {t: 0 for t in (*graph.inputs, graph.output)}
    last = dict(first)
    for scope, step in enumerate(graph.steps, start=1):
        first[step.output] = last[step.output] = scope
        for tensor in step.inputs:
            last[tensor] = scope
    last[graph.output] = len(graph.steps)
    buffers = [
        Buffer(align_up(graph.tensor_bytes(t)), first[t], last[t]) for t in range(len(graph.tensor_shapes))
    ]
    for scope, step in enumerate(graph.steps, start=1):
        buffers += [Buffer(align_up(size), scope, scope) for size in build.scratch_buffers(step.op)]
    return buffers


def greedy_plan(buffers: list[Buffer]) -> list[int]:
    """Offsets TFLM's GreedyMemoryPlanner gives `buffers` (largest first, lowest fitting gap).

    The planner lists online-planned buffers from the back of its array, then bubble-sorts by size
    (stable), so buffers of equal size are taken in reverse order of addition.
    """
    order = sorted(range(len(buffers)), key=lambda i: (-buffers[i].size, -i))
    offsets = [0] * len(buffers)
    placed: list[int] = []  # buffer indices by offset; equal offsets keep placement order
    for index in order:
        wanted = buffers[index]
        candidate = 0
        for other in placed:
            if buffers[other].first > wanted.last or wanted.first > buffers[other].last:
                continue  # not live at the same time
            if offsets[other] - candidate >= wanted.size:
                break
            candidate = max(candidate, offsets[other] + buffers[other].size)
        offsets[index] = candidate
        position = next((p for p, other in enumerate(placed) if offsets[other] > candidate), len(placed))
        placed.insert(position, index)
    return offsets


def head_bytes(graph: OpGraph, build: TflmBuild) -> int:
    """Size of the non-persistent section: the end of the highest planned buffer."""
    buffers = planned_buffers(graph, build)
    offsets = greedy_plan(buffers)
    return max(offset + buffer.size for offset, buffer in zip(offsets, buffers))


def tensor_count(graph: OpGraph) -> int:
    """All tensors of the flatbuffer: activations, conv weights and biases, MEAN's axis constant."""
    constants = sum(2 if s.op.kind == "conv2d" else 1 if s.op.kind == "mean" else 0 for s in graph.steps)
    return len(graph.tensor_shapes) + constants


def tail_bytes(graph: OpGraph, build: TflmBuild) -> int:
    """Persistent bytes, replaying TFLM's tail allocations (each moves the tail down to its alignment)."""
    end = tail = 1 << 30  # any 16-aligned arena end

    def allocate(size: int, alignment: int) -> None:
        nonlocal tail
        tail = (tail - size) // alignment * alignment

    word = build.word_bytes
    allocate(build.fixed_bytes, word)  # three objects, each at word alignment
    allocate(build.builtin_allocator_bytes, word)
    allocate(build.subgraph_bytes, word)
    allocate(build.eval_tensor_bytes * tensor_count(graph), word)
    allocate(build.node_bytes * len(graph.steps), word)
    for step in graph.steps:  # builtin options, parsed operator by operator
        allocate(*build.builtin_params[step.op.kind])
    for step in graph.steps:  # kernel Init: OpData
        allocate(build.op_data_bytes[step.op.kind], BUFFER_ALIGNMENT)
    for step in graph.steps:  # kernel Prepare: per-channel multipliers and shifts
        if step.op.kind == "conv2d":
            allocate(4 * step.op.output_shape[-1], BUFFER_ALIGNMENT)
            allocate(4 * step.op.output_shape[-1], BUFFER_ALIGNMENT)
    scratch_count = sum(len(build.scratch_buffers(s.op)) for s in graph.steps)
    allocate(word * scratch_count, word)  # scratch buffer handles
    for count in (len(graph.inputs), 1):  # MicroInterpreter::AllocateTensors: inputs, then the output
        allocate(word * count, BUFFER_ALIGNMENT)  # the pointer array
        for _ in range(count):  # then each persistent TfLiteTensor with its quantisation
            allocate(build.tensor_struct_bytes, word)
            allocate(build.quantization_bytes, word)
            allocate(8, 4)  # one-element zero-point array
    return end - tail


@dataclass(frozen=True)
class ArenaEstimate:
    """Predicted TFLM arena: `head_bytes + tail_bytes`, and docs/method.md §6.2's live-set `peak_bytes`."""

    head_bytes: int
    tail_bytes: int
    peak_bytes: int

    @property
    def arena_bytes(self) -> int:
        return self.head_bytes + self.tail_bytes


def step_bytes(graph: OpGraph, build: TflmBuild) -> list[int]:
    """Per step: the live activation bytes (unpadded) plus the step's scratch (`M_t`, docs/method.md §6.2)."""
    buffers = planned_buffers(graph, build)
    tensors = range(len(graph.tensor_shapes))
    return [
        sum(graph.tensor_bytes(t) for t in tensors if buffers[t].first <= scope <= buffers[t].last)
        + sum(build.scratch_buffers(step.op))
        for scope, step in enumerate(graph.steps, start=1)
    ]


def peak_bytes(graph: OpGraph, build: TflmBuild) -> int:
    """docs/method.md §6.2's discrete `Peak`: the largest `M_t` over the steps."""
    return max(step_bytes(graph, build))


def estimate_arena(graph: OpGraph, build: TflmBuild) -> ArenaEstimate:
    """The arena TFLM allocates for `graph` (`op_graph(arch)` or `single_op_graph(op)`) under `build`."""
    return ArenaEstimate(head_bytes(graph, build), tail_bytes(graph, build), peak_bytes(graph, build))
