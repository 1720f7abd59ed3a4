"""One architecture search from a composed config: the work behind `search.py`.

data -> search space -> cost model -> refuse an impossible budget -> search (DNAS or DARTS in
Lightning, or the random baseline) -> derived architecture (DNAS: the most probable one whose exact costs
meet the budgets, `micronas.search.derive`) -> exact predicted costs and budget verdicts -> arch-val
accuracy and macro-F1 of the derived path (supernet weights, BatchNorm statistics re-estimated for that
path on the weight-training windows) -> run directory and MLflow.

A search is resumed with `ckpt_path=` a `.ckpt` file or an earlier run directory: Lightning restores the
epoch checkpoint (the random baseline re-reads its `candidates.jsonl`), and the MLflow run the search
started is continued. A re-run sweep does this by itself for a job whose directory holds a search that
was started but not finished; a finished one is kept as it is.
"""

import json
import logging
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from pytorch_lightning.callbacks import Callback, ModelCheckpoint

from micronas.checkpoints import load_checkpoint
from micronas.config import to_yaml
from micronas.cost.arena_fit import check_arena_model
from micronas.console import Progress
from micronas.cost.expected import ExpectedCosts
from micronas.cost.model import CostModel
from micronas.data import make_datamodule
from micronas.errors import ConfigError, MicronasError
from micronas.search.feasibility import check_feasible, check_latency_table
from micronas.search.history import (ChoiceHistory, choice_table, final_choices, plot_choice_history,
                                     write_choice_table)
from micronas.search.search_module import (
    CHECKPOINT_KEY,
    SearchModule,
    budget_targets,
    check_resumable,
    differences,
    search_identity,
    search_steps,
)
from micronas.search.random_search import random_search
from micronas.search.settings import GradientSearch, RandomSearch
from micronas.search.derive import derive_within_budgets
from micronas.search.summary import budget_rows, build_summary, format_summary, summary_markdown, violations
from micronas.space.discrete import DiscreteNet
from micronas.space.searchspace import SearchSpace
from micronas.tracking.mlflow_run import architecture_params, describe_run, log_config, log_existing
from micronas.tracking.mlflow_run import log_table, make_mlflow_logger
from micronas.tracking.status import run_status
from micronas.fitting.classifier import evaluate, recalibrate_batchnorm
from micronas.fitting.progress import EpochProgress
from micronas.fitting.trainer import TrainerSettings

log = logging.getLogger(__name__)

ARCHITECTURE_FILE = "architecture.json"
SUMMARY_FILE = "summary.json"
RUN_ID_FILE = "mlflow_run_id"
CANDIDATES_FILE = "candidates.jsonl"
HISTORY_PLOT = "choice_probabilities.png"
HISTORY_TABLE = "choice_probabilities.csv"
LAST_CHECKPOINT = Path("checkpoints") / "last.ckpt"
TARGET_KEY = "micronas_target"
SEARCH_TIME_FILE = "search_time.json"


