"""Deployment figures: predicted vs measured on the host, and int8 accuracy floors.

    .venv/bin/python bench/deploy.py [--archs 20] [--candidates 3] [--skip-accuracy] [--skip-latency]

1. mcu=host, BasicMotions: `--archs` random architectures, briefly retrained (3 epochs; latency and
   arena do not depend on the weights), exported with micronas.export and measured on the in-process
   tflite-micro device. Predicted (host LUT sum + per-invoke overhead; TFLM arena emulation; flash
   model) beside measured (the host config's latency statistic, the fastest of the timed runs as the
   host LUT uses; TFLM's recording allocator; the .tflite size). Prints MAPE, per-model rows and the
   arena error distribution. Ops missing from the host LUT of conf/mcu/host.yaml are profiled first.
2. Floors: for BasicMotions and JapaneseVowels, `constraints.latency` = the middle of the space's
   latency range on nucleo_l552 (cost model, exact DP extremes); `--candidates` random architectures
   whose predicted L552 latency meets it are retrained with the full docs/method.md §9 recipe (200 epochs,
   early stopping on arch-val, patience 20), the one with the best arch-val accuracy (never test) is
   kept, and its float and int8 (tflite-micro) test accuracy, macro-F1 and drop are printed.
"""

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from micronas.config import load_config  # noqa: E402
from micronas.cost.extremes import cost_range  # noqa: E402
from micronas.cost.lut import DeviceIdentity, LookupTable  # noqa: E402
from micronas.cost.model import CostModel  # noqa: E402
from micronas.data import make_datamodule  # noqa: E402
from micronas.fitting.classifier import evaluate  # noqa: E402
from micronas.hardware.open import open_device  # noqa: E402
from micronas.profiling.profile import profile_ops  # noqa: E402
from micronas.space import Architecture, SearchSpace  # noqa: E402
from micronas.train.costs import MeasuredCosts, comparison, measure_model  # noqa: E402
from micronas.train.int8 import drop_points, export_and_score  # noqa: E402
from micronas.train.retrain import train_repeat  # noqa: E402
from micronas.train.settings import Retraining  # noqa: E402

BRIEF_EPOCHS = 3
MEASURE_REPEATS = 30


def host_latency_and_arena(count: int, work: Path) -> None:
    cfg = load_config("train", ["mcu=host", "dataset=basicmotions", f"retraining.max_epochs={BRIEF_EPOCHS}"])
    recipe = Retraining.from_config(cfg.retraining)
    dm = make_datamodule(cfg)
    dm.setup()
    space = SearchSpace(*dm.input_shape, dm.num_classes)
    rng = np.random.default_rng(6)
    archs = [Architecture.random(space, rng) for _ in range(count)]
    ops = list({op.key(): op for arch in archs for op in arch.ops()}.values())
    start = time.time()
    with open_device(cfg.mcu) as device:
        added = profile_ops(ops, device, LookupTable(cfg.mcu.cost.lut_path, DeviceIdentity.from_mcu(cfg.mcu)))
    print(f"== 1. mcu=host, BasicMotions: predicted vs measured over {count} retrained architectures")
    print(f"  profiled {added} missing host LUT entries of {len(ops)} in {time.time() - start:.0f} s "
          f"({cfg.mcu.cost.lut_path})")
    cost_model = CostModel.from_mcu(cfg.mcu)
    representative = dm.representative_windows(recipe.representative_windows)
    rows, shares = [], []
    print(f"  {'#':>3s} {'pred ms':>9s} {'meas ms':>9s} {'median':>9s} {'err %':>7s} "
          f"{'pred arena':>10s} {'meas arena':>10s} {'pred flash':>10s} {'meas flash':>10s}")
    for index, arch in enumerate(archs):
        trained = train_repeat(arch, dm, recipe, index, work / f"host{index}" / "checkpoints")
        exported, _ = export_and_score(trained.net, representative, {}, dm.num_classes, work / f"host{index}")
        record = measure_model(cfg.mcu, exported.tflite, 2, MEASURE_REPEATS)
        measured = MeasuredCosts.from_record(record, cost_model.statistic)
        predicted = cost_model.predict(arch)
        row = {r["cost"]: r for r in comparison(predicted, measured)}
        rows.append(row)
        shares.append(predicted.predicted_share)
        print(f"  {index:3d} {predicted.latency_ms:9.4f} {measured.latency_ms:9.4f} "
              f"{measured.latency_median_ms:9.4f} {row['latency']['error_pct']:+7.2f} "
              f"{predicted.arena_bytes:10d} {measured.arena_bytes:10d} "
              f"{predicted.flash_bytes:10d} {measured.flash_bytes:10d}")
    for name, unit in (("latency", "ms"), ("arena", "B"), ("flash", "B")):
        errors = [abs(r[name]["error_pct"]) for r in rows]
        diffs = [r[name]["predicted"] - r[name]["measured"] for r in rows]
        exact = sum(d == 0 for d in diffs)
        print(f"  {name:8s} MAPE {statistics.fmean(errors):6.2f} %  max |err| {max(errors):6.2f} %  "
              f"median diff {statistics.median(diffs):+.4g} {unit}  exact {exact}/{len(rows)}")
    print(f"  latency: {cost_model.statistic} of {MEASURE_REPEATS} timed runs after 2 warm-ups "
          f"(the host LUT's statistic); predicted share of op time max {100 * max(shares):.0f} %")


