"""The firmware in QEMU: build time per core (cold and cached), flash and RAM, LUT profiling rate over the
pty, arena predicted vs firmware-reported per model, invoke instruction counts vs the sum of the per-op
counts, and the cycles-per-instruction study against the measured NUCLEO-L552 and F446RE operators.

    .venv/bin/python bench/firmware.py [--sections build,link,models,cpi] [--entries 10] [--cpi-ops 200]
        [--again]

Needs the pinned sources (MICRONAS_TFLM_SOURCES, else ../shared/vendor/tflm-sources), Debian's
arm-none-eabi toolchain and qemu-system-arm; the CPI study needs ../shared/reference/mcu-measurements.
Finished sections, and each finished core of the build section, are kept in
$MICRONAS_DATA_DIR/bench/firmware.json (default data/) and skipped on a re-run (--again redoes them); the
CPI study's QEMU counts are a resumable table beside it.
QEMU counts instructions: no figure here is a board's time except the measured cycles of the study.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"
os.environ.setdefault("MICRONAS_TFLM_SOURCES", str(SHARED / "vendor" / "tflm-sources"))

import numpy as np  # noqa: E402

from micronas.config import load_config  # noqa: E402
from micronas.cost.calibrate import learning_curve, stratified_sample  # noqa: E402
from micronas.cost.enumerate import enumerate_ops  # noqa: E402
from micronas.cost.graph import op_graph  # noqa: E402
from micronas.cost.lut import DeviceIdentity, LookupTable  # noqa: E402
from micronas.cost.memory import estimate_arena, tflm_build  # noqa: E402
from micronas.firmware.build import CORES, build  # noqa: E402
from micronas.hardware.qemu import QemuDevice  # noqa: E402
from micronas.profiling.cpi import board_entries, matched_pairs, sample_sizes_curve  # noqa: E402
from micronas.profiling.profile import profile_ops, single_op_tflite  # noqa: E402
from micronas.space.searchspace import SearchSpace  # noqa: E402

DATA = Path(os.environ.get("MICRONAS_DATA_DIR", REPO / "data")) / "bench"
RESULTS = DATA / "firmware.json"
BOARDS = {"nucleo_l552": "m33", "nucleo_f446re": "m4"}  # measured board -> the QEMU core of its CPU


def bench_build(kept: dict, save) -> dict:
    """Cold build (empty cache) and cached build of each core; flash and RAM of the image. Each finished
    core is saved at once (`save`) and a core in `kept` is not built again, so a cut run resumes."""
    out = dict(kept)
    for core in CORES:
        if core in out:
            print(f"  {core}: kept {out[core]}")
            continue
        load_before = os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as cache:
            os.environ["MICRONAS_CACHE_DIR"] = cache
            start = time.monotonic()
            firmware = build(core)
            cold = time.monotonic() - start
            start = time.monotonic()
            build(core)
            cached = time.monotonic() - start
            del os.environ["MICRONAS_CACHE_DIR"]
        load = (round(load_before, 2), round(os.getloadavg()[0], 2))
        out[core] = {"cold_s": round(cold, 1), "cached_s": round(cached, 3),
                     "flash_bytes": firmware.flash_bytes, "ram_bytes": firmware.ram_bytes,
                     "load_1min_before_after": load}
        save(out)
        print(f"  {core}: cold {cold:6.1f} s, cached {cached:.3f} s, flash {firmware.flash_bytes} B, "
              f"RAM {firmware.ram_bytes} B (1 MiB arena, 64 KiB results); load average {load[0]} -> "
              f"{load[1]}")
    return out


def bench_link(entries: int) -> dict:
    """LUT entries per minute over QEMU's pty: conversion apart, then upload + RUN(2, 10) per entry."""
    cfg = load_config("search", ["mcu=qemu_m33", "dataset=basicmotions"])
    ops = enumerate_ops(SearchSpace.from_config(cfg))
    ops = [ops[round(i * (len(ops) - 1) / (entries - 1))] for i in range(entries)]
    start = time.monotonic()
    models = [single_op_tflite(op) for op in ops]
    convert = (time.monotonic() - start) / entries
    seconds = []
    with QemuDevice("m33") as device:
        for model in models:
            start = time.monotonic()
            device.load(model)
            device.run(2, 10)
            seconds.append(time.monotonic() - start)
        stats = device.stats
    median = statistics.median(seconds)
    print(f"  {entries} entries: board {median:.2f} s/entry median ({60 / median:.0f} entries/min), conversion "
          f"{convert:.2f} s/entry, with it {60 / (median + convert):.0f} entries/min; "
          f"retransmissions {stats.retransmissions} in {stats.requests} requests")
    return {"entries": entries, "board_s_median": median, "convert_s_mean": convert,
            "entries_per_min": 60 / median, "entries_per_min_with_conversion": 60 / (median + convert),
            "retransmissions": stats.retransmissions, "requests": stats.requests}


