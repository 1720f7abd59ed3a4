"""Cost-model figures: every estimator error the cost model is judged by, each printed with what produced it.

    .venv/bin/python bench/cost.py [--reference DIR] [--quick] [--host-latency [DATASET ...]]

1. Latency predictor (per board, reference records): hold-out and 5-fold CV, plain vs extended features
   (the full report with learning curves: `python -m micronas.cost.calibrate mcu=NAME --records DIR`).
2. Arena on the host: the emulated arena vs the arena tflite-micro reports, for random architectures
   over the bundled BasicMotions, UCI-HAR and SkodaR shapes (exported with micronas.export).
3. Arena on the boards: single-op predictions vs the measured `kTensorAreaUsed`, with the derived
   32-bit layout and with the layout calibrated on the L552 (its error on the F446RE is out of sample).
4. Flash: predicted vs real `.tflite` bytes of the same exported models.
5. Arena map (docs/method.md §6.3, differentiable): its error against the emulated arena.
6. End-to-end host latency (`--host-latency [DATASET ...]` runs only this, resumable under
   data/bench/host_latency): for BasicMotions, JapaneseVowels and UCI-HAR rebuilt from HAPT raw, 30
   architectures each, two independent host tables of their operators and two measurements of every
   network, all under the timing protocol of docs/latency.md: MAPE and worst error per table and
   measurement, the measurement's own spread and the entry-wise spread between the tables.
7. Latency and peak range of the UCI-HAR space on the L552 (cheapest and most expensive architecture).
"""

import argparse
import logging
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from micronas.config import load_config  # noqa: E402
from micronas.cost.calibrate import (  # noqa: E402
    cross_validated_predictions,
    load_entries,
    split_holdout,
    summarise,
)  # noqa: E402
from micronas.cost.expected import ExpectedCosts  # noqa: E402
from micronas.cost.extremes import extreme  # noqa: E402
from micronas.cost.graph import single_op_graph  # noqa: E402
from micronas.cost.lut import DeviceIdentity, LookupTable  # noqa: E402
from micronas.cost.memory import estimate_arena, tflm_build  # noqa: E402
from micronas.cost.model import CostModel  # noqa: E402
from micronas.cost.predictor import LatencyPredictor  # noqa: E402
from micronas.cost.reference_records import load_records, record_op  # noqa: E402
from micronas.fit_metrics import error_summary, format_summary  # noqa: E402
from micronas.profiling.profile import profile_ops  # noqa: E402
from micronas.space import Architecture, DiscreteNet, SearchSpace  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_REFERENCE = REPO.parent / "shared/reference/mcu-measurements"
BOARDS = ("nucleo_l552", "nucleo_f446re")
SHAPES = {"basicmotions": (100, 6, 4), "ucihar": (128, 9, 6), "skodar": (64, 30, 10)}


def distribution(label: str, errors) -> None:
    errors = np.asarray(errors, dtype=float)
    print(
        f"  {label}: n={errors.size} exact={np.mean(errors == 0) * 100:.0f}% median={np.median(errors):+.1f} "
        f"min={errors.min():+.1f} max={errors.max():+.1f} mean|err|={np.abs(errors).mean():.1f} bytes"
    )


def predictor_figures(reference: Path) -> None:
    print("== 1. latency predictor, reference records (ms; hold-out 20 % stratified, seed 0)")
    for board in BOARDS:
        mcu = load_config("search", [f"mcu={board}"]).mcu
        entries = load_entries(mcu, str(reference / board))
        train, heldout = split_holdout(entries, 0.2, 0)
        for features in ("plain", "extended"):
            predictor = LatencyPredictor.fit(train, features, int(mcu.clock_hz))
            held = summarise(heldout, {e.op.key(): predictor.predict_ms(e.op) for e in heldout})["overall"]
            cv = summarise(entries, cross_validated_predictions(entries, features, int(mcu.clock_hz)))[
                "overall"
            ]
            print(f"  {board:14s} {features:8s} hold-out {format_summary(held)}")
            print(f"  {'':14s} {'':8s} 5-fold   {format_summary(cv)}")


