"""`run_training`: an `architecture.json` becomes a retrained, evaluated, measured int8 model (method §9).

Steps: retrain `DiscreteNet` from scratch per seed (resumable), export full-int8 (PTQ; QAT fine-tuning
when configured), score float and int8 (tflite-micro) on the test split, predict the costs with the
MCU's cost model, measure the deployed model on the MCU's device, judge the budgets on the measured
figures, and log everything to one MLflow run linked to its search run.
"""

import json
import logging
import shutil
import statistics
from dataclasses import dataclass, replace
from pathlib import Path

from micronas.budgets import INSTRUCTIONS, latency_unit
from micronas.config import to_yaml, validate
from micronas.cost.model import CostModel
from micronas.data import make_datamodule
from micronas.errors import ConfigError
from micronas.export.c_files import EXAMPLE_NAME, HEADER_NAME, SOURCE_NAME, HandoffMetadata, write_handoff
from micronas.export.pipeline import TFLITE_NAME, nchw_to_nhwc
from micronas.hardware.open import open_device
from micronas.hardware.output_check import OutputCheck, fixed_windows
from micronas.metrics import confusion_matrix
from micronas.space.architecture import Architecture
from micronas.tracking.mlflow_run import (
    architecture_params,
    describe_run,
    log_config,
    log_existing,
    log_table,
    make_mlflow_logger,
    run_name,
)
from micronas.tracking.status import run_status
from micronas.train.artifacts import confusion_png, costs_markdown, costs_text
from micronas.train.costs import (
    MeasuredCosts, comparison, describe_host_latency, host_latency_check, measure_model, measured_verdicts,
)
from micronas.train.int8 import drop_points, export_and_score
from micronas.fitting.classifier import Evaluation, evaluate
from micronas.fitting.trainer import TrainerSettings
from micronas.train.qat import quantization_aware_finetune
from micronas.train.retrain import train_repeat
from micronas.train.settings import Measurement, Retraining

log = logging.getLogger(__name__)

# the run folder's files logged to MLflow, those that exist
ARTIFACTS = ("summary.json", "config.yaml", "architecture.json", "measurement.json", "costs.md",
             "confusion_*.png", "*.tflite", "*.h", "*.cc", "*.c", "*metadata*.json")
DEPLOYED_ARCHITECTURE = "architecture.json"  # the architecture with its predicted and measured costs
RUN_ID_FILE = "mlflow_retrain_run_id"  # distinct from the search's own file in its folder
SEARCH_RUN_TAG = "micronas.search_run_id"


def load_architecture(cfg) -> tuple[Architecture, Path]:
    """The architecture `cfg.arch` names, and its path."""
    if cfg.get("arch") is None:
        raise ConfigError(
            "arch is not set; pass arch=PATH/architecture.json (search.py writes one into its run folder)."
        )
    path = Path(str(cfg.arch)).expanduser()
    return Architecture.load(path), path


def search_run_of(arch_path: Path) -> str | None:
    """The MLflow run id of the search that wrote `arch_path`, from `summary.json` beside it (if any)."""
    summary = arch_path.parent / "summary.json"
    if not summary.is_file():
        return None
    try:
        run_id = json.loads(summary.read_text()).get("mlflow_run_id")
    except (json.JSONDecodeError, AttributeError):
        log.warning("%s is not a JSON object; the retrain run is not linked to a search run", summary)
        return None
    return str(run_id) if run_id else None


def _logger(cfg, folder: Path, tags: dict, name: str | None = None):
    """An MLflow logger for the run recorded in `folder` (a resumed retrain continues it), else a new one."""
    stored = folder / RUN_ID_FILE
    run_id = stored.read_text().strip() if stored.is_file() else None
    if name is not None:
        cfg = cfg.copy()
        cfg.logger.run_name = name
    logger = make_mlflow_logger(cfg, tags, run_id=run_id)
    folder.mkdir(parents=True, exist_ok=True)
    stored.write_text(logger.run_id + "\n")
    return logger


def _scores(evaluation: Evaluation) -> dict:
    return {"accuracy": evaluation.accuracy, "macro_f1": evaluation.macro_f1}


