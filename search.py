"""Hardware-aware architecture search for one dataset, MCU and set of budgets.

    python search.py dataset=ucihar mcu=nucleo_l552 constraints.latency=50
    python search.py search=darts          # baselines: search=darts, search=random
    python search.py ckpt_path=outputs/DATE/TIME   # resume a killed search
    python search.py mcu=host retrain=true         # then retrain, export int8 and measure (train.py)
    python search.py -m constraints.latency=5,10,20,40   # a Hydra multirun sweep (re-run it to resume)
    python search.py -m constraints.latency=5,10,20,40 hydra/launcher=joblib   # or hydra/launcher=ray

Writes architecture.json, summary.json, config.yaml and checkpoints into the Hydra run directory and
logs the run to MLflow (`logger.tracking_uri`, sqlite:///mlflow.db by default).
"""

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from micronas.config import check_command_line, validate
from micronas.console import configure_console, split_verbose
from micronas.errors import MicronasError, exit_on_user_error
from micronas.chain import check_retraining, retrain_after_search
from micronas.search.search_run import run_search
from micronas.tracking.sweep import sweep_outcome


@hydra.main(config_path="conf", config_name="search", version_base="1.3")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    configure_console(cfg.get("verbose", False))
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        validate(cfg)
        if cfg.retrain:
            check_retraining(cfg)
        summary = run_search(cfg, out_dir)
        if cfg.retrain:
            retrain_after_search(cfg, out_dir, summary["mlflow_run_id"])
    except MicronasError as error:
        if HydraConfig.get().mode != RunMode.MULTIRUN:
            raise
        # One impossible job (e.g. a budget below the cheapest network) must not end the whole sweep.
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "error.txt").write_text(f"{error}\n")
        print(f"error: {error} This job is skipped; the sweep goes on.", file=sys.stderr)


if __name__ == "__main__":
    verbose, sys.argv[1:] = split_verbose(sys.argv[1:])
    sys.argv += ["verbose=true"] if verbose else []
    exit_on_user_error(check_command_line)(sys.argv[1:])
    with sweep_outcome():
        main()