def accuracy_floor(dataset: str, candidates: int, work: Path) -> None:
    l552 = load_config("train", ["mcu=nucleo_l552", f"dataset={dataset}"])
    cfg = load_config("train", [f"dataset={dataset}"])
    recipe = Retraining.from_config(cfg.retraining)
    dm = make_datamodule(cfg)
    dm.setup()
    space = SearchSpace(*dm.input_shape, dm.num_classes)
    l552_costs = CostModel.from_mcu(l552.mcu)
    low, high = cost_range(space, l552_costs)["latency"]
    budget = (low.value + high.value) / 2
    rng = np.random.default_rng(0)
    chosen = []
    while len(chosen) < candidates:
        arch = Architecture.random(space, rng)
        if l552_costs.predict(arch).latency_ms <= budget:
            chosen.append(arch)
    print(f"== 2. {dataset} ({dm.protocol}): constraints.latency={budget:.2f} ms on nucleo_l552 "
          f"(middle of {low.value:.2f} .. {high.value:.2f} ms); {candidates} feasible random candidates, "
          f"full recipe (<= {recipe.max_epochs} epochs, patience {recipe.patience})")
    results = []
    for index, arch in enumerate(chosen):
        start = time.time()
        folder = work / f"{dataset}{index}" / "checkpoints"
        trained = train_repeat(arch, dm, recipe, int(cfg.seed), folder)
        val = evaluate(trained.net, dm.val_dataloader(), dm.num_classes)
        results.append((val.accuracy, -trained.arch_val_loss, index, arch, trained))
        print(f"  candidate {index}: L552 {l552_costs.predict(arch).latency_ms:.2f} ms, best epoch "
              f"{trained.best_epoch}, arch-val acc {100 * val.accuracy:.2f} % ({time.time() - start:.0f} s)")
    _, _, index, arch, trained = max(results, key=lambda r: r[:3])
    test = evaluate(trained.net, dm.test_dataloader(), dm.num_classes)
    representative = dm.representative_windows(recipe.representative_windows)
    exported, int8 = export_and_score(
        trained.net, representative, {"test": dm.test_dataset}, dm.num_classes, work / f"{dataset}{index}"
    )
    print(f"  selected candidate {index} (best arch-val accuracy): test float {100 * test.accuracy:.2f} % "
          f"(macro-F1 {test.macro_f1:.3f}), int8 {100 * int8['test'].accuracy:.2f} % "
          f"(macro-F1 {int8['test'].macro_f1:.3f}), drop {drop_points(test, int8['test']):+.2f} points, "
          f"{exported.flash_bytes} B flash")


def main() -> None:
    parser = argparse.ArgumentParser(description="deployment figures")
    parser.add_argument("--archs", type=int, default=20)
    parser.add_argument("--candidates", type=int, default=3)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("pytorch_lightning", "lightning.pytorch", "tensorflow", "micronas.cost.model"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as folder:
        if not args.skip_latency:
            host_latency_and_arena(args.archs, Path(folder))
        if not args.skip_accuracy:
            for dataset in ("basicmotions", "japanesevowels"):
                accuracy_floor(dataset, args.candidates, Path(folder))


if __name__ == "__main__":
    sys.exit(main())
