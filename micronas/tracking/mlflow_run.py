"""One MLflow run per stage: store, names and tags from the config, the resolved config as an artifact."""

import os
import tempfile
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import MLFlowLogger

from micronas.budgets import latency_unit, units
from micronas.config import to_yaml
from micronas.tracking.store import tracking_client


def run_tags(cfg: DictConfig) -> dict[str, str]:
    """Tags that let the MLflow UI filter runs by dataset, MCU and stage, and say what the latency metrics
    count (`ms`, or `M instructions` on a QEMU board)."""
    return {"dataset": cfg.dataset.name, "mcu": cfg.mcu.name, "stage": cfg.stage,
            "latency_unit": latency_unit(cfg.mcu)}


def budget_text(cfg: DictConfig) -> str:
    """The budgets set, e.g. `latency<=10 ms, memory<=64 kB`, or `no budget`."""
    unit = units(latency_unit(cfg.get("mcu")))
    budgets = [f"{name}<={value:g} {unit[name]}" for name, value in (cfg.get("constraints") or {}).items()
               if value is not None]
    return ", ".join(budgets) or "no budget"


def run_name(cfg: DictConfig, *extra: str) -> str:
    """`cfg.logger.run_name` if set, else what tells runs apart in a comparison: the search method (or the
    stage), the dataset, the board and the budgets, e.g. `dnas | ucihar | nucleo_l552 | latency<=50 ms`;
    `extra` parts are appended (a seed)."""
    if cfg.logger.get("run_name"):
        return " | ".join([str(cfg.logger.run_name), *extra])
    what = cfg.search.method if cfg.get("stage") == "search" and "search" in cfg else cfg.get("stage", "run")
    return " | ".join([str(what), cfg.dataset.name, cfg.mcu.name, budget_text(cfg), *extra])


def flat_params(cfg: DictConfig) -> dict[str, object]:
    """A handful of flat parameters for filtering and comparing runs in the UI."""
    params = {"dataset": cfg.dataset.name, "mcu": cfg.mcu.name, "seed": cfg.seed}
    for name, value in (cfg.get("constraints") or {}).items():
        params[f"constraints.{name}"] = value
    if "search" in cfg:
        params["search.method"] = cfg.search.method
    return params


def make_mlflow_logger(cfg: DictConfig, extra_tags: dict[str, str] | None = None,
                       run_id: str | None = None) -> MLFlowLogger:
    """A Lightning logger writing to `cfg.logger.tracking_uri` under the configured experiment and run name.

    With `run_id`, it continues that run (a resumed search logs into the run it started). Inside a sweep
    (`MICRONAS_PARENT_RUN_ID`, set by `micronas.tracking.sweep`) the run is a child of the sweep's run.
    """
    tracking_client(cfg.logger.tracking_uri)  # refuses a bad URI; creates a new sqlite store once
    parent = os.environ.get("MICRONAS_PARENT_RUN_ID")
    tags = ({"mlflow.parentRunId": parent} if parent else {}) | run_tags(cfg) | (extra_tags or {})
    return MLFlowLogger(
        experiment_name=cfg.logger.experiment_name,
        run_name=run_name(cfg),
        tracking_uri=cfg.logger.tracking_uri,
        tags=tags,
        run_id=run_id,
    )


def architecture_params(arch) -> dict[str, object]:
    """The derived architecture as flat params, e.g. `arch.cell0.kernel`, `arch.cell2.block_width`."""
    params = {}
    for index, cell in enumerate(arch.to_dict()["cells"]):
        for name, value in cell.items():
            if name != "type":
                params[f"arch.cell{index}.{name}"] = value
    return params


def log_config(logger: MLFlowLogger, cfg: DictConfig) -> None:
    """Log the flat parameters and the fully resolved config (`config.yaml`) to the logger's run."""
    logger.log_hyperparams(flat_params(cfg))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_text(to_yaml(cfg))
        logger.experiment.log_artifact(logger.run_id, str(path))


def config_from_run(logger: MLFlowLogger) -> DictConfig:
    """Read back the resolved config that `log_config` stored with a run."""
    with tempfile.TemporaryDirectory() as folder:
        local = logger.experiment.download_artifacts(logger.run_id, "config.yaml", folder)
        return OmegaConf.load(local)


def describe_run(client, run_id: str, markdown: str) -> None:
    """Set the run's description (the text MLflow's UI shows on the run page)."""
    client.set_tag(run_id, "mlflow.note.content", markdown)


def log_table(client, run_id: str, rows: list[dict], artifact_file: str) -> None:
    """`rows` (dicts with the same keys) as an MLflow table artifact, shown as a table in the UI."""
    if rows:
        client.log_table(run_id, {key: [row[key] for row in rows] for key in rows[0]}, artifact_file)


def log_existing(client, run_id: str, folder: Path, patterns: tuple[str, ...]) -> list[Path]:
    """Log the files of `folder` that match `patterns` (only those that exist); returns them."""
    found = sorted({path for pattern in patterns for path in Path(folder).glob(pattern) if path.is_file()})
    for path in found:
        client.log_artifact(run_id, str(path))
    return found
