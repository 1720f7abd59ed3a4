"""Which retraining recipe? Variants of `retraining` compared on arch-val only (never the test split).

Each variant retrains the same found architectures from scratch (the search_quality bench's DNAS
architectures on UCI-HAR rebuilt from HAPT raw at 25 ms, or `--arch` files) with the project's
`train_repeat`, and is scored by arch-val accuracy and plain (unsmoothed) arch-val cross-entropy of the
restored best weights. Printed per variant: mean arch-val accuracy and loss over architectures and
seeds, the epochs trained, and the difference to the baseline. Finished trainings are kept in
`data/bench/recipe.jsonl` (and their weights under `data/bench/recipe/`) and skipped on a re-run.

    python bench/recipe.py [--arch A.json ...] [--variants baseline,jitter_scale,...] [--seeds 0]
"""

import argparse
import json
import os
import statistics
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
UCIHAR_HAPT = Path(os.environ.get("MICRONAS_UCIHAR_HAPT",
                                  REPO.parent / "shared/datasets/ucihar_hapt/ucihar_hapt.npz"))
RESULTS = REPO / "data/bench/recipe.jsonl"
RUNS = REPO / "data/bench/recipe"
FOUND = REPO / "data/bench/search_quality"
VARIANTS = {
    "baseline": [],
    "jitter_scale": ["retraining.augmentation.jitter_std=0.05", "retraining.augmentation.scale_std=0.1"],
    "label_smoothing": ["retraining.label_smoothing=0.1"],
    "plateau": ["retraining.lr_decay=0.5"],
    "both": ["retraining.augmentation.jitter_std=0.05", "retraining.augmentation.scale_std=0.1",
             "retraining.label_smoothing=0.1"],
}


def done() -> dict[str, dict]:
    if not RESULTS.is_file():
        return {}
    return {row["key"]: row for row in map(json.loads, RESULTS.read_text().splitlines()) if row}


def train(arch_path: Path, variant: str, seed: int) -> dict:
    """Retrain `arch_path` under `variant` with `seed`; its arch-val figures."""
    from micronas.config import load_config
    from micronas.data import make_datamodule
    from micronas.fitting.classifier import evaluate
    from micronas.space.architecture import Architecture
    from micronas.train.retrain import train_repeat
    from micronas.train.settings import Retraining

    cfg = load_config("train", ["dataset=npz", f"dataset.path={UCIHAR_HAPT}", "mcu=nucleo_l552",
                                f"arch={arch_path}", f"seed={seed}", *VARIANTS[variant]])
    dm = make_datamodule(cfg)
    dm.setup()
    arch = Architecture.load(arch_path)
    folder = RUNS / f"{arch_path.parents[1].name}_{variant}_seed{seed}"
    trained = train_repeat(arch, dm, Retraining.from_config(cfg.retraining), seed, folder)
    val = evaluate(trained.net, dm.val_dataloader(), arch.num_classes)
    return {"arch_val_accuracy": val.accuracy, "arch_val_macro_f1": val.macro_f1,
            "arch_val_loss": trained.arch_val_loss, "best_epoch": trained.best_epoch}


def table(rows: list[dict], variants: list[str]) -> None:
    """Per variant: means over its runs, and the mean paired difference to the baseline's same runs."""
    print("UCI-HAR rebuilt from HAPT raw: retraining variants on arch-val (mean over networks and seeds)")
    base = {(r["arch"], r["seed"]): r for r in rows if r["variant"] == "baseline"}
    print(f"{'variant':<16} {'n':>2} {'arch-val acc':>12} {'vs baseline':>11} {'arch-val CE':>11} "
          f"{'best epoch':>10}")
    for variant in variants:
        runs = [r for r in rows if r["variant"] == variant]
        if not runs:
            continue
        acc = statistics.mean(r["arch_val_accuracy"] for r in runs)
        paired = [r["arch_val_accuracy"] - base[(r["arch"], r["seed"])]["arch_val_accuracy"]
                  for r in runs if (r["arch"], r["seed"]) in base]
        delta = f"{100 * statistics.mean(paired):+.2f}" if paired else "-"
        print(f"{variant:<16} {len(runs):>2} {100 * acc:>11.2f}% {delta:>11} "
              f"{statistics.mean(r['arch_val_loss'] for r in runs):>11.4f} "
              f"{statistics.median(r['best_epoch'] for r in runs):>10}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", nargs="*", type=Path, help="architecture.json files (default: the "
                        "search_quality bench's DNAS architectures on UCI-HAR at 25 ms)")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--seeds", default="0")
    args = parser.parse_args()
    variants = args.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {', '.join(unknown)}; valid: {', '.join(VARIANTS)}")
    archs = args.arch or sorted(FOUND.glob("ucihar_hapt_dnas_25.0_seed*/search/architecture.json"))
    if not archs:
        parser.error(f"no architectures: run bench/search_quality.py first or pass --arch "
                     f"(looked in {FOUND})")
    finished = done()
    for seed in map(int, args.seeds.split(",")):   # matched pairs first: every variant of one network
        for arch_path in archs:
            for variant in variants:
                key = f"{arch_path.parents[1].name}/{variant}/seed{seed}"
                if key in finished:
                    continue
                row = {"key": key, "variant": variant, "arch": str(arch_path), "seed": seed,
                       **train(arch_path, variant, seed)}
                RESULTS.parent.mkdir(parents=True, exist_ok=True)
                with open(RESULTS, "a") as stream:
                    stream.write(json.dumps(row) + "\n")
                finished[key] = row
                print(json.dumps(row), flush=True)
    table([r for r in finished.values() if r["variant"] in variants], variants)


if __name__ == "__main__":
    main()
