"""`search.py ... retrain=true`: retrain, export and measure the found architecture in the same command.

It sits above both `micronas.search` and `micronas.train`, the one module that joins them.
"""

from pathlib import Path

from omegaconf import DictConfig

from micronas.config import load_config, validate
from micronas.search.search_run import ARCHITECTURE_FILE
from micronas.train.settings import Retraining

SHARED_KEYS = ("dataset", "mcu", "constraints", "retraining", "trainer", "seed", "data_dir")


def retrain_config(search_cfg: DictConfig, arch_path: Path) -> DictConfig:
    """train.yaml for `arch_path` with the search's dataset, MCU, budgets, recipe, seed, data and store."""
    cfg = load_config("train", [f"arch={arch_path}"])
    for key in SHARED_KEYS:
        cfg[key] = search_cfg[key]
    cfg.logger.tracking_uri = search_cfg.logger.tracking_uri
    validate(cfg)
    return cfg


def check_retraining(search_cfg: DictConfig) -> None:
    """Refuse a bad `retraining` value of `search.py ... retrain=true` before the search starts."""
    Retraining.from_config(search_cfg.retraining)


def retrain_after_search(search_cfg: DictConfig, search_dir: Path, search_run_id: str) -> dict:
    """Run train.py's work on the search's architecture, into `<search run dir>/retrain`, as a child run."""
    from micronas.train.train_run import run_training  # TensorFlow is only needed when chaining

    cfg = retrain_config(search_cfg, search_dir / ARCHITECTURE_FILE)
    return run_training(cfg, search_dir / "retrain", search_run_id)
