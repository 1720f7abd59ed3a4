"""Sweep figures: wall time of a 4-job sweep per launcher, and the Pareto points per search method.

    .venv/bin/python bench/sweep.py [--repeats 1] [--timing-epochs 20] [--budgets 0.25,1] [--seeds 0]
                                    [--skip-timing] [--skip-pareto]

1. `search.py -m constraints.latency=7,10,20,40 search.epochs=20` with the basic launcher (one job after
   another), with `hydra/launcher=joblib hydra.launcher.n_jobs=2` (two processes on this 2-core machine)
   and with `hydra/launcher=ray` (a local Ray instance): wall time of each, median of `--repeats` runs,
   and the ratio sequential / parallel. (With 1 epoch a job is ~5 s of work and the ratio measures the
   start-up of the worker processes, not the parallel speed-up.)
2. On basicmotions and japanesevowels, `search=dnas,darts,random` under the same latency budgets on
   `mcu=host`, each found network retrained, exported to int8 and measured in tflite-micro
   (`retrain=true`, the default recipes): the Pareto points of int8 test accuracy vs measured latency
   and vs measured arena per method, as `python -m micronas.report` computes them from the sweep's
   parent run, then per method and budget the mean and spread over `--seeds` (e.g. `--seeds 0,1,2`,
   one search and one retraining per seed). The host latency table is profiled first into
   `--data-dir` (it resumes; entries persist).
The MLflow store and sweep dirs are in a temporary folder; the command lines are printed.
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
LAUNCHERS = {"sequential (basic)": [],
             "joblib n_jobs=2": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
             "ray (local)": ["hydra/launcher=ray", "+hydra.launcher.ray.init.num_cpus=2"]}


def run(command: list[str], folder: Path, data_dir: Path) -> float:
    """Run `command` in `folder`; return its wall seconds (exit with its stderr if it fails)."""
    print("$ " + " ".join(command[1:]), flush=True)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True,
                            env={**os.environ, "MICRONAS_DATA_DIR": str(data_dir)})
    if result.returncode != 0:
        sys.exit(f"{command[1]} failed:\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def sweep(folder: Path, data_dir: Path, name: str, overrides: list[str]) -> tuple[float, Path]:
    """Run `search.py -m overrides` into `folder/name`; return (wall seconds, sweep dir)."""
    sweep_dir = folder / name
    command = [sys.executable, str(ROOT / "search.py"), "-m", *overrides, *QUIET, f"hydra.sweep.dir={sweep_dir}"]
    return run(command, folder, data_dir), sweep_dir


def timing(folder: Path, data_dir: Path, repeats: int, epochs: int) -> None:
    budgets = ["dataset=basicmotions", f"search.epochs={epochs}", "constraints.latency=7,10,20,40"]
    medians = {}
    for label, extra in LAUNCHERS.items():
        times = [sweep(folder, data_dir, f"timing-{label.split()[0]}-{i}", budgets + extra)[0]
                 for i in range(repeats)]
        medians[label] = statistics.median(times)
        print(f"{label:20s} median {medians[label]:6.1f} s over {repeats} runs: "
              + ", ".join(f"{t:.1f}" for t in times))
    sequential = medians["sequential (basic)"]
    for label in list(LAUNCHERS)[1:]:
        print(f"4-job sweep, {epochs} search epochs: sequential / {label} = {sequential / medians[label]:.2f}x")
    print()


def _stdev(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def seed_spread(points: list) -> list[str]:
    """Per method and budget: mean and sample standard deviation over seeds of accuracy and latency."""
    groups = {}
    for p in points:
        groups.setdefault((p.method, p.budget_label), []).append(p)
    lines = []
    for (method, budget), group in sorted(groups.items()):
        acc = [100 * p.accuracy for p in group]
        latency = [p.latency_ms for p in group]
        lines.append(f"  {method:7s} {budget:18s} n={len(group)}  acc {statistics.mean(acc):6.2f} +- "
                     f"{_stdev(acc):5.2f} %  latency {statistics.mean(latency):8.3f} +- {_stdev(latency):6.3f} ms")
    return lines


def pareto(folder: Path, data_dir: Path, budgets: str, seeds: str) -> None:
    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    for dataset in ("basicmotions", "japanesevowels"):
        profile = [sys.executable, "-m", "micronas.profiling.profile", "mcu=host", f"dataset={dataset}"]
        run(profile, folder, data_dir)
        overrides = [f"dataset={dataset}", "mcu=host", "search=dnas,darts,random",
                     f"constraints.latency={budgets}", f"seed={seeds}", "retrain=true",
                     "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
        seconds, sweep_dir = sweep(folder, data_dir, f"pareto-{dataset}", overrides)
        parent = (sweep_dir / PARENT_RUN_FILE).read_text().strip()
        report = write_report(client, parent, sweep_dir / "report")
        print(f"== {dataset} ({seconds:.0f} s)")
        print(format_report(report))
        print("all points (method, budget, int8 test acc, measured latency ms / arena kB, predicted latency ms):")
        for p in sorted(report.points, key=lambda p: (p.method, p.latency_ms)):
            print(f"  {p.method:7s} {p.budget_label:18s} {100 * p.accuracy:6.2f} %  "
                  f"{p.latency_ms:8.3f} ms  {p.arena_bytes / 1024:7.2f} kB  predicted {p.predicted_latency_ms:8.3f} ms")
        print(f"over seeds {seeds} (int8 test accuracy, measured latency):")
        print("\n".join(seed_spread(report.points)) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=1, help="timed runs of each launcher")
    parser.add_argument("--timing-epochs", type=int, default=20, help="search epochs of each timed job")
    parser.add_argument("--budgets", default="0.25,1", help="latency budgets (ms on mcu=host) of the Pareto sweeps")
    parser.add_argument("--seeds", default="0", help="seeds of the Pareto sweeps, e.g. 0,1,2")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("MICRONAS_DATA_DIR", ROOT / "data")),
                        help="datasets and the host latency table (default: $MICRONAS_DATA_DIR or ./data)")
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--skip-pareto", action="store_true")
    args = parser.parse_args()
    data_dir = args.data_dir.resolve()
    with tempfile.TemporaryDirectory() as folder:
        if not args.skip_timing:
            timing(Path(folder), data_dir, args.repeats, args.timing_epochs)
        if not args.skip_pareto:
            pareto(Path(folder), data_dir, args.budgets, args.seeds)


if __name__ == "__main__":
    main()