def retrain_repeat(settings: Retraining, trainer: TrainerSettings, arch: Architecture, dm, seed: int,
                   folder: Path, logger) -> dict:
    """Train, export and score one seed in `folder`; QAT fine-tuning as `settings.quantization` says."""
    k, quant, accelerator = dm.num_classes, settings.quantization, trainer.accelerator
    phase = f"retraining (seed {seed})" if trainer.progress else ""
    trained = train_repeat(arch, dm, settings, seed, folder / "checkpoints", logger=logger,
                           progress=phase, accelerator=accelerator)
    net = trained.net
    floats = {
        "arch-val": evaluate(net, dm.val_dataloader(), k),
        "test": evaluate(net, dm.test_dataloader(), k),
    }
    splits = {"arch-val": dm.val_dataset, "test": dm.test_dataset}
    representative = dm.representative_windows(settings.representative_windows)
    exported, ptq = export_and_score(net, representative, splits, k, folder)
    val_drop = drop_points(floats["arch-val"], ptq["arch-val"])
    qat_applied = quant.method == "qat" or (quant.method == "auto" and val_drop > quant.threshold_points)
    int8, qat = ptq, None
    if qat_applied:
        ptq_bytes = exported.tflite
        best = quantization_aware_finetune(
            net, dm, quant.epochs, quant.lr, settings.patience,
            accelerator=accelerator, progress=phase and f"QAT fine-tuning (seed {seed})",
        )
        exported, qat = export_and_score(net, representative, splits, k, folder)
        int8 = qat
        log.info("seed %d: QAT best arch-val loss %.4f at epoch %d", seed, best.best, best.best_epoch)
        if exported.tflite == ptq_bytes:
            raise RuntimeError("quantisation-aware fine-tuning left the int8 model unchanged")
    return {
        "seed": seed,
        "folder": folder,
        "exported": exported,
        "float": floats,
        "int8": int8,
        "record": {
            "seed": seed,
            "best_epoch": trained.best_epoch,
            "arch_val_loss": trained.arch_val_loss,
            "resumed_from_epoch": trained.resumed_from_epoch,
            "quantization": "qat" if qat_applied else "ptq",
            "arch_val_int8_drop_points_ptq": val_drop,
            "float_test": _scores(floats["test"]),
            "int8_ptq_test": _scores(ptq["test"]),
            "int8_qat_test": _scores(qat["test"]) if qat else None,
            "int8_test": _scores(int8["test"]),
            "int8_drop_points": drop_points(floats["test"], int8["test"]),
        },
    }


def spread(values: list[float]) -> dict:
    """Mean, standard deviation (n-1), median, min and max."""
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def run_training(cfg, out_dir: Path, search_run_id: str | None = None) -> dict:
    """Retrain `cfg.arch` on `cfg.dataset`, export, evaluate and measure it on `cfg.mcu`; write the
    artefacts and `summary.json` into `out_dir`, log one MLflow run, and return the summary."""
    validate(cfg)
    settings = Retraining.from_config(cfg.retraining)
    trainer = TrainerSettings.from_config(cfg.trainer)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    arch, arch_path = load_architecture(cfg)
    dm = make_datamodule(cfg)
    dm.setup()
    arch.check_compatible(*dm.input_shape, dm.num_classes, f"dataset={cfg.dataset.name}")
    cost_model = CostModel.from_mcu(cfg.mcu)
    predicted = cost_model.predict(arch)
    table_spread_ms = cost_model.network_spread_ms(arch.ops())
    with open_device(cfg.mcu):  # a missing port or another board is refused before training starts
        pass
    search_run_id = search_run_id or search_run_of(arch_path)
    (out_dir / "config.yaml").write_text(to_yaml(cfg))

    link = {SEARCH_RUN_TAG: search_run_id, "mlflow.parentRunId": search_run_id} if search_run_id else {}
    logger = _logger(cfg, out_dir, link)
    client, run_id = logger.experiment, logger.run_id
    with run_status(client, run_id):
        log_config(logger, cfg)
        logger.log_hyperparams({"arch.path": str(arch_path), **architecture_params(arch)})
        summary = _retrain_and_deploy(cfg, settings, trainer, arch, arch_path, dm, predicted, out_dir, logger)
        if cfg.mcu.board == "host":
            summary["host_latency"] = host_latency_check(
                predicted.latency_ms, table_spread_ms, MeasuredCosts(**summary["measured"])
            )
        summary.update(
            {"search_run_id": search_run_id, "mlflow_run_id": run_id, "tracking_uri": cfg.logger.tracking_uri}
        )
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
        log_table(client, run_id, summary["comparison"], "predicted_vs_measured.json")
        describe_run(client, run_id, _description(summary))
        log_existing(client, run_id, out_dir, ARTIFACTS)
    client.set_terminated(run_id, "FINISHED")
    _print_report(summary, out_dir)
    return summary