def export(arch: Architecture, rng) -> bytes:
    from micronas.export.convert import to_int8_tflite
    from micronas.export.keras_model import to_keras

    t, s = arch.input_shape
    return to_int8_tflite(
        to_keras(DiscreteNet(arch).eval()), rng.normal(size=(8, t, s, 1)).astype(np.float32)
    )


def host_arena_and_flash(count_per_shape: dict[str, int]) -> list[tuple[Architecture, bytes]]:
    from micronas.export.tflm import TflmRunner

    print("== 2. arena on the host: emulated vs tflite-micro's recording allocator (bytes)")
    host = CostModel.from_mcu(load_config("search", ["mcu=host"]).mcu)
    rng = np.random.default_rng(2024)
    exported, errors, flash_errors, peaks = [], {}, [], []
    for name, count in count_per_shape.items():
        space = SearchSpace(*SHAPES[name])
        for _ in range(count):
            arch = Architecture.random(space, rng)
            model = export(arch, rng)
            measured = TflmRunner(model).arena_bytes
            predicted = host.arena(arch)
            errors.setdefault(name, []).append(predicted.arena_bytes - measured)
            flash_errors.append((host.flash_bytes(arch), len(model)))
            peaks.append(predicted.peak_bytes / measured)
            exported.append((arch, model))
    for name, errs in errors.items():
        distribution(f"{name:12s} {SHAPES[name]}", errs)
    distribution("all          ", [e for errs in errors.values() for e in errs])
    print(f"  (the live-set peak alone is {np.median(peaks) * 100:.0f} % of the arena, median)")
    print("== 4. flash: predicted vs .tflite bytes of the same models")
    predicted, real = zip(*flash_errors)
    print(f"  {format_summary(error_summary(real, predicted), 'B')}")
    return exported


def board_arena(reference: Path) -> None:
    print("== 3. arena on the boards: single-op prediction vs kTensorAreaUsed (bytes)")
    calibrated = load_config("search", ["mcu=nucleo_l552"]).mcu.cost.arena
    builds = {
        "derived 32-bit layout": tflm_build("32bit-cmsis-nn"),
        "calibrated on L552": tflm_build(calibrated.build, dict(calibrated.overrides)),
    }
    for board in BOARDS:
        records = [
            (record_op(r["modelConfig"]), int(r["memory"]["kTensorAreaUsed"]))
            for _, r in load_records(reference / board)
            if "memory" in r
        ]
        for label, build in builds.items():
            errors = [
                estimate_arena(single_op_graph(op, add_inputs=2), build).arena_bytes - measured for op, measured in records
            ]
            relative = [100 * e / m for e, (_, m) in zip(errors, records)]
            distribution(f"{board:14s} {label:22s}", errors)
            print(f"  {'':14s} {'':22s} max |relative| {max(map(abs, relative)):.2f} %")


def arena_map_figures() -> None:
    print("== 5. differentiable arena map (docs/method.md §6.3) vs the emulated arena, 200 random networks")
    for board in BOARDS:
        cost_model = CostModel.from_mcu(load_config("search", [f"mcu={board}"]).mcu)
        for name in ("ucihar", "skodar"):
            space = SearchSpace(*SHAPES[name])
            expected = ExpectedCosts(space, cost_model)
            rng = np.random.default_rng(7)
            archs = [Architecture.random(space, rng) for _ in range(200)]
            mapped = [float(expected(a.one_hot())["memory"]) for a in archs]
            exact = [cost_model.arena(a).arena_bytes for a in archs]
            print(f"  {board:14s} {name:7s} {format_summary(error_summary(exact, mapped), 'B')}")