class ResumeHint(Callback):
    """On Ctrl-C, says which checkpoint resumes the search (the last finished epoch is on disk)."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir

    def on_exception(self, trainer, module, exception) -> None:
        if isinstance(exception, KeyboardInterrupt):
            print(f"\nsearch interrupted; resume it with ckpt_path={self.run_dir}")


def search_target(cfg) -> dict:
    """What a search's costs and data depend on besides its own settings: the dataset and the MCU config
    (board, clock, runtime, cost model; not the serial port), as plain values."""
    mcu = OmegaConf.to_container(cfg.mcu, resolve=True)
    mcu.pop("device", None)
    return {"dataset": str(cfg.dataset.name), "mcu": mcu}


class RecordTarget(Callback):
    """Stores `search_target` in every checkpoint, so that a resume on another board or dataset is refused."""

    def __init__(self, target: dict):
        self.target = target

    def on_save_checkpoint(self, trainer, module, checkpoint) -> None:
        checkpoint[TARGET_KEY] = self.target


def earlier_search_time(run_dir: Path | None) -> tuple[float, int]:
    """`(seconds, runs)` that earlier runs spent on the search in `run_dir` (none: `(0.0, 0)`)."""
    record = run_dir / SEARCH_TIME_FILE if run_dir else None
    if record is None or not record.is_file():
        return 0.0, 0
    try:
        data = json.loads(record.read_text())
        return float(data["wall_time_s"]), int(data["runs"])
    except (ValueError, KeyError, TypeError):
        raise MicronasError(f"{record} is not a search time record (JSON with wall_time_s and runs); delete "
                            "it to resume without the earlier runs' time.") from None


@contextmanager
def search_clock(started: float, out_dir: Path, earlier: tuple[float, int]):
    """Yields `elapsed() -> (seconds, runs)`: the wall time of this run since `started` (monotonic) plus
    `earlier`, the `(seconds, runs)` of the runs it resumes. Written to `search_time.json` whenever the
    run ends, an interrupted one included, so a search resumed over several sittings reports all of its
    time."""
    earlier_seconds, runs = earlier

    def elapsed() -> tuple[float, int]:
        return earlier_seconds + time.monotonic() - started, runs + 1

    try:
        yield elapsed
    finally:
        seconds, count = elapsed()
        (out_dir / SEARCH_TIME_FILE).write_text(json.dumps({"wall_time_s": seconds, "runs": count}) + "\n")


def resume_source(ckpt_path) -> tuple[Path | None, Path | None]:
    """`(earlier run directory, checkpoint file)` of `ckpt_path` (a `.ckpt` file or a run directory)."""
    if ckpt_path is None:
        return None, None
    path = Path(str(ckpt_path))
    if path.is_dir():
        checkpoint = path / LAST_CHECKPOINT
        return path, checkpoint if checkpoint.is_file() else None
    if path.is_file() and path.suffix == ".ckpt":
        run_dir = path.parent.parent if path.parent.name == "checkpoints" else None
        return run_dir, path
    raise ConfigError(
        f"ckpt_path={ckpt_path} is neither a .ckpt file nor a search run directory; give a checkpoint "
        f"(e.g. outputs/DATE/TIME/{LAST_CHECKPOINT}) or the run directory that holds it."
    )


def _earlier_run_id(run_dir: Path | None) -> str | None:
    if run_dir is None or not (run_dir / RUN_ID_FILE).is_file():
        return None
    return (run_dir / RUN_ID_FILE).read_text().strip() or None


def _check_checkpoint(cfg, settings: GradientSearch, dm, space, checkpoint: Path | None) -> None:
    """Refuse a missing, unreadable or foreign checkpoint before anything is logged."""
    if checkpoint is None:
        if cfg.get("ckpt_path") is not None:
            raise ConfigError(f"ckpt_path={cfg.ckpt_path} holds no {LAST_CHECKPOINT}; nothing to resume.")
        return
    saved = load_checkpoint(checkpoint, f"ckpt_path={checkpoint}")
    different = differences(saved.get(TARGET_KEY), search_target(cfg))
    if different:
        raise ConfigError(
            f"ckpt_path={checkpoint} belongs to a search for another dataset or MCU "
            f"({'; '.join(different)}, checkpoint != this search); resume with the dataset and mcu it was "
            f"started with."
        )
    _, steps = search_steps(len(dm.train_dataloader()), settings)
    check_resumable(saved.get(CHECKPOINT_KEY), search_identity(space, settings, cfg.seed, steps,
                                                               budget_targets(dict(cfg.constraints))))


def _gradient_search(cfg, settings: GradientSearch, trainer_settings: TrainerSettings, dm, space, cost_model,
                     logger, out_dir, checkpoint):
    """DNAS (Gumbel-softmax, hardware loss) or DARTS (softmax, no hardware loss) in Lightning."""
    epochs, steps = search_steps(len(dm.train_dataloader()), settings)
    pl.seed_everything(int(cfg.seed), verbose=False)  # supernet weight initialisation
    module = SearchModule(space, settings, steps, dm.val_dataset, dm.batch_size, cfg.seed,
                          budget_targets(dict(cfg.constraints)), ExpectedCosts(space, cost_model))
    history = ChoiceHistory()
    shown = [EpochProgress(f"{settings.method} search")] if trainer_settings.progress else []
    accelerator = trainer_settings.accelerator
    trainer = pl.Trainer(
        max_epochs=epochs,
        logger=logger,
        callbacks=[ModelCheckpoint(dirpath=out_dir / "checkpoints", save_last=True), history,
                   ResumeHint(out_dir), RecordTarget(search_target(cfg)), *shown],
        accelerator=accelerator.name,
        devices=accelerator.devices,
        enable_progress_bar=False,
        deterministic=accelerator.deterministic,
        num_sanity_val_steps=0,
        enable_model_summary=False,
        log_every_n_steps=1,
    )
    trainer.fit(module, dm.train_dataloader(), dm.val_dataloader(),
                ckpt_path=str(checkpoint) if checkpoint else None, weights_only=True)
    logger.experiment.update_run(logger.run_id, status="RUNNING")  # Lightning ends the run; ours goes on
    logits = {key: value.detach().cpu() for key, value in module.arch_logits.as_dict().items()}
    if not all(bool(torch.isfinite(value).all()) for value in logits.values()):
        raise MicronasError(
            f"the search diverged: its architecture logits are not finite after {trainer.current_epoch} "
            "epochs, so no architecture can be derived; lower search.arch_optimizer.lr or "
            "search.hardware_loss.gamma_hi."
        )
    derivation = None
    if settings.derivation == "constrained":
        derivation = derive_within_budgets(space, logits, cost_model, dict(cfg.constraints),
                                           settings.latency_floor)
        arch = derivation.arch
    else:
        arch = module.derive()
    path = recalibrate_batchnorm(DiscreteNet(arch).load_from_supernet(module.supernet.cpu()),
                                 dm.train_dataloader())
    derived = evaluate(path, dm.val_dataloader(), dm.num_classes)
    plot_choice_history(history.epochs, space, out_dir / HISTORY_PLOT)
    write_choice_table(choice_table(history.epochs, space), out_dir / HISTORY_TABLE)
    return arch, {"accuracy": derived.accuracy, "macro_f1": derived.macro_f1, "windows": len(derived.y_true),
                  "search": {"epochs": epochs, "steps": steps, "warmup_steps": module.warmup_steps,
                             "arch_steps": module.arch_steps},
                  "derivation": {"rule": settings.derivation,
                                 **(derivation.report(dict(cfg.constraints)) if derivation else {})}}


def _random_baseline(cfg, settings: RandomSearch, trainer_settings: TrainerSettings, dm, space, cost_model,
                     logger, out_dir, earlier_dir):
    """Random search under the budgets; every finished candidate is flushed to `candidates.jsonl`."""
    done = []
    if earlier_dir is not None and (earlier_dir / CANDIDATES_FILE).is_file():
        done = [json.loads(line) for line in (earlier_dir / CANDIDATES_FILE).read_text().splitlines() if line]
    record = out_dir / CANDIDATES_FILE
    record.write_text("".join(json.dumps(c) + "\n" for c in done))
    shown = Progress(settings.candidates, "random search", "candidate", every=1, done=len(done)) \
        if trainer_settings.progress else None

    def on_candidate(index, candidate):
        if shown is not None:
            shown.update(1, f"arch-val acc {100 * candidate.val_accuracy:.1f} %")
        with record.open("a") as stream:
            stream.write(json.dumps(candidate.to_dict()) + "\n")
        logger.log_metrics({"candidate/val_acc": candidate.val_accuracy,
                            "candidate/latency_ms": candidate.costs.latency_ms}, step=index)

    result = random_search(space, cost_model, dict(cfg.constraints), dm, settings, cfg.seed,
                           on_candidate=on_candidate, done=done, accelerator=trainer_settings.accelerator)
    if shown is not None:
        shown.close()
    best = result.best
    return result.arch, {"accuracy": best.val_accuracy, "macro_f1": best.val_macro_f1,
                         "windows": len(dm.val_dataset),
                         "search": {"candidates": len(result.candidates), "draws": result.draws,
                                    "epochs_per_candidate": settings.epochs}}


def run_search(cfg, out_dir: Path) -> dict:
    """Run the search `cfg` describes, write its run directory, log it to MLflow; return the summary."""
    started = time.monotonic()
    if (out_dir / SUMMARY_FILE).is_file():  # a finished job of a re-run sweep is not repeated
        print(f"{out_dir} holds a finished search; keeping it (delete {SUMMARY_FILE} to search again)")
        return json.loads((out_dir / SUMMARY_FILE).read_text())
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path is None and (out_dir / RUN_ID_FILE).is_file():  # a killed job of a re-run sweep
        print(f"{out_dir} holds an interrupted search; resuming it from its last checkpoint")
        ckpt_path = out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    earlier_dir, checkpoint = resume_source(ckpt_path)
    earlier_time = earlier_search_time(earlier_dir)  # a corrupt record stops the resume before it starts
    is_random = cfg.search.method == "random"
    settings = (RandomSearch if is_random else GradientSearch).from_config(cfg.search)
    trainer_settings = TrainerSettings.from_config(cfg.trainer)
    dm = make_datamodule(cfg)
    dm.setup()
    space = SearchSpace(*dm.input_shape, dm.num_classes)
    cost_model = CostModel.from_mcu(cfg.mcu)
    check_latency_table(space, cost_model, cfg.mcu, cfg.dataset.name)
    check_arena_model(cost_model)
    cheapest = check_feasible(space, cost_model, dict(cfg.constraints))
    if not is_random:
        _check_checkpoint(cfg, settings, dm, space, checkpoint)

    logger = make_mlflow_logger(cfg, {"search.method": cfg.search.method},
                                run_id=_earlier_run_id(earlier_dir))
    (out_dir / RUN_ID_FILE).write_text(logger.run_id + "\n")
    clock = search_clock(started, out_dir, earlier_time)
    with run_status(logger.experiment, logger.run_id), clock as elapsed:
        (out_dir / "config.yaml").write_text(to_yaml(cfg))
        log_config(logger, cfg)

        if is_random:
            arch, validation = _random_baseline(cfg, settings, trainer_settings, dm, space, cost_model,
                                                logger, out_dir, earlier_dir)
        else:
            arch, validation = _gradient_search(cfg, settings, trainer_settings, dm, space, cost_model,
                                                logger, out_dir, checkpoint)

        costs = cost_model.predict(arch)
        seconds, runs = elapsed()
        summary = build_summary(cfg, arch, costs, validation, cheapest, dm.protocol, seconds, runs,
                                logger.run_id)
        summary["predicted"]["predictor_calibrated"] = cost_model.calibrated
        arch = replace(arch, costs=summary["predicted"])
        arch.save(out_dir / ARCHITECTURE_FILE)
        (out_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
        _log_outcome(logger, summary, arch, out_dir)

        print(format_summary(summary, out_dir))
        for sentence in violations(summary):
            log.info(sentence)  # into the log file; the console gets it once, below the table
            print(f"WARNING: {sentence}")
    return summary


def _log_outcome(logger, summary: dict, arch, out_dir: Path) -> None:
    """Predicted costs, verdicts, derived choices and the run-directory files, into the search's MLflow
    run."""
    client, run_id = logger.experiment, logger.run_id
    p, v = summary["predicted"], summary["validation"]
    metrics = {
        "predicted/latency_ms": p["latency_ms"],
        "predicted/arena_bytes": p["arena_bytes"],
        "predicted/flash_bytes": p["flash_bytes"],
        "predicted/peak_bytes": p["peak_bytes"],
        "predicted/latency_predicted_share": p["latency_predicted_share"],
        "derived/val_acc": v["accuracy"],
        "derived/val_macro_f1": v["macro_f1"],
        "wall_time_s": summary["wall_time_s"],
    }
    metrics |= {f"constraint/{name}_met": float(c["met"]) for name, c in summary["constraints"].items()}
    logger.log_metrics(metrics)
    logger.log_hyperparams(architecture_params(arch))
    client.set_tag(run_id, "constraints_met", str(summary["constraints_met"]).lower())
    broken = violations(summary)
    if broken:
        client.set_tag(run_id, "violations", "; ".join(broken))
    describe_run(client, run_id, summary_markdown(summary))
    log_table(client, run_id, budget_rows(summary), "budgets.json")
    if (out_dir / HISTORY_TABLE).is_file():  # the whole evolution is the CSV; the UI table: the end
        log_table(client, run_id, final_choices(out_dir / HISTORY_TABLE), "choice_probabilities_final.json")
    log_existing(client, run_id, out_dir, (ARCHITECTURE_FILE, SUMMARY_FILE, HISTORY_PLOT, HISTORY_TABLE,
                                           CANDIDATES_FILE))
    logger.finalize("success")
