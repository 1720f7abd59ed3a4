"""Search figures on this CPU.

1. Seconds per search epoch on UCI-HAR-shaped data (128 x 9, 6 classes, batch 64; 7352 training
   windows of which 1050 are arch-val, so 99 weight-training batches per epoch): the median wall time
   of one full DNAS training step (architecture step + weight step, hardware loss for 50 ms on
   nucleo_l552) times the batches per epoch, beside one epoch of training the largest DiscreteNet
   (same data, same batch), and their ratio; the median weight-only (warm-up) step; and the default
   search's projected length with its warm-up for each `--arch-every` k (an architecture step before
   every k-th weight step). Rounds alternate between the kinds of step, so machine load hits all alike.
   On the CPU, one supernet step at temperatures 1, 0.05 and 0.01 with subnormal floats kept and flushed.
2. Constraint adherence on bundled basicmotions for nucleo_l552: full default searches
   under 5 latency and 3 memory budgets spread (log-uniformly) across the space's feasible range; the
   share of DNAS searches whose derived architecture meets its budget by the cost model, beside the
   same for DARTS (one DARTS search: it ignores budgets by construction), with arch-val accuracy.

3. With --random-baseline C,E only: the random baseline's wall time on UCI-HAR rebuilt from HAPT raw
   (C candidates of E epochs each), one candidate at a time on all cores against side by side.

    python bench/search.py [--quick] [--accelerator gpu] [--step-times-only] [--threads N] [--cpu-time]
                           [--arch-every 1,2,3] [--random-baseline 6,5]
    # --quick: 10 search epochs instead of the default; --step-times-only: part 1 only
"""

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from micronas.config import load_config
from micronas.data import make_datamodule
from micronas.cost.expected import ExpectedCosts
from micronas.cost.extremes import extreme
from micronas.cost.model import CostModel
from micronas.search.feasibility import cheapest_figures
from micronas.search.relaxation import ArchitectureLogits
from micronas.search.search_module import SearchModule, budget_targets
from micronas.search.random_search import random_search
from micronas.search.settings import GradientSearch, RandomSearch
from micronas.search.search_run import run_search
from micronas.space import Architecture, DiscreteNet, SearchSpace
from micronas.space.supernet import SuperNet
from micronas.fitting.classifier import ClassifierModule, quiet_lightning
from search_quality import UCIHAR_HAPT  # bench/ is this script's folder

BATCH = 64
TRAIN_WINDOWS, ARCH_VAL_WINDOWS = 7352 - 1050, 1050
WARMUP, REPEATS = 3, 12


class StepTimer(pl.Callback):
    """Wall time of every training step, or this process's CPU time with --cpu-time (steadier on a busy
    machine, and equal to wall time with one thread)."""

    clock = time.perf_counter

    def __init__(self):
        self.times = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.start = self.clock()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.times.append(self.clock() - self.start)


def step_times(module, data: TensorDataset, steps: int, accelerator: str, deterministic: bool) -> list[float]:
    """Step wall times after the first WARMUP (with deterministic algorithms as `conf/trainer` says)."""
    timer = StepTimer()
    with quiet_lightning():
        trainer = pl.Trainer(max_epochs=1, limit_train_batches=steps, logger=False, callbacks=[timer],
                             enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
                             accelerator=accelerator, num_sanity_val_steps=0,
                             deterministic=deterministic)
        trainer.fit(module, torch.utils.data.DataLoader(data, batch_size=BATCH, shuffle=True))
    return timer.times[WARMUP:]


