"""Does the search search? DNAS against random search (and DARTS) on real data, retrained and run in int8.

For every job (dataset, board, latency budget, method, seed): `search.py`'s search with its defaults,
the derived network retrained from scratch (`retraining` defaults, QAT when arch-val says int8 loses
more than a point), exported to full int8 and evaluated in tflite-micro on the test split. Printed per
dataset, budget and method: int8 test accuracy mean +- std over seeds, the float -> int8 drop, derived
predicted latency / budget, how often the plain argmax already met the budget (DNAS), and the search
wall time. Below it, where the random baseline's trained candidates lie: how latency ranks against
arch-val loss, and how many of the best ten sit in the 85-100 % band (is using the budget what the data
rewards?). UCI-HAR is the rebuild from the HAPT raw recordings in `../shared/datasets/ucihar_hapt`
(skipped when absent); the bundled sets ship with aeon.

Every finished stage is appended to the results file and skipped on a re-run, so the bench completes
over several sittings. `--stage search` / `--stage train` stop after searching / after float
retraining (a machine without TensorFlow, e.g. a GPU box, can do those); `evaluate` exports what was
trained. Compute is matched by the defaults: a DNAS search and a 20-candidate random search take
similar wall time here (both are printed).

    python bench/search_quality.py [--only ucihar_hapt] [--budget 25] [--methods dnas,random] [--seeds 0,1,2]
                                   [--stage all] [--jobs 1] [--threads N] [--accelerator cpu] [--table]
                                   [--random-workers auto] [--variant NAME --set search.KEY=VALUE ...]
                                   [--rederive-from VARIANT]

`--rederive-from VARIANT` studies a derivation rule without searching again: each job derives anew, under
its own settings (`--set search.latency_floor=...`), from the final architecture logits of the job's
search of VARIANT ('' for the plain rows), then retrains as usual; its search row keeps that search's
record (wall time, length) and says where it came from.
"""

import argparse
import json
import math
import multiprocessing
import os
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
UCIHAR_HAPT = Path(os.environ.get("MICRONAS_UCIHAR_HAPT", REPO.parent / "shared/datasets/ucihar_hapt/ucihar_hapt.npz"))
RESULTS = REPO / "data/bench/search_quality.jsonl"
RUNS = REPO / "data/bench/search_quality"
LABELS = {"ucihar_hapt": "UCI-HAR rebuilt from HAPT raw (ucihar_hapt.npz)"}
BAND = (0.85, 1.0)  # derived latency / budget that counts as using the budget (issue 14's adherence band)


def jobs() -> list[dict]:
    """The bench's jobs, most important first."""
    plan = []
    def add(dataset, overrides, budget, methods, seeds):
        for method in methods:
            for seed in seeds:
                plan.append({"dataset": dataset, "overrides": overrides, "budget": budget, "method": method,
                             "seed": seed})
    ucihar = ["dataset=npz", f"dataset.path={UCIHAR_HAPT}"]
    add("ucihar_hapt", ucihar, 25.0, ("dnas", "random"), (0, 1, 2, 3, 4))
    add("ucihar_hapt", ucihar, 50.0, ("dnas", "random"), (0,))
    add("ucihar_hapt", ucihar, None, ("darts",), (0,))
    for dataset, budgets in (("basicmotions", (12.3, 30.0)), ("japanesevowels", (9.9, 20.0))):
        for budget in budgets:
            # five seeds: the test splits are small (40 and 370 windows)
            add(dataset, [f"dataset={dataset}"], budget, ("dnas", "random"), (0, 1, 2, 3, 4))
    return plan


def key(job: dict) -> str:
    epochs = f"/epochs{job['epochs']}" if job.get("epochs") and job["method"] != "random" else ""
    variant = f"/{job['variant']}" if job.get("variant") else ""
    return f"{job['dataset']}/{job['method']}/{job['budget']}/seed{job['seed']}{epochs}{variant}"


def run_folder(job_key: str) -> Path:
    """The folder of a job's runs (search, train) and its own MLflow store."""
    return RUNS / job_key.replace("/", "_")


def in_band(shares: list[float]) -> int:
    """How many latency / budget shares lie in `BAND`."""
    return sum(BAND[0] <= share <= BAND[1] for share in shares)


def done_stages() -> dict[tuple[str, str], dict]:
    if not RESULTS.is_file():
        return {}
    rows = [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]
    return {(row["key"], row["stage"]): row for row in rows}


