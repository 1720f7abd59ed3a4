"""Build a device's latency table by timing single-op int8 models (docs/method.md §7.3).

    python -m micronas.profiling.profile mcu=host dataset=NAME [--limit N] [--rounds 9] [--warmups 2]
        [--repeats 5]
    python -m micronas.profiling.profile mcu=qemu_m33 dataset=NAME   # the firmware in QEMU (instructions)

Every OpSpec the dataset's search space can produce (`enumerate_ops`) that the MCU's LUT file lacks is
built as a one-layer Keras model, converted to full int8 (random calibration windows: the timing of
int8 kernels does not depend on the values), checked to hold exactly that operator, loaded on the
device and timed. Entries are appended and synced as they are measured, so a killed run loses at most
one batch and a restart continues with the first missing op. Ops that fail are stored as
`failed:<reason>` and not retried. A `mcu.cost.runtime_version` given here is stored in the user's
copy of the MCU config.

On a device that times each operator (a board; QEMU) the op time is its own: `--warmups` then
`--repeats` runs (defaults 2 and 10; 1 and 1 under QEMU, whose `-icount` counts are deterministic), the
median kept. The host only times whole `Invoke()`s, by its thread's CPU clock, under the protocol of
`micronas.timing` (`--rounds` rounds of `--warmups` untimed and `--repeats` timed Invokes,
batches of `BATCH` models interleaved), which the measured Invoke of a deployed model also follows; its
op time is the invoke time minus the per-invoke overhead, measured under the same protocol from chains
of 1 and 8 SOFTMAX ops (`overhead = t1 - (t8 - t1) / 7`). The protocol is recorded in the table header.
"""

import argparse
import logging
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from micronas.config import load_config  # noqa: E402
from micronas.cost.board_settings import remember_runtime_version  # noqa: E402
from micronas.console import Progress, configure_console  # noqa: E402
from micronas.cost.enumerate import enumerate_ops  # noqa: E402
from micronas.cost.lut import DeviceIdentity, LookupTable, LutEntry, timing_for  # noqa: E402
from micronas.errors import ConfigError, MicronasError, exit_on_user_error  # noqa: E402
from micronas.hardware.errors import DeviceError, LinkError  # noqa: E402
from micronas.space.opspec import OpSpec  # noqa: E402
from micronas.space.searchspace import SearchSpace  # noqa: E402
from micronas.timing import TimingProtocol, Timed, clock_timed, time_models  # noqa: E402

log = logging.getLogger(__name__)
CALIBRATION_WINDOWS = 4
OVERHEAD_CHAIN = 8
OVERHEAD_PROBE = OpSpec("softmax", (16,), (16,))  # a tiny op, chained to separate op time from overhead
BATCH = 48  # single-op models converted, then timed together in interleaved rounds


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


def overhead_from_chains(one_ms: float, chain_ms: float) -> float:
    """Per-invoke overhead from the invoke times of 1 and `OVERHEAD_CHAIN` chained SOFTMAX ops."""
    return max(0.0, one_ms - (chain_ms - one_ms) / (OVERHEAD_CHAIN - 1))


def measure_invoke_overhead_ms(device, protocol: TimingProtocol) -> float:
    """Per-invoke overhead of a clock-timed device, under `protocol` (the entries' own protocol)."""
    models = [single_op_tflite(OVERHEAD_PROBE, chain) for chain in (1, OVERHEAD_CHAIN)]
    one, many = time_models(device, models, protocol)
    return overhead_from_chains(one.latency_ms, many.latency_ms)


def failed_entry(op: OpSpec, error: Exception) -> LutEntry:
    log.warning("%s failed: %s", op.key(), error)
    return LutEntry(op=op, samples_ms=(), status=f"failed:{type(error).__name__}", source="profile")


def timed_entry(op: OpSpec, model: bytes, timed: Timed, overhead_ms: float) -> LutEntry:
    """The table entry of a single-op model timed under the protocol: round minima less the overhead."""
    return LutEntry(
        op=op,
        samples_ms=[t - overhead_ms for t in timed.rounds_ms],
        cold_ms=timed.cold_ms - overhead_ms,
        invoke_ms=timed.latency_ms,
        arena_bytes=timed.arena_bytes,
        flash_bytes=len(model),
        source="profile",
    )


def profile_batch(ops: list[OpSpec], device, protocol: TimingProtocol, overhead_ms: float) -> list[LutEntry]:
    """Convert `ops`, then time their models together under `protocol` (a clock-timed device)."""
    built, entries = [], {}
    for op in ops:
        try:
            model = single_op_tflite(op)
            device.load(model)
            built.append((op, model))
        except LinkError:
            raise
        except (MicronasError, RuntimeError, ValueError) as error:
            entries[op.key()] = failed_entry(op, error)
    timed = time_models(device, [model for _, model in built], protocol)
    for (op, model), result in zip(built, timed):
        entries[op.key()] = timed_entry(op, model, result, overhead_ms)
    return [entries[op.key()] for op in ops]


