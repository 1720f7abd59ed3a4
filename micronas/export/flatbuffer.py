"""Read a `.tflite` flatbuffer: its tensors and operators in graph order, and their `OpSpec`s.

Uses the TFLite schema bindings shipped with tflite-micro. Shapes here keep the batch dimension;
`to_opspecs` drops it, as `OpSpec` does.
"""

from dataclasses import dataclass

import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from micronas.space.opspec import OpSpec

DEPLOYABLE_KINDS = {"CONV_2D": "conv2d", "ADD": "add", "MEAN": "mean", "SOFTMAX": "softmax"}
"""The only operators a micronas model may contain, and their `OpSpec` kinds."""

_NAMES = {
    enum: {value: name for name, value in vars(enum).items() if not name.startswith("_")}
    for enum in (schema.BuiltinOperator, schema.TensorType, schema.Padding, schema.ActivationFunctionType)
}


class FlatbufferError(ValueError):
    """Model bytes that are not a TFLite flatbuffer, or a graph micronas cannot deploy."""


@dataclass(frozen=True)
class Tensor:
    """One tensor: shape with batch, dtype name (`"int8"`), constant or not, quantisation (or None)."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    constant: bool
    scale: float | None
    zero_point: int | None

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


@dataclass(frozen=True)
class Operator:
    """One operator in graph order: kind (`"CONV_2D"`), tensor indices, conv options when present."""

    kind: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    stride: tuple[int, int] | None = None
    padding: str | None = None
    activation: str | None = None


@dataclass(frozen=True)
class Graph:
    """The first subgraph of a model: the one TFLM runs."""

    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    @property
    def kinds(self) -> list[str]:
        return [op.kind for op in self.operators]


def read_graph(model: bytes) -> Graph:
    """Parse model bytes; raises `FlatbufferError` if they are not a TFLite model."""
    if len(model) < 8 or bytes(model[4:8]) != b"TFL3":
        raise FlatbufferError("the model bytes are not a TFLite flatbuffer (no TFL3 identifier)")
    fb = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(bytearray(model), 0))
    if len(fb.subgraphs) != 1:
        raise FlatbufferError(f"the model has {len(fb.subgraphs)} subgraphs; micronas models have one")
    subgraph = fb.subgraphs[0]
    tensors = tuple(_tensor(i, t, fb.buffers) for i, t in enumerate(subgraph.tensors))
    operators = tuple(_operator(op, fb.operatorCodes) for op in subgraph.operators or [])
    return Graph(
        tensors, operators, tuple(int(i) for i in subgraph.inputs), tuple(int(i) for i in subgraph.outputs)
    )


def _tensor(index: int, tensor, buffers) -> Tensor:
    buffer = buffers[tensor.buffer] if tensor.buffer else None
    constant = buffer is not None and (
        (buffer.data is not None and len(buffer.data) > 0) or (buffer.size or 0) > 0
    )
    q = tensor.quantization
    scale = zero_point = None
    if q is not None and q.scale is not None and len(q.scale) == 1:
        scale, zero_point = float(q.scale[0]), int(q.zeroPoint[0])
    name = tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)
    dtype = _NAMES[schema.TensorType][tensor.type].lower()
    shape = tuple(int(d) for d in tensor.shape) if tensor.shape is not None else ()
    return Tensor(index, name, shape, dtype, constant, scale, zero_point)


def _operator(op, operator_codes) -> Operator:
    code = operator_codes[op.opcodeIndex]
    kind = _NAMES[schema.BuiltinOperator][max(code.builtinCode, code.deprecatedBuiltinCode)]
    inputs = tuple(int(i) for i in op.inputs if i >= 0)
    outputs = tuple(int(i) for i in op.outputs)
    options = op.builtinOptions
    if isinstance(options, schema.Conv2DOptionsT):
        return Operator(
            kind,
            inputs,
            outputs,
            (int(options.strideH), int(options.strideW)),
            _NAMES[schema.Padding][options.padding].lower(),
            _NAMES[schema.ActivationFunctionType][options.fusedActivationFunction].lower(),
        )
    activation = getattr(options, "fusedActivationFunction", None)
    if activation is not None:
        activation = _NAMES[schema.ActivationFunctionType][activation].lower()
    return Operator(kind, inputs, outputs, activation=activation)


def to_opspecs(graph: Graph) -> list[OpSpec]:
    """The graph's operators as `OpSpec`s (batch dimension dropped), for comparison with `ops()`."""
    specs = []
    for op in graph.operators:
        if op.kind not in DEPLOYABLE_KINDS:
            raise FlatbufferError(
                f"the graph contains {op.kind}; micronas models contain only {', '.join(DEPLOYABLE_KINDS)}"
            )
        x, out = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
        kind = DEPLOYABLE_KINDS[op.kind]
        activation = op.activation or "none"
        if kind == "conv2d":
            _, kh, kw, _ = graph.tensors[op.inputs[1]].shape  # weights are [out, kh, kw, in]
            specs.append(
                OpSpec(kind, x.shape[1:], out.shape[1:], (kh, kw), op.stride, op.padding, activation)
            )
        else:
            specs.append(OpSpec(kind, x.shape[1:], out.shape[1:], activation=activation))
    return specs


def check_deployable(graph: Graph) -> None:
    """Assert int8 input and output, only CONV_2D/ADD/MEAN/SOFTMAX, no float tensors (docs/method.md §9.5)."""
    foreign = sorted(set(graph.kinds) - set(DEPLOYABLE_KINDS))
    if foreign:
        raise FlatbufferError(
            f"the graph contains {', '.join(foreign)}; "
            f"micronas models contain only {', '.join(DEPLOYABLE_KINDS)}"
        )
    for role, indices in (("input", graph.inputs), ("output", graph.outputs)):
        for index in indices:
            if graph.tensors[index].dtype != "int8":
                raise FlatbufferError(f"the model {role} is {graph.tensors[index].dtype}, not int8")
    floats = [t.name for t in graph.tensors if t.dtype.startswith("float")]
    if floats:
        raise FlatbufferError(
            f"the model holds float tensors ({', '.join(floats[:3])}); it must be full int8"
        )
