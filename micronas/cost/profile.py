"""Build a device's latency table by timing single-op int8 models.

    python -m micronas.cost.profile mcu=host dataset=NAME [--limit N] [--warmups 2] [--repeats 10]
    python -m micronas.cost.profile mcu=qemu_m33 dataset=NAME   # the firmware in QEMU (instructions)

Under QEMU (`-icount shift=0`) the counts are deterministic to one timer tick, so there the defaults are
one warm-up and one timed run per entry (`--warmups`/`--repeats` still override them).

Every OpSpec the dataset's search space can produce (`enumerate_ops`) that the MCU's LUT file lacks is
built as a one-layer Keras model, converted to full int8 (random calibration windows: the timing of
int8 kernels does not depend on the values), checked to hold exactly that operator, loaded on the
device and timed (warm-ups, then repeats; the median is kept). Each entry is appended and synced
before the next op starts, so a killed run loses at most one op and a restart continues with the
first missing one. Ops that fail are stored as `failed:<reason>` and not retried.

On a device that times each operator (a board), the op time is its own; the in-process host
interpreter only times whole `Invoke()`s, so there the op time is the invoke time minus the per-invoke
overhead, measured first from chains of 1 and 8 SOFTMAX ops (`overhead = t1 - (t8 - t1) / 7`).
"""

import argparse
import logging
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from micronas.config import load_config  # noqa: E402
from micronas.console import Progress, configure_console  # noqa: E402
from micronas.cost.enumerate import enumerate_ops  # noqa: E402
from micronas.cost.lut import DeviceIdentity, LookupTable, LutEntry  # noqa: E402
from micronas.errors import ConfigError, MicronasError, exit_on_user_error  # noqa: E402
from micronas.hardware.errors import LinkError  # noqa: E402
from micronas.space.opspec import OpSpec  # noqa: E402
from micronas.space.searchspace import SearchSpace  # noqa: E402

log = logging.getLogger(__name__)
CALIBRATION_WINDOWS = 4
OVERHEAD_CHAIN = 8
OVERHEAD_PROBE = OpSpec("softmax", (16,), (16,))  # a tiny op, chained to separate op time from overhead


def single_op_keras(op: OpSpec, chain: int = 1):
    """A Keras model whose int8 conversion runs exactly `op` (`chain` times in a row for SOFTMAX)."""
    import keras

    x = keras.Input(op.input_shape)
    if op.kind == "conv2d":
        activation = None if op.activation == "none" else op.activation
        y = keras.layers.Conv2D(
            op.output_shape[-1], op.kernel, strides=op.stride, padding=op.padding, activation=activation
        )(x)
    elif op.kind == "add":
        y = keras.layers.Add()([x, x])
    elif op.kind == "mean":
        y = keras.layers.GlobalAveragePooling2D()(x)
    else:
        y = x
        for _ in range(chain):
            y = keras.layers.Softmax()(y)
    return keras.Model(x, y)


def single_op_tflite(op: OpSpec, chain: int = 1) -> bytes:
    """The full-int8 `.tflite` of `single_op_keras(op)`, checked to contain exactly that op."""
    from micronas.export.convert import to_int8_tflite
    from micronas.export.flatbuffer import read_graph, to_opspecs

    windows = np.random.default_rng(0).normal(size=(CALIBRATION_WINDOWS, *op.input_shape)).astype(np.float32)
    model = to_int8_tflite(single_op_keras(op, chain), windows)
    found = to_opspecs(read_graph(model))
    if found != [op] * chain:
        raise RuntimeError(f"the converted model runs {[o.key() for o in found]}, not {op.key()}")
    return model


def measure_invoke_overhead_ms(device, warmups: int, repeats: int) -> float | None:
    """Per-invoke overhead from SOFTMAX chains of 1 and 8, for a device that times whole Invokes only
    (None for a device that times each operator: its op times need no correction)."""
    times = []
    for chain in (1, OVERHEAD_CHAIN):
        device.load(single_op_tflite(OVERHEAD_PROBE, chain))
        measurement = device.run(warmups, repeats)
        if measurement.ops_timed:
            return None
        times.append(measurement.latency_ms)
    one, many = times
    return max(0.0, one - (many - one) / (OVERHEAD_CHAIN - 1))


