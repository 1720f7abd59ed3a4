"""Read the reference implementation's measured single-op records and turn them into LUT entries.

Each record is one single-layer int8 model run on a board under TFLM with CMSIS-NN: a Keras layer
config (`modelConfig`), the cycles of the op's kernel (timing type 3 CONV, 0 ADD, 40 MEAN, 25 SOFTMAX),
of `Invoke()` seen from inside TFLM (type 255) and of the outer timer around the `Invoke()` call (type
1), the arena TFLM used and the flatbuffer size. The outer timer is what an application measures, so it
is the entry's `invoke_ms`: its gap to the op (about 12 k cycles on the L552) is the per-invoke overhead
of docs/method.md §7.3, while the type-255 gap is only about 600 cycles. Cycles are converted to ms with the
board clock of the MCU config, never with the `millis` the records carry.
"""

import json
from pathlib import Path

from micronas.cost.lut import LutEntry
from micronas.errors import DataError
from micronas.space.opspec import OpSpec

OUTER_INVOKE_TIMING = 1
OP_TIMINGS = {3: "conv2d", 0: "add", 40: "mean", 25: "softmax"}
ACTIVATIONS = {"relu": "relu", "linear": "none", None: "none"}


def load_records(path: str | Path) -> list[tuple[str, dict]]:
    """`(source, record)` pairs from one records file or every `*.json` in a folder."""
    path = Path(path)
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise DataError(f"{path} is neither a records .json file nor a folder holding some.")
    pairs = []
    for file in files:
        try:
            records = json.loads(file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise DataError(
                f"{file} is not valid JSON ({error}); expected a list of measured records."
            ) from None
        if not isinstance(records, list):
            raise DataError(f"{file} holds a {type(records).__name__}; expected a list of measured records.")
        pairs += [(f"{file.name}#{index}", record) for index, record in enumerate(records)]
    return pairs


def _shape(shape) -> tuple[int, ...]:
    """Drop the batch dimension of a Keras `[1, ...]` shape."""
    return tuple(int(v) for v in shape[1:])


def record_op(config: dict) -> OpSpec:
    """The OpSpec of a record's Keras layer config (conv2d, add, global_average_pooling2d, softmax)."""
    name = config.get("name", "")
    if name.startswith("conv2d"):
        return OpSpec(
            kind="conv2d",
            input_shape=_shape(config["input_shape"]),
            output_shape=_shape(config["output_shape"]),
            kernel=tuple(config["kernel_size"]),
            stride=tuple(config["strides"]),
            padding=config["padding"],
            activation=ACTIVATIONS[config.get("activation")],
        )
    if name.startswith("add"):
        return OpSpec("add", _shape(config["input_shape"][0]), _shape(config["output_shape"]))
    if name.startswith("global_average_pooling2d"):
        return OpSpec("mean", _shape(config["input_shape"]), _shape(config["output_shape"]))
    if name.startswith("softmax"):
        return OpSpec("softmax", _shape(config["input_shape"]), _shape(config["output_shape"]))
    raise ValueError(f"layer {name!r} is not one of conv2d, add, global_average_pooling2d, softmax")


def record_entry(record: dict, clock_hz: int, source: str) -> LutEntry:
    """The LUT entry of one record; cycles become ms with `clock_hz`."""
    try:
        op = record_op(record["modelConfig"])
        common = dict(op=op, flash_bytes=record.get("flashSize"), source=source)
        if "error" in record:
            return LutEntry(samples_ms=(), status=f"failed:{record['error']}", **common)
        timings = {t["type"]: int(t["cpuCycles"]) for t in record["timing"]}
        op_type = next(t for t, kind in OP_TIMINGS.items() if kind == op.kind)
        op_cycles, invoke_cycles = timings[op_type], timings[OUTER_INVOKE_TIMING]
        return LutEntry(
            samples_ms=(1000.0 * op_cycles / clock_hz,),
            samples_cycles=(op_cycles,),
            invoke_ms=1000.0 * invoke_cycles / clock_hz,
            arena_bytes=int(record["memory"]["kTensorAreaUsed"]),
            **common,
        )
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise DataError(f"record {source} is not a measured single-op record ({error!r}).") from None
