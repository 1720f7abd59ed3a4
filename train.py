"""Retrain a found architecture from scratch, export it to full int8, evaluate and measure it.

    python train.py arch=PATH/architecture.json dataset=basicmotions mcu=host [constraints.latency=5]

Writes summary.json, model_int8.tflite, model_data.h, measurement.json and confusion PNGs into the
Hydra run folder and logs one MLflow run. A killed run resumes when started again with
hydra.run.dir=<its folder>.
"""

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from micronas.config import check_command_line
from micronas.console import configure_console, split_verbose
from micronas.errors import exit_on_user_error


@hydra.main(config_path="conf", config_name="train", version_base="1.3")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    from micronas.train.train_run import run_training

    configure_console(cfg.get("verbose", False))
    run_training(cfg, Path(HydraConfig.get().runtime.output_dir))


if __name__ == "__main__":
    verbose, sys.argv[1:] = split_verbose(sys.argv[1:])
    sys.argv += ["verbose=true"] if verbose else []
    exit_on_user_error(check_command_line)(sys.argv[1:])
    main()
