"""Check a board's arena model against its measured single-op arenas, and fit it so it never under-predicts.

    python -m micronas.cost.arena_fit mcu=NAME [--records PATH] [--holdout 0.2] [--write]

Measured arenas come from the MCU's LUT file (entries that report one) or, with `--records`, from measured
records. The command prints the error (predicted - measured, bytes) of the config's arena layout, then fits
the layout's constants: the bytes every kind of operator under-predicts by (or over-predicts by) go to the
per-model `fixed_bytes`, each kind's remainder to its `op_data_bytes`, and whatever alignment leaves short
is added until no record is under-predicted. Single-op models cannot tell per-model from per-operator
bytes; this split keeps the shared part once per model. The fit on a training share is scored on the
held-out share, and the fit on all records (never under-predicting any) is what `--write` stores as
`cost.arena.overrides` in the user's copy of the MCU config.
"""

import logging
from dataclasses import dataclass

import numpy as np
from omegaconf import OmegaConf

from micronas.config import load_config
from micronas.cost.board_settings import (
    check_holdout, fit_command_parser, runtime_from_command_line, store_board_settings,
)
from micronas.cost.calibrate import split_holdout
from micronas.cost.graph import single_op_graph
from micronas.cost.lut import DeviceIdentity, read_lut
from micronas.cost.memory import TflmBuild, estimate_arena, tflm_build
from micronas.cost.reference_records import SOURCE_PREFIX, read_mcu_records
from micronas.errors import DataError, exit_on_user_error
from micronas.space.opspec import OpSpec

MAX_ROUNDS = 64
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArenaSample:
    """One measured single-op model: its op, how many graph inputs its ADD reads, the arena TFLM used."""

    op: OpSpec
    add_inputs: int
    measured_bytes: int

    def predicted(self, build: TflmBuild) -> int:
        return estimate_arena(single_op_graph(self.op, self.add_inputs), build).arena_bytes


def arena_samples(entries, add_inputs: int | None = None) -> list[ArenaSample]:
    """The measured arenas of `ok` LUT entries; an ADD reads `add_inputs` graph inputs (by default two in
    imported records, one in this project's profiles)."""
    return [
        ArenaSample(e.op, add_inputs or (2 if e.source.startswith(SOURCE_PREFIX) else 1), int(e.arena_bytes))
        for e in entries if e.ok and e.arena_bytes is not None
    ]


def measured_arenas(mcu, records: str | None) -> list[ArenaSample]:
    """The measured arenas of the MCU's LUT file, or of the records at `records` (malformed ones skipped)."""
    if records:
        samples = arena_samples(read_mcu_records(records, mcu)[0], add_inputs=2)
    else:
        samples = arena_samples(read_lut(mcu.cost.lut_path, DeviceIdentity.from_mcu(mcu))[1])
    if not samples:
        raise DataError(f"no measured arenas in {records or mcu.cost.lut_path}; nothing to check or fit.")
    return samples


def errors(samples: list[ArenaSample], build: TflmBuild) -> np.ndarray:
    """Predicted minus measured arena per sample, in bytes (negative: under-predicted)."""
    return np.array([s.predicted(build) - s.measured_bytes for s in samples])


def _shortfall(samples, build) -> dict[str, int]:
    """Per operator kind, the largest measured - predicted (positive: under-predicted)."""
    short: dict[str, int] = {}
    for sample, error in zip(samples, errors(samples, build)):
        short[sample.op.kind] = max(short.get(sample.op.kind, -(1 << 30)), int(-error))
    return short


def check_arena_model(cost_model) -> None:
    """Warn when `cost_model`'s arena layout under-predicts an arena its table measured."""
    samples = arena_samples(cost_model.table.values())
    short = -errors(samples, cost_model.build) if samples else np.zeros(0)
    if np.any(short > 0):
        log.warning("the arena model of mcu=%s under-predicts %d of the %d arenas its table measured "
                    "(by up to %d B); fit it: python -m micronas.cost.arena_fit mcu=%s --write", cost_model.name,
                    int(np.sum(short > 0)), len(samples), int(short.max()), cost_model.name)


