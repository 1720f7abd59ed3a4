"""Store what a user fits for a board (predictor, arena layout, runtime version) in the user's copy of its
MCU config, `<user config dir>/mcu/<name>.yaml` (`micronas.user_conf`), never in the package's `conf/`.

The first write copies the package's `mcu/<name>.yaml`; later writes update the user's file.
"""

import argparse
from pathlib import Path

import yaml

from micronas.errors import ConfigError
from micronas.user_conf import PACKAGE_CONF_DIR, user_conf_dir

RUNTIME_KEY = "mcu.cost.runtime_version"


def _set(data: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        if not isinstance(data.get(key), dict):
            data[key] = {}
        data = data[key]
    data[last] = value


def store_board_settings(mcu_name: str, changes: dict) -> Path:
    """Set each dotted key of `changes` (e.g. `{"cost.predictor": {...}}`, replacing what was there) in the
    user's `mcu/<mcu_name>.yaml` and return its path."""
    target = user_conf_dir() / "mcu" / f"{mcu_name}.yaml"
    source = target if target.is_file() else PACKAGE_CONF_DIR / "mcu" / f"{mcu_name}.yaml"
    if not source.is_file():
        raise ConfigError(f"mcu={mcu_name} has no config file ({source}); create it before storing settings.")
    try:
        data = yaml.safe_load(source.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{source} is not valid YAML ({str(error).splitlines()[0]}); fix or remove it.") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source} holds a {type(data).__name__}; an MCU config must be a mapping.")
    header = (f"# mcu={mcu_name}: written by micronas (import_records, calibrate, arena_fit).\n"
              f"# It takes precedence over a conf/mcu/{mcu_name}.yaml shipped with micronas.\n")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".yaml.part")
    for dotted, value in changes.items():
        _set(data, dotted, value)
    partial.write_text(header + yaml.safe_dump(data, sort_keys=False, width=100))
    partial.replace(target)
    return target


def runtime_from_command_line(overrides: list[str], mcu) -> dict:
    """`{"cost.runtime_version": ...}` when the overrides set `mcu.cost.runtime_version`, else `{}`."""
    given = any(o.lstrip("+~").startswith(RUNTIME_KEY + "=") for o in overrides)
    return {"cost.runtime_version": str(mcu.cost.runtime_version)} if given else {}


def remember_runtime_version(overrides: list[str], mcu) -> None:
    """Store a `mcu.cost.runtime_version` given on the command line, saying where."""
    runtime = runtime_from_command_line(overrides, mcu)
    if runtime:
        path = store_board_settings(str(mcu.name), runtime)
        print(f"stored {RUNTIME_KEY}={mcu.cost.runtime_version} in {path}")


def fit_command_parser(description: str, stored: str) -> argparse.ArgumentParser:
    """The arguments of a command that fits part of a board's cost model: Hydra overrides, `--records`,
    `--holdout`, `--seed` and `--write` (which stores `stored`)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. mcu=nucleo_l552")
    parser.add_argument("--records", help="measured records file or folder instead of the MCU's LUT file")
    parser.add_argument("--holdout", type=float, default=0.2, help="held-out share per operator group")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", action="store_true",
                        help=f"store {stored} in the user's copy of the MCU config")
    return parser


def check_holdout(share: float) -> None:
    """Refuse a held-out share outside (0, 1) in one sentence."""
    if not 0 < share < 1:
        raise ConfigError(f"--holdout {share} is not valid; give a share between 0 and 1, e.g. 0.2.")
