"""Random search under the same limits (docs/method.md §10), the baseline DNAS must beat.

Architectures are drawn uniformly with `Architecture.random` (degenerate cells resampled) from a
generator seeded by `seed`. A draw whose exact predicted costs break a budget is rejected, and so is one
that deploys the same operators as an earlier draw. Each feasible candidate is trained from scratch with
the same seed (`fit_classifier`: early stopping on the arch-val loss, best weights restored), scored on
arch-val (selection) and on test (reported only), and the best by arch-val accuracy is kept (ties: macro-F1,
then the lower arch-val loss; on a small arch-val split accuracy ties often, and a latency tie-break
would hand the choice to the cheapest network).

The draw sequence depends only on the seed, the space and the budgets, so a killed search resumes by
replaying the draws and taking the candidates it already trained from `done` (their `to_dict()` records)
instead of training them again.

Candidates are independent trainings, so `search.workers` processes train them side by side (`auto`:
one per `search.threads_per_candidate` CPU cores). Every candidate trains with the same thread count
whatever the number of workers, so a seed selects the same network with 1 worker or many.
"""

import logging
import math
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass

import numpy as np
import pytorch_lightning as pl
import torch

from micronas.budgets import units
from micronas.console import hide_library_warnings, library_warnings_hidden
from micronas.cost.model import ArchitectureCosts, CostModel
from micronas.errors import ConfigError
from micronas.space.architecture import Architecture
from micronas.space.discrete import DiscreteNet
from micronas.search.settings import RandomSearch
from micronas.space.searchspace import SearchSpace
from micronas.fitting.classifier import evaluate, fit_classifier
from micronas.fitting.trainer import Accelerator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """One feasible architecture, its predicted costs and the scores of its brief training."""

    index: int  # order among the feasible candidates, from 0
    draw: int  # which draw of the generator produced it, from 1
    arch: Architecture
    costs: ArchitectureCosts
    val_loss: float  # best arch-val loss (the restored weights)
    best_epoch: int
    val_accuracy: float
    val_macro_f1: float
    test_accuracy: float
    test_macro_f1: float

    def to_dict(self) -> dict:
        """A JSON-able record, for resuming a killed search and for logging the distribution."""
        return {**asdict(self), "arch": self.arch.to_dict(), "costs": asdict(self.costs)}

    @classmethod
    def from_dict(cls, data: dict) -> "Candidate":
        return cls(**{**data, "arch": Architecture.from_dict(data["arch"]),
                      "costs": ArchitectureCosts(**data["costs"])})

    def rank(self) -> tuple:
        """Selection key: arch-val accuracy, then macro-F1, then lower arch-val loss (never a test score)."""
        return self.val_accuracy, self.val_macro_f1, -self.val_loss


@dataclass(frozen=True)
class RandomSearchResult:
    """The selected candidate, every trained candidate in order, and how many draws it took."""

    best: Candidate
    candidates: tuple[Candidate, ...]
    draws: int
    infeasible: int  # distinct draws rejected for breaking a budget

    @property
    def arch(self) -> Architecture:
        return self.best.arch


def _deployed(arch: Architecture) -> tuple[str, ...]:
    """Identity of the deployed network: choices inside skipped cells or dead bottlenecks do not count."""
    return tuple(op.key() for op in arch.ops())


@dataclass(frozen=True)
class _Job:
    """What one candidate's training needs besides the data."""

    index: int
    draw: int
    arch: Architecture
    costs: ArchitectureCosts
    settings: RandomSearch
    seed: int
    accelerator: Accelerator


def _train(job: _Job, datamodule) -> Candidate:
    """Train one candidate from scratch with `settings.threads_per_candidate` CPU threads."""
    threads = torch.get_num_threads()
    settings = job.settings
    torch.set_num_threads(settings.threads_per_candidate)
    try:
        pl.seed_everything(job.seed, verbose=False)
        net = DiscreteNet(job.arch)
        best = fit_classifier(net, datamodule, settings.epochs, settings.patience, settings.lr,
                              accelerator=job.accelerator, patience_steps=settings.patience_steps)
        val = evaluate(net, datamodule.val_dataloader(), datamodule.num_classes)
        test = evaluate(net, datamodule.test_dataloader(), datamodule.num_classes)
    finally:
        torch.set_num_threads(threads)
    return Candidate(job.index, job.draw, job.arch, job.costs, best.best, best.best_epoch, val.accuracy,
                     val.macro_f1, test.accuracy, test.macro_f1)


_WORKER_DATA = None


def _start_worker(datamodule, hide_warnings: bool) -> None:
    global _WORKER_DATA
    _WORKER_DATA = datamodule
    if hide_warnings:  # as the parent's console does
        hide_library_warnings()


