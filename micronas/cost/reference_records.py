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
import logging
from pathlib import Path

from micronas.cost.lut import LutEntry
from micronas.errors import ConfigError, DataError
from micronas.space.opspec import OpSpec

log = logging.getLogger(__name__)

SOURCE_PREFIX = "reference-records:"  # of imported LUT entries: their ADD models read two graph inputs
OUTER_INVOKE_TIMING = 1
OP_TIMINGS = {3: "conv2d", 0: "add", 40: "mean", 25: "softmax"}
ACTIVATIONS = {"relu": "relu", "linear": "none", None: "none"}


def _records_of(file: Path) -> list:
    try:
        records = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"{file} is not valid JSON ({error}); expected a list of measured records.") from None
    if not isinstance(records, list):
        raise DataError(f"{file} holds a {type(records).__name__}; expected a list of measured records.")
    return records


def load_records(path: str | Path) -> list[tuple[str, dict]]:
    """`(source, record)` pairs from one records file, or from every `*.json` in a folder and its sub-folders
    (e.g. one `records.json` per run); in a folder, a JSON file that is not a list of records is skipped
    with a warning."""
    path = Path(path)
    if path.is_file():
        return [(f"{path.name}#{index}", record) for index, record in enumerate(_records_of(path))]
    files = sorted(f for f in path.rglob("*.json") if f.is_file()) if path.is_dir() else []
    pairs = []
    for file in files:
        try:
            records = _records_of(file)
        except DataError as error:
            log.warning("skipped %s", error)
            continue
        name = file.relative_to(path).as_posix()
        pairs += [(f"{name}#{index}", record) for index, record in enumerate(records)]
    if not pairs:
        raise DataError(f"{path} is neither a records .json file nor a folder holding some.")
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


def _problem(record) -> str | None:
    """What a record lacks to be a measured (or failed) single-op record, or None."""
    if not isinstance(record, dict):
        return f"it is a {type(record).__name__}, not an object"
    config = record.get("modelConfig")
    if not isinstance(config, dict):
        return "it has no modelConfig object"
    try:
        op = record_op(config)
    except KeyError as error:
        return f"its modelConfig has no {error.args[0]!r}"
    except (TypeError, ValueError, IndexError) as error:
        return f"its modelConfig is not a layer micronas knows ({error})"
    if "error" in record:
        return None
    timings = record.get("timing")
    if not isinstance(timings, list) or not all(isinstance(t, dict) and "type" in t for t in timings):
        return "it has no timing list of {type, cpuCycles} objects"
    types = {t["type"] for t in timings}
    op_type = next(t for t, kind in OP_TIMINGS.items() if kind == op.kind)
    wanted_timings = ((op_type, f"the {op.kind} kernel's cycles"), (OUTER_INVOKE_TIMING, "the Invoke timer"))
    for wanted, what in wanted_timings:
        if wanted not in types:
            return f"it has no timing of type {wanted} ({what})"
    if not isinstance(record.get("memory"), dict) or "kTensorAreaUsed" not in record["memory"]:
        return "it has no memory.kTensorAreaUsed (the arena)"
    return None


def record_entry(record: dict, clock_hz: int, source: str) -> LutEntry:
    """The LUT entry of one record; cycles become ms with `clock_hz`. A record that lacks a field is refused
    with a `DataError` naming it."""
    problem = _problem(record)
    if problem is None:
        op = record_op(record["modelConfig"])
        common = dict(op=op, flash_bytes=record.get("flashSize"), source=source)
        if "error" in record:
            return LutEntry(samples_ms=(), status=f"failed:{record['error']}", **common)
        try:
            timings = {t["type"]: int(t["cpuCycles"]) for t in record["timing"]}
            op_cycles = timings[next(t for t, kind in OP_TIMINGS.items() if kind == op.kind)]
            return LutEntry(
                samples_ms=(1000.0 * op_cycles / clock_hz,),
                samples_cycles=(op_cycles,),
                invoke_ms=1000.0 * timings[OUTER_INVOKE_TIMING] / clock_hz,
                arena_bytes=int(record["memory"]["kTensorAreaUsed"]),
                **common,
            )
        except (KeyError, TypeError, ValueError) as error:
            problem = f"a cycle count or the arena is not a number ({error})"
    raise DataError(f"record {source} is not a measured single-op record: {problem}.")


def read_entries(path: str | Path, clock_hz: int, prefix: str = "") -> tuple[list[LutEntry], int]:
    """The LUT entries of the records at `path` (sources `prefix` + file#index), and how many malformed
    records were skipped (each with a warning naming what it lacks)."""
    entries, skipped = [], 0
    for source, record in load_records(path):
        try:
            entries.append(record_entry(record, clock_hz, prefix + source))
        except DataError as error:
            log.warning("skipped %s", error)
            skipped += 1
    return entries, skipped


def read_mcu_records(path: str | Path, mcu, prefix: str = "") -> tuple[list[LutEntry], int]:
    """`read_entries` with the clock of the MCU config `mcu`, refused in one sentence when it has none."""
    if not mcu.clock_hz:
        raise ConfigError(f"mcu={mcu.name} has no clock_hz, so cycle records cannot be converted to ms.")
    return read_entries(path, int(mcu.clock_hz), prefix)