def fit_overrides(samples: list[ArenaSample], build_name: str, overrides: dict | None = None) -> dict:
    """`cost.arena.overrides` under which no sample is under-predicted, as tight as the layout allows
    (`overrides` themselves when they already never under-predict and the fit is no tighter)."""
    overrides = dict(overrides or {})
    fitted = _fit(samples, build_name, overrides)
    now, then = (errors(samples, tflm_build(build_name, o)) for o in (overrides, fitted))
    return overrides if now.min() >= 0 and now.sum() <= then.sum() else fitted


def _fit(samples: list[ArenaSample], build_name: str, overrides: dict) -> dict:
    base = tflm_build(build_name, overrides)
    short = _shortfall(samples, base)
    shared = min(short.values())
    fitted = {
        **overrides,
        "fixed_bytes": max(0, base.fixed_bytes + shared),
        "op_data_bytes": {**base.op_data_bytes,
                          **{k: base.op_data_bytes[k] + s - shared for k, s in short.items()}},
    }
    for _ in range(MAX_ROUNDS):  # alignment can swallow a few bytes: add them back where still short
        short = {k: s for k, s in _shortfall(samples, tflm_build(build_name, fitted)).items() if s > 0}
        if not short:
            return fitted
        fitted["op_data_bytes"] = {**fitted["op_data_bytes"],
                                   **{k: fitted["op_data_bytes"][k] + s for k, s in short.items()}}
    raise RuntimeError(f"the arena fit still under-predicts after {MAX_ROUNDS} rounds: {short}")


def describe(errors_bytes: np.ndarray, measured: np.ndarray) -> str:
    """One line: count, under-predicted count, min / median / max error and the largest relative error."""
    under = int(np.sum(errors_bytes < 0))
    relative = 100 * np.max(np.abs(errors_bytes) / measured)
    return (f"{len(errors_bytes)} arenas: error min {errors_bytes.min():+d} / median "
            f"{int(np.median(errors_bytes)):+d} / max {errors_bytes.max():+d} B, "
            f"max |relative| {relative:.2f} %, "
            + (f"UNDER-PREDICTS {under}" if under else "never under-predicts"))


def report(samples: list[ArenaSample], arena_cfg, holdout: float, seed: int) -> dict:
    """Print the current layout's error, the held-out error of a fit on the rest, and the fit on all;
    return the overrides fitted on all samples."""
    overrides = arena_cfg.get("overrides")
    name, current = str(arena_cfg.build), OmegaConf.to_container(overrides, resolve=True) if overrides else {}
    measured = np.array([s.measured_bytes for s in samples])
    print(f"current layout ({name}{', with its overrides' if current else ''}):")
    print("  " + describe(errors(samples, tflm_build(name, current)), measured))
    train, held = split_holdout(samples, holdout, seed)  # stratified by operator group, as calibrate's
    if held:
        fitted = fit_overrides(train, name, current)
        held_measured = np.array([s.measured_bytes for s in held])
        print(f"fitted on {len(train)}, held out {len(held)} (seed {seed}):")
        print("  held-out: " + describe(errors(held, tflm_build(name, fitted)), held_measured))
    fitted = fit_overrides(samples, name, current)
    print("fitted on all:")
    print("  " + describe(errors(samples, tflm_build(name, fitted)), measured))
    print(f"  overrides: {fitted}")
    return fitted


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    args = fit_command_parser(__doc__.split("\n\n")[0], "the fitted cost.arena.overrides").parse_args(argv)
    check_holdout(args.holdout)
    mcu = load_config("search", args.overrides).mcu
    fitted = report(measured_arenas(mcu, args.records), mcu.cost.arena, args.holdout, args.seed)
    if args.write:
        changes = {"cost.arena.overrides": fitted} | runtime_from_command_line(args.overrides, mcu)
        path = store_board_settings(str(mcu.name), changes)
        print(f"wrote cost.arena.overrides into {path}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    main()