HOST_STUDY = REPO / "data/bench/host_latency"
HAPT = REPO.parent / "shared/datasets/ucihar_hapt/ucihar_hapt.npz"
STUDY_SETS = {  # name: (space, label)
    "basicmotions": ((100, 6, 4), "BasicMotions"),
    "japanesevowels": ((25, 12, 9), "JapaneseVowels"),
    "ucihar_hapt": ((128, 9, 6), "UCI-HAR rebuilt from HAPT raw (ucihar_hapt.npz)"),
}


def _study_archs(space: SearchSpace, count: int, seed: int) -> list[Architecture]:
    """`count` architectures: the space's cheapest and most expensive by the nucleo_l552 cost model (the
    narrowest and widest networks; the host's own table would need the whole space profiled), then
    random ones."""
    rng = np.random.default_rng(seed)
    l552 = CostModel.from_mcu(load_config("search", ["mcu=nucleo_l552"]).mcu)
    archs = [extreme(space, l552, "latency", cheap).arch for cheap in (True, False)]
    while len(archs) < count:
        archs.append(Architecture.random(space, rng))
    return archs


def _stored(path: Path, compute):
    """The JSON at `path`, or `compute()` written there first (a re-run skips finished steps)."""
    import json

    if path.is_file():
        return json.loads(path.read_text())
    value = compute()
    path.write_text(json.dumps(value))
    return value


def host_latency_study(name: str, count: int) -> dict | None:
    """Two independent host tables of the ops of `count` architectures of `name`'s space, each network
    measured twice under the timing protocol; every finished step is kept under data/bench/host_latency."""
    from micronas.cost.lut import timing_for
    from micronas.hardware.local_device import LocalTflmDevice
    from micronas.timing import time_models

    shape, label = STUDY_SETS[name]
    if name == "ucihar_hapt" and not HAPT.is_file():
        print(f"  {label}: {HAPT} not found, skipped")
        return None
    folder = HOST_STUDY / name
    (folder / "models").mkdir(parents=True, exist_ok=True)
    space = SearchSpace(*shape)
    archs = _study_archs(space, count, 17)
    tables = {}
    with LocalTflmDevice() as device:
        for side in ("a", "b"):
            mcu = load_config("search", ["mcu=host", f"mcu.cost.lut_path={folder / f'lut_{side}.jsonl'}"]).mcu
            table = LookupTable(mcu.cost.lut_path, DeviceIdentity.from_mcu(mcu), timing_for(mcu))
            ops = list({op.key(): op for arch in archs for op in arch.ops()}.values())
            start = time.time()
            added = profile_ops(ops, device, table)
            print(f"  {label}: table {side}: profiled {added} of {len(ops)} ops in "
                  f"{time.time() - start:.0f} s (load {os.getloadavg()[0]:.2f})", flush=True)
            tables[side] = (CostModel.from_mcu(mcu), archs, mcu)
        rng = np.random.default_rng(3)
        models = []
        for index, arch in enumerate(tables["a"][1]):
            path = folder / "models" / f"{index}.tflite"
            if not path.is_file():
                path.write_bytes(export(arch, rng))
            models.append(path.read_bytes())
        timing = timing_for(tables["a"][2])

        def measure_all() -> dict:
            timed = time_models(device, models, timing)
            return {"load": os.getloadavg()[0], "ms": [t.latency_ms for t in timed],
                    "spread_ms": [t.spread_ms for t in timed]}

        passes = [_stored(folder / f"measured_{run}.json", measure_all) for run in (1, 2)]
    return {"label": label, "tables": tables, "passes": passes, "timing": timing}


def _errors(predicted, measured) -> np.ndarray:
    return 100.0 * (np.asarray(predicted) - np.asarray(measured)) / np.asarray(measured)