def _train_in_worker(job: _Job) -> Candidate:
    return _train(job, _WORKER_DATA)


def worker_count(settings: RandomSearch, jobs: int) -> int:
    """`search.workers`, with `auto` = the CPU cores over `threads_per_candidate`, at most `jobs`."""
    workers = settings.workers
    if workers == "auto":
        workers = (os.cpu_count() or 1) // settings.threads_per_candidate
    return max(1, min(workers, jobs))


def _train_all(jobs: list[_Job], datamodule, workers: int) -> Iterator[Candidate]:
    """Every job's candidate, in the order they finish: in this process, or in `workers` processes."""
    if workers == 1:
        for job in jobs:
            yield _train(job, datamodule)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                             initargs=(datamodule, library_warnings_hidden())) as pool:
        futures = [pool.submit(_train_in_worker, job) for job in jobs]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def _no_feasible_draw(budgets: dict, cheapest: dict, draws: int, mcu: str, latency_unit: str) -> ConfigError:
    unit = units(latency_unit)
    limits = ", ".join(f"{name} <= {value:g} {unit[name]}" for name, value in budgets.items())
    figures = ", ".join(f"{name} {value:.4g} {unit[name]}" for name, value in cheapest.items())
    return ConfigError(
        f"none of {draws} random architectures meets the budgets {limits} on {mcu} (the lowest "
        f"figures drawn are {figures}); raise the budgets or search.max_draws."
    )


def random_search(space: SearchSpace, cost_model: CostModel, constraints: dict, datamodule,
                  settings: RandomSearch, seed: int,
                  on_candidate: Callable[[int, Candidate], None] | None = None, done: list[dict] = (),
                  accelerator: Accelerator = Accelerator()) -> RandomSearchResult:
    """Train up to `settings.candidates` random feasible architectures and keep the best on arch-val.

    `constraints` are budgets in config units (latency ms, memory and flash kB; None = unconstrained).
    `on_candidate(index, candidate)` is called after each newly trained candidate, in the order they
    finish; `done` holds the `Candidate.to_dict()` records of a killed run with the same seed, which are
    reused, not retrained. Fewer candidates than asked are trained (with a warning) when `max_draws` runs
    out first; none at all is a `ConfigError` naming the budgets and the cheapest figures drawn.
    """
    budgets = {name: float(value) for name, value in dict(constraints or {}).items() if value is not None}
    rng = np.random.default_rng(seed)
    seen, feasible, cheapest = set(), [], {name: math.inf for name in budgets}
    draws = infeasible = 0
    while len(feasible) < settings.candidates and draws < settings.max_draws:
        arch = Architecture.random(space, rng)
        draws += 1
        if _deployed(arch) in seen:
            continue
        seen.add(_deployed(arch))
        costs = cost_model.predict(arch)
        for name in budgets:
            cheapest[name] = min(cheapest[name], costs.value(name))
        if not all(costs.verdicts(budgets).values()):
            infeasible += 1
            continue
        feasible.append(_Job(len(feasible), draws, arch, costs, settings, seed, accelerator))
    if not feasible:
        raise _no_feasible_draw(budgets, cheapest, draws, cost_model.name, cost_model.latency_unit)
    trained = _resumed(done, feasible, seed)
    jobs = [job for job in feasible if job.index not in trained]
    for candidate in _train_all(jobs, datamodule, worker_count(settings, len(jobs))):
        log.info("random search: candidate %d/%d (draw %d): arch-val accuracy %.4f, macro-F1 %.4f, %.3g %s",
                 candidate.index + 1, settings.candidates, candidate.draw, candidate.val_accuracy,
                 candidate.val_macro_f1, candidate.costs.latency_ms, cost_model.latency_unit)
        trained[candidate.index] = candidate
        if on_candidate is not None:
            on_candidate(candidate.index, candidate)
    if len(feasible) < settings.candidates:
        log.warning("random search: only %d of %d feasible distinct architectures in %d draws",
                    len(feasible), settings.candidates, draws)
    candidates = tuple(trained[job.index] for job in feasible)
    best = max(candidates, key=Candidate.rank)
    return RandomSearchResult(best, candidates, draws, infeasible)


def _resumed(done: list[dict], feasible: list[_Job], seed: int) -> dict[int, Candidate]:
    """The finished candidates of a killed run, checked against this run's draws."""
    resumed = {}
    for record in done:
        candidate = Candidate.from_dict(record)
        if candidate.index >= len(feasible) or feasible[candidate.index].arch != candidate.arch:
            raise ConfigError(
                f"the saved random-search candidate {candidate.index} is not draw {candidate.draw} of seed "
                f"{seed}; resume with the seed, dataset and budgets of the killed run, or start afresh."
            )
        resumed[candidate.index] = candidate
    return resumed