def bench_models(cores) -> dict:
    """The export tests' four architectures on each core: arena vs prediction, invoke vs per-op counts."""
    from micronas.export.pipeline import export_network
    from tests.export.helpers import noise_windows, random_network
    from tests.export.test_export import CASES

    exported = {}
    with tempfile.TemporaryDirectory() as folder:
        for seed, (name, make) in enumerate(CASES.items()):
            arch = make()
            exported[name] = (arch, export_network(random_network(arch, seed), noise_windows(arch, 100, seed),
                                                   Path(folder) / name).tflite)
    out = {}
    for core in cores:
        rows = {}
        with QemuDevice(core) as device:
            for name, (arch, model) in exported.items():
                report = device.load(model)
                m = device.run(2, 5)
                predicted = estimate_arena(op_graph(arch), tflm_build("32bit-cmsis-nn")).arena_bytes
                invoke = statistics.median(m.invoke_ticks)
                ops = statistics.median(sum(o) for o in m.op_ticks)
                rows[name] = {"arena_reported": report.arena_used_bytes, "arena_predicted": predicted,
                              "invoke_instructions": invoke, "sum_op_instructions": ops, "n_ops": report.n_ops}
                print(f"  {core} {name:22s} arena {report.arena_used_bytes:6d} B reported, {predicted:6d} B "
                      f"predicted ({predicted - report.arena_used_bytes:+d}); invoke {invoke / 1e6:8.3f} M instr, "
                      f"sum of {report.n_ops} ops {ops / 1e6:8.3f} M ({100 * (invoke - ops) / invoke:.3f} % overhead)")
        out[core] = rows
    return out


def bench_cpi(board: str, count: int) -> dict:
    """CPI fitted on 10/30/100 measured ops (median of 5 draws) vs today's predictor, on the same held-out half."""
    core = BOARDS[board]
    cfg = load_config("search", [f"mcu=qemu_{core}"])
    clock = int(load_config("search", [f"mcu={board}"]).mcu.clock_hz)
    records = SHARED / "reference" / "mcu-measurements" / board
    chosen = stratified_sample(board_entries(records, clock), count, np.random.default_rng(0))
    table = LookupTable(DATA / f"cpi_qemu_{core}.jsonl", DeviceIdentity.from_mcu(cfg.mcu))
    with QemuDevice(core) as device:
        profile_ops([e.op for e in chosen], device, table, warmups=1, repeats=1)
    kept = [entry for entry in chosen if table.get(entry.op) is not None]
    pairs = matched_pairs(kept, {entry.op.key(): table.get(entry.op) for entry in kept})
    order = np.random.default_rng(1).permutation(len(pairs))
    train, heldout = [pairs[i] for i in order[::2]], [pairs[i] for i in order[1::2]]
    cpi_curve = sample_sizes_curve(train, heldout)
    predictor_curve = learning_curve([kept[i] for i in order[::2]], [kept[i] for i in order[1::2]], "extended", clock)
    print(f"  {board} (QEMU {core}): {len(pairs)} ops, {len(heldout)} held out")
    for (size, cpi), (n, pred) in zip(cpi_curve, predictor_curve):
        print(f"    fit on {size:3d}: CPI MAPE {cpi['mape_pct']:6.2f} % R^2 {cpi['r2']:.4f} | predictor (n={n}) "
              f"MAPE {pred['mape_pct']:6.2f} % R^2 {pred['r2']:.4f}")
    return {"ops": len(pairs), "heldout": len(heldout), "cpi": cpi_curve, "predictor": predictor_curve}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", default="build,link,models,cpi")
    parser.add_argument("--entries", type=int, default=10)
    parser.add_argument("--cpi-ops", type=int, default=200)
    parser.add_argument("--again", action="store_true", help="redo sections already in the results file")
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}

    def save(name: str, value) -> None:
        results[name] = value
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")

    jobs = {
        "build": lambda: bench_build({} if args.again else results.get("build", {}),
                                     lambda rows: save("build", rows)),
        "link": lambda: bench_link(args.entries),
        "models": lambda: bench_models(("m33", "m4", "m7")),
        "cpi": lambda: {board: bench_cpi(board, args.cpi_ops) for board in BOARDS},
    }
    for name in args.sections.split(","):
        print(f"== {name}")
        finished = name in results and (name != "build" or set(CORES) <= set(results["build"]))
        if finished and not args.again:
            print(f"  kept from {RESULTS}: {json.dumps(results[name])[:400]}")
            continue
        save(name, jobs[name]())


if __name__ == "__main__":
    main()