def print_host_study(study: dict) -> None:
    """MAPE and worst error per (table, measurement), the measurement's own spread between its two
    passes and the entry-wise spread between the two tables."""
    label, tables, passes = study["label"], study["tables"], study["passes"]
    archs = tables["a"][1]
    print(f"  {label}: {len(archs)} architectures (the space's cheapest and most expensive on nucleo_l552, "
          f"then random), protocol {study['timing'].to_dict()}, thread CPU time")
    for side in ("a", "b"):
        predicted = [tables[side][0].predict(arch).latency_ms for arch in archs]
        for run, measured in enumerate(passes, start=1):
            errors = _errors(predicted, measured["ms"])
            print(f"    table {side} vs measurement {run} (load {measured['load']:.2f}): MAPE "
                  f"{np.mean(np.abs(errors)):.2f} %, worst {errors[np.argmax(np.abs(errors))]:+.2f} %, "
                  f"within +-5 %: {np.mean(np.abs(errors) <= 5) * 100:.0f} %, "
                  f"range {min(measured['ms']):.3f} .. {max(measured['ms']):.3f} ms")
    between = _errors(passes[1]["ms"], passes[0]["ms"])
    print(f"    measurement 2 vs 1 (the measurement's own spread): median |d| "
          f"{np.median(np.abs(between)):.2f} %, worst {between[np.argmax(np.abs(between))]:+.2f} %")
    a, b = tables["a"][0].table, tables["b"][0].table
    keys = [k for k in b if k in a]
    entry = np.array([100.0 * (b[k].latency_ms - a[k].latency_ms) / a[k].latency_ms for k in keys])
    iqr = np.array([100.0 * a[k].spread_ms / a[k].latency_ms for k in keys])
    print(f"    entries, table b vs a ({len(keys)} ops): median |d| {np.median(np.abs(entry)):.2f} %, "
          f"p95 {np.percentile(np.abs(entry), 95):.2f} %, worst {entry[np.argmax(np.abs(entry))]:+.2f} %; "
          f"recorded spread (IQR of the round minima) median {np.median(iqr):.2f} %")


def end_to_end_latency(count: int, only: list[str] | None = None) -> None:
    print("== 6. end-to-end host latency: host table sum + overhead vs measured Invoke (docs/latency.md)")
    for name in only or list(STUDY_SETS):
        study = host_latency_study(name, count)
        if study is not None:
            print_host_study(study)


def range_figures() -> None:
    print("== 7. UCI-HAR space on nucleo_l552: cheapest and most expensive (exact dynamic programming)")
    cost_model = CostModel.from_mcu(load_config("search", ["mcu=nucleo_l552"]).mcu)
    space = SearchSpace(*SHAPES["ucihar"])
    for metric, unit in (("latency", "ms"), ("peak", "B"), ("flash", "B")):
        low, high = extreme(space, cost_model, metric, True), extreme(space, cost_model, metric, False)
        note = ""
        if metric == "peak":
            arenas = [cost_model.arena(end.arch).arena_bytes for end in (low, high)]
            note = f" (arena of those: {arenas[0]} .. {arenas[1]} B)"
        print(f"  {metric:8s} {low.value:10.2f} .. {high.value:10.2f} {unit}{note}")


def main() -> None:
    parser = argparse.ArgumentParser(description="cost-model figures")
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    parser.add_argument(
        "--quick", action="store_true", help="fewer exported models (not the recorded figures)"
    )
    parser.add_argument(
        "--host-latency", nargs="*", metavar="DATASET", choices=list(STUDY_SETS),
        help="only section 6 (resumable), for these datasets (default all three)",
    )
    args = parser.parse_args()
    if args.host_latency is not None:
        logging.basicConfig(level=logging.WARNING)
        end_to_end_latency(30, args.host_latency)
        return
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    have_reference = args.reference.is_dir()
    if have_reference:
        predictor_figures(args.reference)
    else:
        print(f"(reference measurements not found at {args.reference}: sections 1 and 3 skipped)")
    counts = (
        {"basicmotions": 2, "ucihar": 4, "skodar": 1}
        if args.quick
        else {"basicmotions": 15, "ucihar": 30, "skodar": 10}
    )
    host_arena_and_flash(counts)
    if have_reference:
        board_arena(args.reference)
    arena_map_figures()
    end_to_end_latency(4 if args.quick else 30)
    range_figures()


if __name__ == "__main__":
    sys.exit(main())