def epoch_seconds(accelerator: str, arch_every: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    space = SearchSpace(128, 9, 6)
    windows = lambda n: TensorDataset(torch.randn(n, 1, 128, 9), torch.randint(0, 6, (n,)))  # noqa: E731
    train, arch_val = windows(BATCH * (WARMUP + REPEATS)), windows(ARCH_VAL_WINDOWS)
    cfg = load_config("search", ["dataset=ucihar", "constraints.latency=50"])
    share = float(cfg.search.warmup_fraction)  # the default warm-up, before the timed modules change it
    cost_model = CostModel.from_mcu(cfg.mcu)
    batches = math.ceil(TRAIN_WINDOWS / BATCH)

    def search_module(warmup_fraction: float):
        cfg.search.warmup_fraction = warmup_fraction
        return SearchModule(space, GradientSearch.from_config(cfg.search), batches * cfg.search.epochs, arch_val,
                            BATCH, 0, budget_targets(dict(cfg.constraints)), ExpectedCosts(space, cost_model))

    deterministic = bool(cfg.trainer.deterministic)  # as a search and a retraining run by default
    full, weight_only, discrete = [], [], []
    for _ in range(2):  # two alternating rounds, so that machine load hits every kind of step alike
        full += step_times(search_module(0.0), train, WARMUP + REPEATS, accelerator, deterministic)
        weight_only += step_times(search_module(0.999), train, WARMUP + REPEATS, accelerator, deterministic)
        discrete += step_times(ClassifierModule(DiscreteNet(Architecture.largest(space))), train,
                               WARMUP + REPEATS, accelerator, deterministic)
    f, w, d = (statistics.median(times) for times in (full, weight_only, discrete))
    print(f"UCI-HAR shape on {accelerator}, batch {BATCH}, {batches} weight-training batches per epoch "
          f"(median of {len(full)} steps each):")
    print(f"  DNAS step (architecture + weight step) {1000 * f:8.1f} ms  -> {f * batches:7.1f} s per epoch")
    print(f"  weight-only step (warm-up)             {1000 * w:8.1f} ms")
    print(f"  largest DiscreteNet step               {1000 * d:8.1f} ms  -> {d * batches:7.1f} s per epoch")
    print(f"  ratio DNAS step / largest-net step: {f / d:.2f}")
    steps = batches * cfg.search.epochs
    for k in arch_every:
        mean_step = share * w + (1 - share) * (f + (k - 1) * w) / k
        print(f"  default search ({cfg.search.epochs} epochs, {share:.0%} warm-up, search.arch_every={k}): "
              f"{mean_step * steps / 60:.1f} min (mean step {1000 * mean_step:.1f} ms, "
              f"{mean_step / d:.2f}x the largest net's)")


def subnormal_steps() -> None:
    """One supernet forward + backward at falling temperatures, with subnormal floats kept and flushed
    (a search flushes them, `FlushDenormals`): low-temperature samples underflow into subnormals."""
    torch.manual_seed(0)
    space = SearchSpace(128, 9, 6)
    net, logits = SuperNet(space), ArchitectureLogits(space, torch.Generator().manual_seed(0))
    with torch.no_grad():  # logits spread as at the end of a search
        for alpha in logits.parameters():
            alpha.normal_(0.0, 2.0)
    x, y = torch.randn(BATCH, 1, 128, 9), torch.randint(0, 6, (BATCH,))
    print("supernet step (forward + backward, batch 64) by temperature, median of 4:")
    for flush in (False, True):
        torch.set_flush_denormal(flush)
        times = {}
        for tau in (1.0, 0.05, 0.01):
            runs = []
            for _ in range(5):
                start = StepTimer.clock()
                F.cross_entropy(net(x, logits.gumbel_sample(tau, detach=True)), y).backward()
                runs.append(StepTimer.clock() - start)
            times[tau] = statistics.median(runs[1:])
        print(f"  subnormals {'flushed' if flush else 'kept   '}: "
              + ", ".join(f"tau {tau}: {1000 * t:6.1f} ms" for tau, t in times.items()))
    torch.set_flush_denormal(False)


def random_baseline_seconds(candidates: int, epochs: int) -> None:
    """Wall time of the random baseline on UCI-HAR rebuilt from HAPT raw, one candidate at a time on every
    core (as before candidates ran side by side) against `search.workers=auto` (one per core)."""
    if not UCIHAR_HAPT.is_file():
        print(f"random baseline: skipped, {UCIHAR_HAPT} is absent")
        return
    cfg = load_config("search", ["search=random", "dataset=npz", f"dataset.path={UCIHAR_HAPT}",
                                 "mcu=nucleo_l552", "constraints.latency=25",
                                 f"search.candidates={candidates}", f"search.epochs={epochs}",
                                 f"search.patience={epochs}"])
    dm = make_datamodule(cfg)
    dm.setup()
    space, cost_model = SearchSpace(*dm.input_shape, dm.num_classes), CostModel.from_mcu(cfg.mcu)
    cores = os.cpu_count() or 1
    print(f"random baseline, UCI-HAR rebuilt from HAPT raw, nucleo_l552 25 ms, {candidates} candidates x "
          f"{epochs} epochs, {cores} cores:")
    seconds, best = {}, {}
    for name, workers, threads in (("one at a time", 1, cores), ("side by side", "auto", 1)):
        cfg.search.workers, cfg.search.threads_per_candidate = workers, threads
        start = time.perf_counter()
        with quiet_lightning():
            result = random_search(space, cost_model, dict(cfg.constraints), dm,
                                   RandomSearch.from_config(cfg.search), 0)
        seconds[name], best[name] = time.perf_counter() - start, result.best.index
        print(f"  {name:13s} (workers {workers}, {threads} thread(s) each): {seconds[name]:7.1f} s, "
              f"best candidate {best[name]}")
    print(f"  side by side is {seconds['one at a time'] / seconds['side by side']:.2f}x faster")


def log_spaced(low: float, high: float, count: int, margin: float = 0.15) -> list[float]:
    """`count` budgets log-uniformly inside (low, high), `margin` of the log range away from both ends."""
    a, b = math.log(low), math.log(high)
    a, b = a + margin * (b - a), b - margin * (b - a)
    return [math.exp(a + (b - a) * i / (count - 1)) for i in range(count)]


def adherence(epochs: int) -> None:
    base = load_config("search", ["dataset=basicmotions", "mcu=nucleo_l552"])
    cost_model = CostModel.from_mcu(base.mcu)
    space = SearchSpace(100, 6, 4)
    cheapest = cheapest_figures(space, cost_model, ["latency", "memory"])
    largest_latency = extreme(space, cost_model, "latency", cheapest=False).value
    largest_arena = cost_model.arena(extreme(space, cost_model, "peak", cheapest=False).arch).arena_bytes / 1024
    budgets = [("latency", round(v, 2)) for v in log_spaced(cheapest["latency"], largest_latency, 5)]
    budgets += [("memory", round(v, 2)) for v in log_spaced(cheapest["memory"], largest_arena, 3)]
    print(f"\nbasicmotions on nucleo_l552, {epochs} search epochs: latency range {cheapest['latency']:.2f}.."
          f"{largest_latency:.1f} ms, arena range {cheapest['memory']:.2f}..{largest_arena:.2f} kB")

    with tempfile.TemporaryDirectory() as folder:
        def search(*overrides):
            cfg = load_config("search", ["dataset=basicmotions", "mcu=nucleo_l552", f"search.epochs={epochs}",
                                         f"logger.tracking_uri=sqlite:///{folder}/mlflow.db",
                                         "trainer.enable_progress_bar=false", *overrides])
            return run_search(cfg, Path(folder) / "_".join(overrides).replace("=", "-"))

        darts = search("search=darts")
        print(f"{'budget':>18} | {'DNAS predicted':>14} {'met':>4} {'val acc':>7} | "
              f"{'DARTS predicted':>15} {'met':>4} {'val acc':>7}")
        met = {"dnas": 0, "darts": 0}
        for name, value in budgets:
            dnas = search(f"constraints.{name}={value}")
            unit = "ms" if name == "latency" else "kB"
            key = "latency_ms" if name == "latency" else "arena_bytes"
            scale = 1 if name == "latency" else 1 / 1024
            row = []
            for method, summary in (("dnas", dnas), ("darts", darts)):
                figure = summary["predicted"][key] * scale
                ok = figure <= value
                met[method] += ok
                row.append(f"{figure:12.2f} {unit} {'yes' if ok else 'NO':>4} {summary['validation']['accuracy']:7.3f}")
            print(f"{name + ' <= ' + format(value, 'g') + ' ' + unit:>18} | {row[0]:>19} | {row[1]:>20}")
        print(f"budgets met: DNAS {met['dnas']}/{len(budgets)}, DARTS {met['darts']}/{len(budgets)} "
              f"(DARTS {darts['predicted']['latency_ms']:.1f} ms, "
              f"{darts['predicted']['arena_bytes'] / 1024:.2f} kB)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10 search epochs instead of the default")
    parser.add_argument("--accelerator", default="cpu", help="cpu or gpu (step times only)")
    parser.add_argument("--step-times-only", action="store_true", help="part 1 only")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--cpu-time", action="store_true", help="time steps in process CPU time")
    parser.add_argument("--random-baseline", metavar="CANDIDATES,EPOCHS",
                        help="only part 3: the random baseline's wall time, e.g. 6,5")
    parser.add_argument("--arch-every", default="1,2,3", help="search.arch_every values to project the default "
                        "search for (comma-separated)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.cpu_time:
        StepTimer.clock = time.process_time
    if args.random_baseline:
        random_baseline_seconds(*(int(n) for n in args.random_baseline.split(",")))
        return
    epoch_seconds(args.accelerator, tuple(int(k) for k in args.arch_every.split(",")))
    if args.accelerator == "cpu":
        subnormal_steps()
    sys.stdout.flush()
    if not args.step_times_only:
        adherence(10 if args.quick else int(load_config("search", []).search.epochs))


if __name__ == "__main__":
    main()