def profile_op(device, op: OpSpec, warmups: int, repeats: int) -> LutEntry:
    """Measure one op on a device that times each operator; a conversion or device failure becomes a
    `failed:<reason>` entry."""
    try:
        model = single_op_tflite(op)
        report = device.load(model)
        measurement = device.run(warmups, repeats)
    except LinkError:
        raise  # an unplugged or silent board: stop; the entry is measured when the run resumes
    except (MicronasError, RuntimeError, ValueError) as error:
        return failed_entry(op, error)
    if not measurement.ops_timed:
        raise DeviceError("this device does not time each operator; profile it under the round protocol.")
    op_ticks = [ticks[0] for ticks in measurement.op_ticks]
    samples = [1000.0 * t / measurement.counter_hz for t in op_ticks]
    cycles = op_ticks if measurement.tick_unit == "cycles" else None  # QEMU's instructions are no cycles
    return LutEntry(
        op=op,
        samples_ms=samples,
        samples_cycles=cycles,
        invoke_ms=measurement.latency_ms,
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
    batch: int = BATCH,
) -> int:
    """Measure the ops `table` lacks (at most `limit`), appending each entry; returns how many were added.

    A clock-timed device (the host) is timed under `table.timing`, `batch` models at a time (`warmups`
    and `repeats` are then the protocol's); a device that times each operator runs `warmups` and
    `repeats` per op."""
    missing = list({op.key(): op for op in ops if op not in table}.values())[:limit]
    if not missing:
        return 0
    shown = Progress(len(missing), "profiling", "entry", every=max(1, min(25, len(missing) // 10)),
                     plural="entries")
    if clock_timed(device):
        if table.timing is None:
            raise ConfigError(f"{table.path} records no timing protocol; a clock-timed device needs one.")
        overhead_ms = measure_invoke_overhead_ms(device, table.timing)
        log.info("per-invoke overhead %.4f ms", overhead_ms)
        for start in range(0, len(missing), batch):
            for entry in profile_batch(missing[start:start + batch], device, table.timing, overhead_ms):
                table.append(entry)
                shown.update(1, entry.op.kind)
    else:
        for op in missing:
            table.append(profile_op(device, op, warmups, repeats))
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
    parser = argparse.ArgumentParser(prog="python -m micronas.profiling.profile",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. mcu=host dataset=ucihar")
    parser.add_argument("--limit", type=int, help="measure at most this many missing entries")
    parser.add_argument("--warmups", type=int, help="default 2 (1 under QEMU)")
    parser.add_argument(
        "--repeats", type=int,
        help="default 10 (1 under QEMU: its counts are deterministic; on the host 5 per round)",
    )
    parser.add_argument("--rounds", type=int, help="host only: interleaved rounds per op (default 9)")
    parser.add_argument(
        "--batch", type=int, default=BATCH, help=f"host only: ops timed together (default {BATCH})"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show the libraries' own output too")
    args = parser.parse_args(argv)
    configure_console(args.verbose)
    cfg = load_config("search", args.overrides)
    for name in ("rounds", "batch"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ConfigError(f"--{name} {value} is not valid; use >= 1.")
    timing = timing_for(cfg.mcu, args.rounds, args.warmups, args.repeats)
    deterministic = (cfg.mcu.get("device") or {}).get("kind") == "qemu"  # QEMU: -icount counts repeat
    if args.warmups is None:
        args.warmups = 1 if deterministic else 2
    if args.repeats is None:
        args.repeats = 1 if deterministic else 10
    if args.repeats < 1 or args.warmups < 0 or (args.limit is not None and args.limit < 1):
        raise ConfigError("--repeats must be >= 1, --warmups >= 0 and --limit >= 1.")
    space = SearchSpace.from_config(cfg)
    ops = enumerate_ops(space)
    table = LookupTable(cfg.mcu.cost.lut_path, DeviceIdentity.from_mcu(cfg.mcu), timing)
    remember_runtime_version(args.overrides, cfg.mcu)
    before = sum(op in table for op in ops)
    with open_profiling_device(cfg.mcu) as device:
        added = profile_ops(ops, device, table, args.warmups, args.repeats, args.limit, args.batch)
    failed = sum(1 for op in ops if op in table and table.get(op) is None)
    print(
        f"{cfg.mcu.cost.lut_path}: {before} of {len(ops)} entries were present, measured {added}, "
        f"{len(ops) - before - added} still missing, {failed} failed"
    )


if __name__ == "__main__":
    main()