def _retrain_and_deploy(cfg, settings: Retraining, trainer: TrainerSettings, arch, arch_path, dm, predicted,
                        out_dir: Path, logger) -> dict:
    """Retrain every seed and keep the best on arch-val, deploy the chosen model, log the run's metrics and
    return its summary."""
    results, chosen = _retrain_seeds(cfg, settings, trainer, arch, dm, out_dir, logger)
    _confusion_figures(cfg, dm, chosen, out_dir)
    deployed = _deploy(cfg, settings.measurement, arch, dm, chosen, predicted, out_dir)
    over_repeats = _over_repeats(results)
    logger.log_metrics(_metrics(chosen, predicted, deployed, over_repeats))
    return _summary(cfg, arch_path, dm, results, chosen, deployed, over_repeats, out_dir)


@dataclass(frozen=True)
class Deployed:
    """The chosen model on the device: the measurement record, the measured costs, the predicted costs as
    `summary.json` and `architecture.json` write them, and one predicted-vs-measured row per cost."""

    record: dict
    measured: MeasuredCosts
    predicted: dict
    rows: list[dict]


def _deploy(cfg, measurement: Measurement, arch, dm, chosen: dict, predicted, out_dir: Path) -> Deployed:
    """Measure the chosen model on `cfg.mcu`, then write the firmware hand-off, `costs.md` and the deployed
    `architecture.json` with its predicted and measured costs."""
    record, measured = _measure(cfg, measurement, dm, chosen, out_dir)
    mean, std = dm.normalization
    write_handoff(chosen["exported"].tflite, out_dir, HandoffMetadata(
        dm.channel_names, mean, std, dm.class_names, str(cfg.mcu.board), predicted.arena_bytes,
        measured.arena_bytes))
    unit = latency_unit(cfg.mcu)
    rows = comparison(predicted, measured, unit)
    (out_dir / "costs.md").write_text(costs_markdown(rows))
    deployed = Deployed(record, measured, predicted.summary(unit), rows)
    replace(arch, costs={**deployed.predicted, "measured": measured.to_dict()}).save(
        out_dir / DEPLOYED_ARCHITECTURE)
    return deployed


def _summary(cfg, arch_path, dm, results: list[dict], chosen: dict, deployed: Deployed,
             over_repeats: dict | None, out_dir: Path) -> dict:
    """The train run's `summary.json` content (without the MLflow ids the caller adds)."""
    verdicts = measured_verdicts(cfg.constraints, deployed.measured)
    return {
        "architecture": str(arch_path),
        "dataset": cfg.dataset.name,
        "protocol": dm.protocol,
        "mcu": cfg.mcu.name,
        "device": deployed.record["device"],
        "selected_seed": chosen["seed"],
        "quantization": chosen["record"]["quantization"],
        "float": _scores(chosen["float"]["test"]),
        "int8": _scores(chosen["int8"]["test"]),
        "int8_drop_points": _flat_scores(chosen)["int8_drop_points"],
        "repeats": [r["record"] for r in results],
        "over_repeats": over_repeats,
        "latency_unit": latency_unit(cfg.mcu),  # "M instructions" on a QEMU board: latency_ms counts 10^6
        "predicted": deployed.predicted,
        "measured": deployed.measured.to_dict(),
        "output_check": deployed.record["output_check"],
        "relative_error_pct": {row["cost"]: row["error_pct"] for row in deployed.rows},
        "comparison": deployed.rows,
        "constraints": {name: value for name, value in cfg.constraints.items()},
        "verdicts_measured": verdicts,
        "constraints_met": all(verdicts.values()),
        "files": {
            "model": str(out_dir / TFLITE_NAME),
            "architecture": str(out_dir / DEPLOYED_ARCHITECTURE),
            "header": str(out_dir / HEADER_NAME),
            "source": str(out_dir / SOURCE_NAME),
            "example": str(out_dir / EXAMPLE_NAME),
            "measurement": str(out_dir / "measurement.json"),
        },
    }