def record(row: dict) -> None:
    """Append one row in a single write, so that jobs running side by side never interleave."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(RESULTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(handle, (json.dumps(row) + "\n").encode())
    finally:
        os.close(handle)


def configs(job: dict, accelerator: str, random_workers: str = "auto"):
    from micronas.config import load_config

    folder = run_folder(key(job))
    folder.mkdir(parents=True, exist_ok=True)  # holds the job's own MLflow store: no two jobs share a sqlite file
    budget = [] if job["budget"] is None else [f"constraints.latency={job['budget']}"]
    common = [*job["overrides"], "mcu=nucleo_l552", f"seed={job['seed']}", f"trainer.accelerator={accelerator}",
              "trainer.enable_progress_bar=false", f"logger.tracking_uri=sqlite:///{folder}/mlflow.db"]
    workers = [f"search.workers={random_workers}"] if job["method"] == "random" else []
    if job.get("epochs") and job["method"] != "random":
        workers.append(f"search.epochs={job['epochs']}")
    workers += job.get("search_overrides", [])
    search = load_config("search", [*common, f"search={job['method']}", *budget, *workers])
    train = load_config("train", [*common, f"arch={folder / 'search' / 'architecture.json'}",
                                  "retraining.quantization.method=auto"])
    return folder, search, train


def final_logits(search_folder: Path, space) -> dict:
    """A finished search's architecture logits: from its last checkpoint, else (a search run on another
    machine, whose checkpoints stayed there) the log of the last epoch's choice probabilities, which have
    the same softmax."""
    import torch

    from micronas.search.history import final_choices
    from micronas.search.relaxation import ArchitectureLogits
    from micronas.search.search_run import HISTORY_TABLE

    checkpoint = search_folder / "checkpoints" / "last.ckpt"
    if checkpoint.is_file():
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
        logits, prefix = ArchitectureLogits(space), "arch_logits."
        logits.load_state_dict({name[len(prefix):]: value for name, value in state.items()
                                if name.startswith(prefix)})
        return {key: value.detach() for key, value in logits.as_dict().items()}
    probabilities: dict[str, list[float]] = {}
    for row in final_choices(search_folder / HISTORY_TABLE):
        probabilities.setdefault(row["decision"], []).append(float(row["probability"]))
    return {name: torch.log(torch.tensor(p, dtype=torch.float64)) for name, p in probabilities.items()}


def rederive(job: dict, search_cfg, folder: Path) -> dict:
    """Derive `job`'s network anew from the logits of its search of variant `job['rederive_from']`; write
    its architecture.json and return that search's summary with the new network's costs and derivation."""
    from micronas.cost.model import CostModel
    from micronas.search.derive import derive_within_budgets
    from micronas.search.settings import GradientSearch
    from micronas.search.summary import constraint_report
    from micronas.space.architecture import Architecture
    from micronas.space.searchspace import SearchSpace

    source_key = key({**job, "variant": job["rederive_from"] or None})
    source_row = done_stages().get((source_key, "search"))
    if source_row is None:
        raise SystemExit(f"--rederive-from {job['rederive_from']!r}: there is no finished search {source_key} in "
                         f"{RESULTS}; run it first, or name a variant whose searches are there.")
    source = source_row["summary"]
    searched = Architecture.from_dict(source["architecture"])
    space = SearchSpace(*searched.input_shape, searched.num_classes)
    cost_model = CostModel.from_mcu(search_cfg.mcu)
    constraints = dict(search_cfg.constraints)
    settings = GradientSearch.from_config(search_cfg.search)
    derivation = derive_within_budgets(space, final_logits(run_folder(source_key) / "search", space), cost_model,
                                       constraints, settings.latency_floor)
    costs = cost_model.predict(derivation.arch)
    unit = source["predicted"]["latency_unit"]
    predicted = {**costs.summary(unit), "predictor_calibrated": cost_model.calibrated}
    (folder / "search").mkdir(parents=True, exist_ok=True)
    replace(derivation.arch, costs=predicted).save(folder / "search" / "architecture.json")
    report = constraint_report(costs, constraints, unit)
    return {**source, "architecture": derivation.arch.to_dict(), "predicted": predicted,
            "constraints": report, "constraints_met": all(c["met"] for c in report.values()),
            "derivation": {"rule": settings.derivation, **derivation.report(constraints)},
            "validation": None, "rederived_from": source_key}  # no supernet here to score the new path


def torch_threads(count: int) -> None:
    """Limit this job process to `count` torch threads."""
    import torch

    torch.set_num_threads(count)


def run_job(job: dict, stage: str, accelerator: str, random_workers: str = "auto") -> list[dict]:
    """Run what is missing of `job` up to `stage`; return the rows it produced."""
    from micronas.data import make_datamodule
    from micronas.search.search_run import run_search
    from micronas.space.architecture import Architecture
    from micronas.fitting.trainer import TrainerSettings
    from micronas.train.retrain import train_repeat
    from micronas.train.settings import Retraining

    done, rows = done_stages(), []
    folder, search_cfg, train_cfg = configs(job, accelerator, random_workers)
    if (key(job), "search") not in done:
        summary = (rederive(job, search_cfg, folder) if job.get("rederive_from") is not None
                   else run_search(search_cfg, folder / "search"))
        rows.append({"key": key(job), "stage": "search", **job, "summary": summary})
        record(rows[-1])
    if stage == "search":
        return rows
    arch = Architecture.load(folder / "search" / "architecture.json")
    settings = Retraining.from_config(train_cfg.retraining)
    trainer = TrainerSettings.from_config(train_cfg.trainer)
    dm = make_datamodule(train_cfg)
    dm.setup()
    if stage == "train":
        train_repeat(arch, dm, settings, job["seed"], folder / "train" / "checkpoints",
                     accelerator=trainer.accelerator)
        return rows
    if (key(job), "evaluate") not in done:
        from micronas.train.train_run import retrain_repeat  # needs TensorFlow (the int8 export)

        result = retrain_repeat(settings, trainer, arch, dm, job["seed"], folder / "train", logger=False)
        rows.append({"key": key(job), "stage": "evaluate", **job, "record": result["record"]})
        record(rows[-1])
    return rows


def table() -> None:
    done = done_stages()
    groups: dict[tuple, list] = {}
    searches = [row for (_, stage), row in done.items() if stage == "search"]
    for search in searches:
        evaluated = done.get((search["key"], "evaluate"))
        method = search["method"] + (f"/e{search['epochs']}" if search.get("epochs") and search["method"] != "random"
                                     else "") + (f"/{search['variant']}" if search.get("variant") else "")
        groups.setdefault((search["dataset"], search["budget"], method), []).append((search, evaluated))
    print(f"{'dataset':<14} {'budget':>7} {'method':<10} {'n':>2} {'arch-val':>8} {'val loss':>8} "
          f"{'int8 test acc':>16} {'drop':>6} {'lat/budget':>11} {'in band':>7} {'argmax ok':>9} {'search min':>10}")
    for (dataset, budget, method), runs in groups.items():
        accs = [100 * e["record"]["int8_test"]["accuracy"] for _, e in runs if e]
        drops = [e["record"]["int8_drop_points"] for _, e in runs if e]
        val_loss = [e["record"]["arch_val_loss"] for _, e in runs if e]  # of the retrained network
        lat = [s["summary"]["predicted"]["latency_ms"] / budget for s, _ in runs] if budget else []
        argmax = [(s["summary"].get("derivation") or {}).get("argmax_meets_budgets") for s, _ in runs]
        wall = statistics.median(s["summary"]["wall_time_s"] / 60 for s, _ in runs)
        scored = [100 * s["summary"]["validation"]["accuracy"] for s, _ in runs if s["summary"]["validation"]]
        arch_val = statistics.mean(scored) if scored else math.nan  # of the derived path in the supernet
        acc = (f"{statistics.mean(accs):6.2f} +- {statistics.stdev(accs) if len(accs) > 1 else 0:4.2f}"
               if accs else "-")
        band = f"{in_band(lat)}/{len(lat)}" if lat else "-"
        print(f"{dataset:<14} {budget or '-':>7} {method:<10} {len(runs):>2} {arch_val:8.2f} "
              f"{statistics.mean(val_loss) if val_loss else math.nan:8.3f} {acc:>16} "
              f"{statistics.mean(drops) if drops else math.nan:6.2f} "
              f"{' '.join(f'{v:.2f}' for v in lat) or '-':>11} {band:>7} "
              f"{sum(a is True for a in argmax)}/{sum(a is not None for a in argmax):<7} {wall:10.1f}")
    random_landscape(searches)
    for dataset, label in LABELS.items():
        print(f"{dataset}: {label}")


def random_landscape(searches: list[dict], top: int = 10) -> None:
    """Where the good networks lie: the random baseline's trained candidates of every seed pooled per
    dataset and budget (plain runs only), the rank correlation of latency with arch-val loss, and how many
    of all and of the `top` best (by the random search's own rank, arch-val only) lie in `BAND`."""
    from scipy.stats import spearmanr

    from micronas.search.random_search import Candidate

    pools: dict[tuple, list] = {}
    for search in searches:
        path = run_folder(search["key"]) / "search" / "candidates.jsonl"
        if search["method"] == "random" and not search.get("variant") and search["budget"] and path.is_file():
            pools.setdefault((search["dataset"], search["budget"]), []).extend(
                Candidate.from_dict(json.loads(line)) for line in path.read_text().splitlines() if line)
    if not pools:
        return
    print(f"\nrandom candidates pooled over seeds: latency / budget against arch-val "
          f"(band {BAND[0]}-{BAND[1]})")
    print(f"{'dataset':<14} {'budget':>7} {'n':>4} {'rho(lat, loss)':>14} {'all in band':>11} "
          f"{f'top {top} in band':>14} {f'top {top} lat/budget':>18}")
    for (dataset, budget), pool in pools.items():
        share = [c.costs.latency_ms / budget for c in pool]
        best = sorted(pool, key=Candidate.rank, reverse=True)[:top]
        best_share = [c.costs.latency_ms / budget for c in best]
        rho = spearmanr(share, [c.val_loss for c in pool])[0]
        print(f"{dataset:<14} {budget:>7} {len(pool):>4} {rho:>+14.2f} {in_band(share):>7}/{len(pool):<3} "
              f"{in_band(best_share):>10}/{len(best):<3} "
              f"{min(best_share):8.2f} - {max(best_share):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", help="one dataset of the plan (ucihar_hapt, basicmotions, japanesevowels)")
    parser.add_argument("--stage", choices=("search", "train", "all"), default="all")
    parser.add_argument("--jobs", type=int, default=1, help="jobs run side by side (processes)")
    parser.add_argument("--threads", type=int, help="torch threads per job (default: the cores over --jobs)")
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--budget", type=float, help="only the jobs of this latency budget")
    parser.add_argument("--methods", default="dnas,random,darts", help="comma-separated methods to run")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds to run")
    parser.add_argument("--random-workers", default="auto", help="search.workers of the random baseline")
    parser.add_argument("--search-epochs", type=int, help="search.epochs of DNAS and DARTS (default: the config's; "
                        "rows without it ran at the default of their day: 60 before 2026-11-27, then 40)")
    parser.add_argument("--variant", help="a name for --set's search overrides (appended to the jobs' keys)")
    parser.add_argument("--set", nargs="*", default=[], help="search config overrides of the variant, KEY=VALUE")
    parser.add_argument("--rederive-from", metavar="VARIANT", help="derive anew from the searches of VARIANT "
                        "('' for the plain rows) instead of searching")
    parser.add_argument("--table", action="store_true", help="print the table of finished results only")
    args = parser.parse_args()
    if not args.table:
        todo = [job for job in jobs() if args.only in (None, job["dataset"]) and
                args.budget in (None, job["budget"]) and job["method"] in args.methods.split(",") and
                str(job["seed"]) in args.seeds.split(",")]
        if bool(args.variant) != bool(args.set):
            parser.error("--variant and --set go together")
        todo = [{**job, "epochs": args.search_epochs, "variant": args.variant, "search_overrides": args.set,
                 **({"rederive_from": args.rederive_from} if args.rederive_from is not None else {})}
                for job in todo]
        if any(job["dataset"] == "ucihar_hapt" for job in todo) and not UCIHAR_HAPT.is_file():
            print(f"skipping ucihar_hapt: {UCIHAR_HAPT} is absent")
            todo = [job for job in todo if job["dataset"] != "ucihar_hapt"]
        if args.jobs == 1 and args.threads is None:
            for job in todo:
                run_job(job, args.stage, args.accelerator, args.random_workers)
        else:
            # more threads than cores stall torch's pool
            threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
            with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn"),
                                     initializer=torch_threads, initargs=(threads,)) as pool:
                for future in [pool.submit(run_job, job, args.stage, args.accelerator, args.random_workers)
                               for job in todo]:
                    future.result()
        sys.stdout.flush()
    table()


if __name__ == "__main__":
    main()