def profile_op(device, op: OpSpec, warmups: int, repeats: int, overhead_ms: float | None) -> LutEntry:
    """Measure one op; a conversion or device failure becomes a `failed:<reason>` entry."""
    try:
        model = single_op_tflite(op)
        report = device.load(model)
        measurement = device.run(warmups, repeats)
    except LinkError:
        raise  # an unplugged or silent board: stop; the entry is measured when the run resumes
    except (MicronasError, RuntimeError, ValueError) as error:
        log.warning("%s failed: %s", op.key(), error)
        return LutEntry(op=op, samples_ms=(), status=f"failed:{type(error).__name__}", source="profile")
    invoke_ms = measurement.latency_ms
    cycles = None
    if measurement.ops_timed:
        op_ticks = [ticks[0] for ticks in measurement.op_ticks]
        samples = [1000.0 * t / measurement.counter_hz for t in op_ticks]
        cold = None
        if measurement.tick_unit == "cycles":  # a board's DWT (QEMU's "instructions" are no cycles)
            cycles = op_ticks
    else:
        samples = [t - overhead_ms for t in measurement.latency_ms_runs]
        cold = measurement.cold_latency_ms - overhead_ms
    return LutEntry(
        op=op,
        samples_ms=samples,
        samples_cycles=cycles,
        cold_ms=cold,
        invoke_ms=invoke_ms,
        arena_bytes=report.arena_used_bytes,
        flash_bytes=len(model),
        source="profile",
    )


def profile_ops(
    ops: list[OpSpec],
    device,
    table: LookupTable,
    warmups: int = 2,
    repeats: int = 10,
    limit: int | None = None,
) -> int:
    """Measure the ops `table` lacks (at most `limit`), appending each entry; returns how many were added."""
    missing = [op for op in ops if op not in table][:limit]
    if not missing:
        return 0
    overhead_ms = measure_invoke_overhead_ms(device, warmups, repeats)
    if overhead_ms is not None:
        log.info("per-invoke overhead %.4f ms", overhead_ms)
    shown = Progress(len(missing), "profiling", "entry", every=max(1, min(25, len(missing) // 10)),
                     plural="entries")
    for op in missing:
        table.append(profile_op(device, op, warmups, repeats, overhead_ms))
        shown.update(1, op.kind)
    shown.close()
    return len(missing)


def open_profiling_device(mcu):
    """The device `mcu.device` names: for `mcu=host` the in-process interpreter (kind local) or the
    virtual board (kind serial); else the board on `mcu.device.port`."""
    from micronas.hardware.open import open_device

    return open_device(mcu)


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m micronas.cost.profile",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. mcu=host dataset=ucihar")
    parser.add_argument("--limit", type=int, help="measure at most this many missing entries")
    parser.add_argument("--warmups", type=int, help="default 2 (1 under QEMU)")
    parser.add_argument("--repeats", type=int, help="default 10 (1 under QEMU: its counts are deterministic)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the libraries' own output too")
    args = parser.parse_args(argv)
    configure_console(args.verbose)
    cfg = load_config("search", args.overrides)
    deterministic = (cfg.mcu.get("device") or {}).get("kind") == "qemu"  # QEMU: -icount counts repeat
    if args.warmups is None:
        args.warmups = 1 if deterministic else 2
    if args.repeats is None:
        args.repeats = 1 if deterministic else 10
    if args.repeats < 1 or args.warmups < 0 or (args.limit is not None and args.limit < 1):
        raise ConfigError("--repeats must be >= 1, --warmups >= 0 and --limit >= 1.")
    space = SearchSpace.from_config(cfg)
    ops = enumerate_ops(space)
    table = LookupTable(cfg.mcu.cost.lut_path, DeviceIdentity.from_mcu(cfg.mcu))
    before = sum(op in table for op in ops)
    with open_profiling_device(cfg.mcu) as device:
        added = profile_ops(ops, device, table, args.warmups, args.repeats, args.limit)
    failed = sum(1 for op in ops if op in table and table.get(op) is None)
    print(
        f"{cfg.mcu.cost.lut_path}: {before} of {len(ops)} entries were present, measured {added}, "
        f"{len(ops) - before - added} still missing, {failed} failed"
    )


if __name__ == "__main__":
    main()