def _retrain_seeds(cfg, settings: Retraining, trainer: TrainerSettings, arch, dm, out_dir: Path,
                   logger) -> tuple[list[dict], dict]:
    """Every repeat of the recipe (a child run each when there are several) and the one of lowest
    arch-val loss, whose model is copied to `out_dir`; selection never looks at test."""
    seeds = [int(cfg.seed) + i for i in range(settings.repeats)]
    results = []
    for seed in seeds:
        if len(seeds) == 1:
            results.append(retrain_repeat(settings, trainer, arch, dm, seed, out_dir, logger))
            continue
        folder = out_dir / f"seed_{seed}"
        child = _logger(
            cfg, folder, {"mlflow.parentRunId": logger.run_id, "seed": str(seed)},
            name=run_name(cfg, f"seed {seed}"),
        )
        results.append(retrain_repeat(settings, trainer, arch, dm, seed, folder, child))
        child.log_metrics({f"test/{k}": v for k, v in _flat_scores(results[-1]).items()})
        child.finalize("success")
    chosen = min(results, key=lambda r: r["record"]["arch_val_loss"])
    if chosen["folder"] != out_dir:
        shutil.copyfile(chosen["folder"] / TFLITE_NAME, out_dir / TFLITE_NAME)
    return results, chosen


def _confusion_figures(cfg, dm, chosen: dict, out_dir: Path) -> None:
    """The float and int8 test confusion matrices of the chosen repeat, as PNGs in `out_dir`."""
    for label, evaluation in (("float", chosen["float"]["test"]), ("int8", chosen["int8"]["test"])):
        matrix = confusion_matrix(evaluation.y_true, evaluation.y_pred, dm.num_classes)
        confusion_png(
            matrix, dm.class_names, out_dir / f"confusion_{label}_test.png",
            f"{cfg.dataset.name} test ({dm.protocol}), {label}, seed {chosen['seed']}: "
            f"acc {100 * evaluation.accuracy:.2f} %",
        )


def _measure(cfg, measurement: Measurement, dm, chosen: dict, out_dir: Path) -> tuple[dict, MeasuredCosts]:
    """Run the chosen int8 model on `cfg.mcu` with the output check; `measurement.json` and its costs."""
    windows = fixed_windows(nchw_to_nhwc(dm.test_dataset.tensors[0].numpy()), measurement.output_windows)
    record = measure_model(cfg.mcu, chosen["exported"].tflite, measurement.warmups, measurement.repeats,
                           windows)
    if not record["output_check"]["passed"]:
        log.warning("the device's int8 outputs differ from the host interpreter's: %s",
                    record["output_check"])
    (out_dir / "measurement.json").write_text(json.dumps(record, indent=2) + "\n")
    statistic = str(cfg.mcu.cost.get("latency_statistic") or "median")
    return record, MeasuredCosts.from_record(record, statistic)


def _over_repeats(results: list[dict]) -> dict | None:
    """Mean and spread of every test score over the repeats (None for one repeat)."""
    if len(results) < 2:
        return None
    per_seed = [_flat_scores(r) for r in results]
    return {name: spread([s[name] for s in per_seed]) for name in per_seed[0]}


