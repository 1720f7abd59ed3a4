"""Cycles per instruction: a board's measured operator cycles against QEMU's instruction counts of the same
operators under the same CMSIS-NN kernels. One CPI per predictor group (`op_group`), fitted on a few
measured operators, turns QEMU's counts of every other operator into cycle predictions: a new board is
measured on a handful of operators and profiled in QEMU for the rest.

A ratio of medians per group is used (`median(cycles / instructions)`); a group without a fitted entry
takes the median over all fitted entries.

    python -m micronas.profiling.cpi --board nucleo_l552 --qemu-lut data/lut/qemu_m33.jsonl [MODEL.tflite
        [--measurement measurement.json]] [--records DIR] [--out cpi.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

import numpy as np

from micronas.fit_metrics import error_summary
from micronas.cost.lut import LutEntry, read_lut
from micronas.cost.predictor import op_group
from micronas.cost.reference_records import load_records, record_entry
from micronas.errors import ConfigError, DataError, exit_on_user_error

QEMU_MCU = {"cortex-m33": "qemu_m33", "cortex-m4f": "qemu_m4", "cortex-m7": "qemu_m7"}  # board core -> QEMU


def fit_cpi(pairs: list[tuple[object, float, float]]) -> dict[str, float]:
    """`{group: cycles per instruction}` from `(op, instructions, cycles)` triples; `*` is every group."""
    ratios: dict[str, list[float]] = {}
    for op, instructions, cycles in pairs:
        ratios.setdefault(op_group(op), []).append(cycles / instructions)
    cpi = {group: statistics.median(values) for group, values in ratios.items()}
    cpi["*"] = statistics.median(cycles / instructions for _, instructions, cycles in pairs)
    return cpi


def predict_cycles(cpi: dict[str, float], op, instructions: float) -> float:
    return instructions * cpi.get(op_group(op), cpi["*"])


def heldout_error(cpi: dict[str, float], pairs) -> dict[str, float]:
    """R^2, MAPE and the rest (micronas.fit_metrics.error_summary, in cycles) of `cpi` on `pairs`."""
    measured = [cycles for _, _, cycles in pairs]
    predicted = [predict_cycles(cpi, op, instructions) for op, instructions, _ in pairs]
    return error_summary(measured, predicted)


def sample_sizes_curve(train, heldout, sizes=(10, 30, 100), draws=5, seed=0) -> list[tuple[int, dict]]:
    """Held-out error of CPIs fitted on `size` random training triples (median over `draws` draws)."""
    rng = np.random.default_rng(seed)
    curve = []
    for size in [s for s in sizes if s <= len(train)]:
        draws_of = [rng.choice(len(train), size, replace=False) for _ in range(draws)]
        runs = [heldout_error(fit_cpi([train[i] for i in drawn]), heldout) for drawn in draws_of]
        keys = ("r2", "mape_pct", "within_10pct")
        curve.append((size, {k: statistics.median(r[k] for r in runs) for k in keys}))
    return curve


def board_entries(measured: str | Path, clock_hz: int, board: str | None = None) -> list[LutEntry]:
    """A board's measured ops in cycles, the first per op: reference records (a .json or a folder) or
    the board's own LUT (a .jsonl of micronas.profiling.profile; refused when it is another `board`'s)."""
    if str(measured).endswith(".jsonl"):
        identity, found = read_lut(measured)
        if board is not None and identity.board != board:
            raise DataError(f"{measured} was measured on {identity.board}, not on {board}; give this "
                            "board's LUT.")
        found = [entry for entry in found if entry.ok and entry.latency_cycles is not None]
        if not found:
            raise DataError(f"{measured} holds no cycle counts; a CPI needs ops timed in cycles on the "
                            "board.")
    else:
        found = [record_entry(record, clock_hz, source) for source, record in load_records(measured)]
    entries: dict[str, LutEntry] = {}
    for entry in found:
        if entry.ok:
            entries.setdefault(entry.op.key(), entry)
    return list(entries.values())


def qemu_instructions(entry: LutEntry) -> float:
    """The instruction count of a QEMU-profiled entry: its "ms" are 10^6 instructions of virtual time."""
    return entry.latency_ms * 1e6


def matched_pairs(measured: list[LutEntry], counted: dict[str, LutEntry]) -> list[tuple]:
    """`(op, QEMU instructions, board cycles)` for each measured op that `counted` (QEMU, by key) holds."""
    return [(entry.op, qemu_instructions(counted[entry.op.key()]), entry.latency_cycles)
            for entry in measured if entry.op.key() in counted]


def _qemu_lut(path: str, core: str) -> dict[str, LutEntry]:
    identity, entries = read_lut(path)
    if not identity.board.startswith("QEMU-"):
        raise DataError(f"{path} was measured on {identity.board}, not counted in QEMU; give a LUT profiled "
                        f"with python -m micronas.profiling.profile mcu={QEMU_MCU.get(core, 'qemu_m33')}.")
    if identity.core != core:
        raise DataError(f"{path} counts {identity.core} instructions but the board is a {core}; give a LUT "
                        f"profiled with mcu={QEMU_MCU.get(core, 'qemu_m33')}.")
    return {entry.op.key(): entry for entry in entries if entry.ok}


def _model_ops(path: Path) -> list:
    from micronas.export.flatbuffer import FlatbufferError, read_graph, to_opspecs

    if not path.is_file():
        raise DataError(f"the model file {path} does not exist.")
    try:
        return to_opspecs(read_graph(path.read_bytes()))
    except FlatbufferError as error:
        raise DataError(f"{path} is not a micronas int8 model: {error}.") from None


def _measured_instructions(path: Path, ops: list, core: str) -> list[float]:
    """Per-op instruction counts (median over the runs) of a QEMU `measurement.json` of the model."""
    try:
        record = json.loads(path.read_text())
        device, m = record["device"], record["measurement"]
        unit, columns = m["tick_unit"], list(zip(*m["op_ticks"]))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataError(f"{path} is not a measurement.json of micronas.hardware.measure ({error!r}).") \
            from None
    if unit != "instructions":
        raise DataError(f"{path} was timed in {unit} on {device.get('board')}, not counted in QEMU; measure "
                        f"the model with python -m micronas.hardware.measure MODEL mcu={QEMU_MCU.get(core)}.")
    if device.get("core") != core:
        raise DataError(f"{path} counts {device.get('core')} instructions but the board is a {core}; measure "
                        f"with mcu={QEMU_MCU.get(core)}.")
    if len(columns) != len(ops):
        raise DataError(f"{path} times {len(columns)} operators but the model has {len(ops)}; give the "
                        f"measurement of this model.")
    return [float(statistics.median(column)) for column in columns]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m micronas.profiling.cpi",
        description="Fit cycles per instruction (one per operator group) from a board's measured single-op "
        "records and QEMU's instruction counts of the same ops, and convert a model's QEMU instruction "
        "counts into estimated cycles and ms of that board. QEMU counts instructions, not cycles: "
        "the converted figures are estimates, not measurements.")
    parser.add_argument("model", nargs="?", help="an int8 .tflite whose QEMU counts to convert (optional)")
    parser.add_argument("--board", required=True, help="the MCU config of the measured board (nucleo_l552)")
    parser.add_argument("--qemu-lut", required=True,
                        help="a LUT profiled in QEMU for the board's core (python -m "
                        "micronas.profiling.profile mcu=qemu_m33 dataset=ucihar)")
    parser.add_argument("--records", help="the board's measured ops: reference records (a .json or a folder) "
                        "or its LUT profiled in cycles (.jsonl) (default: $MICRONAS_REFERENCE_DIR/BOARD)")
    parser.add_argument("--measurement", help="a QEMU measurement.json of MODEL (python -m "
                        "micronas.hardware.measure MODEL mcu=qemu_m33); default: each op from --qemu-lut")
    parser.add_argument("--out", help="also write the fit and the conversion to this JSON file")
    return parser


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    from micronas.config import load_config

    args = _parser().parse_args(argv)
    mcu = load_config("search", [f"mcu={args.board}"]).mcu
    if str(mcu.core) not in QEMU_MCU or str(mcu.board).startswith("QEMU-") or mcu.clock_hz is None:
        raise ConfigError(f"--board {args.board} is not a measured Cortex-M board; valid boards have a core "
                          f"of {', '.join(QEMU_MCU)} and a clock, e.g. nucleo_l552 or nucleo_f446re.")
    if args.measurement and not args.model:
        raise ConfigError(f"--measurement {args.measurement} needs the MODEL it measured as an argument.")
    if not (args.records or os.environ.get("MICRONAS_REFERENCE_DIR")):
        raise ConfigError("no measured ops are given: pass --records (the board's records or LUT) or set "
                          "MICRONAS_REFERENCE_DIR to the folder that holds one folder of records per board.")
    records = args.records or Path(os.environ["MICRONAS_REFERENCE_DIR"]) / args.board
    counted = _qemu_lut(args.qemu_lut, str(mcu.core))
    pairs = matched_pairs(board_entries(records, int(mcu.clock_hz), str(mcu.board)), counted)
    if not pairs:
        raise DataError(f"no operator of {records} is in {args.qemu_lut}; profile the board's ops in QEMU "
                        f"first (python -m micronas.profiling.profile mcu={QEMU_MCU[str(mcu.core)]} "
                        f"dataset=...).")
    cpi = fit_cpi(pairs)
    counts = {group: sum(op_group(op) == group for op, _, _ in pairs) for group in cpi}
    counts["*"] = len(pairs)
    print(f"cycles per instruction, fitted on {len(pairs)} ops measured on {mcu.board} (cycles) and counted "
          f"in QEMU (instructions):")
    for group, value in sorted(cpi.items()):
        print(f"  {group:16s} {value:7.3f} cycles/instruction  (n={counts[group]})")
    out = {"board": str(mcu.board), "clock_hz": int(mcu.clock_hz), "cpi": cpi, "fitted_ops": counts}
    if args.model:
        out["model"] = _convert(Path(args.model), args.measurement, args.qemu_lut, counted, cpi, mcu)
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")


def _convert(model: Path, measurement: str | None, lut: str, counted: dict, cpi: dict, mcu) -> dict:
    """Print and return each op's QEMU instructions and its estimated cycles and ms on the board."""
    ops = _model_ops(model)
    if measurement:
        instructions, source = _measured_instructions(Path(measurement), ops, str(mcu.core)), measurement
    else:
        missing = [op for op in ops if op.key() not in counted]
        if missing:
            raise DataError(f"{len(missing)} of the {len(ops)} ops of {model.name} are not in {lut} (the "
                            f"first is {missing[0].key()}); profile them in QEMU or give --measurement.")
        instructions, source = [qemu_instructions(counted[op.key()]) for op in ops], lut
    cycles = [predict_cycles(cpi, op, count) for op, count in zip(ops, instructions)]
    per_ms = 1000.0 / int(mcu.clock_hz)
    print(f"{model.name}: QEMU instruction counts from {source}, converted to ESTIMATED {mcu.board} cycles "
          f"at {int(mcu.clock_hz) / 1e6:g} MHz (a CPI estimate, not a measurement)")
    print(f"  {'#':>3s} {'op group':16s} {'QEMU instructions':>18s} {'CPI':>7s} {'est. cycles':>13s} "
          f"{'est. ms':>9s}")
    for index, (op, count, cyc) in enumerate(zip(ops, instructions, cycles)):
        print(f"  {index:3d} {op_group(op):16s} {count:18,.0f} {cyc / count:7.3f} {cyc:13,.0f} "
              f"{cyc * per_ms:9.4f}")
    print(f"  sum of ops: {sum(instructions):,.0f} instructions (QEMU count) -> estimated {sum(cycles):,.0f} "
          f"cycles = {sum(cycles) * per_ms:.4f} ms on {mcu.board} (operators only, no invoke overhead)")
    return {"source": source, "ops": [op.key() for op in ops], "qemu_instructions": instructions,
            "estimated_cycles": cycles, "estimated_ms": [c * per_ms for c in cycles]}


if __name__ == "__main__":
    main()
