"""Sweep figures: wall time of a 4-job sweep, sequential vs joblib, and the Pareto points per search method.

    .venv/bin/python bench/sweep.py [--epochs 1] [--candidates 3] [--skip-pareto] [--skip-timing]

1. `search.py -m constraints.latency=7,10,20,40` with the basic launcher (one job after another) and with
   `hydra/launcher=joblib hydra.launcher.n_jobs=2` (two processes on this 2-core machine): wall time of
   each, median of `--repeats` runs, and their ratio.
2. On basicmotions and japanesevowels, `search=dnas,darts,random` under latency budgets of 10 and 40 ms
   (nucleo_l552, predicted costs): the Pareto points of accuracy vs latency and vs arena per method, as
   `python -m micronas.report` computes them from the sweep's parent run.
Everything runs in a temporary folder with its own sqlite MLflow store; the command lines are printed.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlflow import MlflowClient

from micronas.report.build import format_report, write_report
from micronas.tracking.sweep import PARENT_RUN_FILE

ROOT = Path(__file__).resolve().parents[1]
QUIET = ("trainer.enable_progress_bar=false",)


def sweep(folder: Path, name: str, overrides: list[str]) -> tuple[float, Path]:
    """Run `search.py -m overrides` into `folder/name`; return (wall seconds, sweep dir)."""
    sweep_dir = folder / name
    command = [sys.executable, str(ROOT / "search.py"), "-m", *overrides, *QUIET,
               f"hydra.sweep.dir={sweep_dir}"]
    print("$ " + " ".join(command[1:]), flush=True)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True,
                            env={**os.environ, "MICRONAS_DATA_DIR": str(folder / "data")})
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"sweep {name} failed:\n{result.stderr[-3000:]}")
    return seconds, sweep_dir


def timing(folder: Path, epochs: int, repeats: int) -> None:
    budgets = ["dataset=basicmotions", f"search.epochs={epochs}", "constraints.latency=7,10,20,40"]
    launchers = {"sequential (basic)": [],
                 "joblib n_jobs=2": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]}
    medians = {}
    for label, extra in launchers.items():
        times = [sweep(folder, f"timing-{label.split()[0]}-{i}", budgets + extra)[0] for i in range(repeats)]
        medians[label] = statistics.median(times)
        print(f"{label:20s} median {medians[label]:6.1f} s over {repeats} runs: "
              + ", ".join(f"{t:.1f}" for t in times))
    sequential, parallel = medians.values()
    print(f"4-job sweep, {epochs} search epoch(s): sequential / joblib = {sequential / parallel:.2f}x\n")


def pareto(folder: Path, epochs: int, candidates: int) -> None:
    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    for dataset in ("basicmotions", "japanesevowels"):
        overrides = [f"dataset={dataset}", "search=dnas,darts,random", "constraints.latency=10,40",
                     f"search.epochs={epochs}", f"++search.candidates={candidates}",
                     "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
        seconds, sweep_dir = sweep(folder, f"pareto-{dataset}", overrides)
        parent = (sweep_dir / PARENT_RUN_FILE).read_text().strip()
        report = write_report(client, parent, sweep_dir / "report")
        print(f"== {dataset} ({seconds:.0f} s; report in {sweep_dir / 'report'})")
        print(format_report(report) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=1, help="search epochs (random: epochs per candidate)")
    parser.add_argument("--candidates", type=int, default=3, help="random search: candidates trained")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs of each launcher")
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--skip-pareto", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if not args.skip_timing:
            timing(Path(folder), args.epochs, args.repeats)
        if not args.skip_pareto:
            pareto(Path(folder), args.epochs, args.candidates)


if __name__ == "__main__":
    main()