def _metrics(chosen: dict, predicted, deployed: Deployed, over_repeats: dict | None) -> dict[str, float]:
    """The train run's MLflow metrics: test scores, predicted beside measured, the output check."""
    metrics = {f"test/{name}": value for name, value in _flat_scores(chosen).items()}
    measured, check = deployed.measured, deployed.record["output_check"]
    for row in deployed.rows:
        metrics[f"predicted/{row['field']}"] = float(row["predicted"])
        metrics[f"measured/{row['field']}"] = float(row["measured"])
        metrics[f"error/{row['cost']}_pct"] = row["error_pct"]
    metrics["measured/latency_median_ms"] = measured.latency_median_ms
    metrics["measured/output_argmax_agreement"] = check["argmax_agreement"]
    metrics["measured/output_max_abs_lsb"] = float(check["max_abs_lsb"])
    metrics["predicted/peak_bytes"] = float(predicted.peak_bytes)
    metrics["predicted/latency_predicted_share"] = predicted.predicted_share
    for name, stats in (over_repeats or {}).items():
        metrics[f"test/{name}_mean"], metrics[f"test/{name}_std"] = stats["mean"], stats["std"]
    return metrics


def _flat_scores(result: dict) -> dict[str, float]:
    floats, int8 = result["float"]["test"], result["int8"]["test"]
    return {
        "float_acc": floats.accuracy,
        "float_macro_f1": floats.macro_f1,
        "int8_acc": int8.accuracy,
        "int8_macro_f1": int8.macro_f1,
        "int8_drop_points": drop_points(floats, int8),
    }


def _description(summary: dict) -> str:
    """The run's description in MLflow: test scores, then predicted beside measured costs."""
    return (f"**{summary['dataset']}** retrained for **{summary['mcu']}**, measured on "
            f"{summary['device']['board']}: int8 test accuracy {100 * summary['int8']['accuracy']:.2f} % "
            f"(float {100 * summary['float']['accuracy']:.2f} %)\n\n" + costs_markdown(summary["comparison"]))


def _print_report(summary: dict, out_dir: Path) -> None:
    verdicts = ", ".join(
        f"{b} {'met' if ok else 'VIOLATED'}" for b, ok in summary["verdicts_measured"].items()
    )
    lines = [
        f"{summary['dataset']} ({summary['protocol']}) test: "
        f"float acc {100 * summary['float']['accuracy']:.2f} % "
        f"(macro-F1 {summary['float']['macro_f1']:.3f}), int8 {100 * summary['int8']['accuracy']:.2f} % "
        f"(macro-F1 {summary['int8']['macro_f1']:.3f}), drop {summary['int8_drop_points']:+.2f} points "
        f"[{summary['quantization']}]",
    ]
    if summary["over_repeats"]:
        acc = summary["over_repeats"]["int8_acc"]
        lines.append(
            f"over {len(summary['repeats'])} seeds: int8 acc {100 * acc['mean']:.2f} +- "
            f"{100 * acc['std']:.2f} % (median {100 * acc['median']:.2f} %), "
            f"deployed seed {summary['selected_seed']} (lowest arch-val loss)"
        )
    lines += [
        f"predicted ({summary['mcu']} cost model) vs measured on {summary['device']['board']} "
        f"(latency: {summary['measured']['latency_statistic']} of the "
        f"{'round minima, docs/latency.md' if 'host_latency' in summary else 'timed runs'}):",
        costs_text(summary["comparison"]),
        *([describe_host_latency(summary["host_latency"])] if "host_latency" in summary else []),
        *([f"latency: {INSTRUCTIONS} counted by QEMU, not a board's time (QEMU models no cycle timing)"]
          if summary.get("latency_unit") == INSTRUCTIONS else []),
        OutputCheck.from_dict(summary["output_check"]).describe(),
        f"budgets (measured): {verdicts or 'none set'}",
        f"model:    {summary['files']['model']}",
        f"C files:  {summary['files']['header']}, {SOURCE_NAME}, {EXAMPLE_NAME} (model, input statistics, "
        "labels, arena, op resolver)",
        f"summary:  {out_dir / 'summary.json'}",
        f"MLflow:   run {summary['mlflow_run_id']} in {summary['tracking_uri']}"
        + (f" (child of search run {summary['search_run_id']})" if summary["search_run_id"] else ""),
    ]
    print("\n".join(lines))
