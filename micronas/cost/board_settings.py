"""Store what a user fits for a board (predictor, arena layout, runtime version) in the user's copy of its
MCU config, `<user config dir>/mcu/<name>.yaml` (`micronas.user_conf`), never in the package's `conf/`.

The first write copies the package's `mcu/<name>.yaml`; later writes update the user's file.
"""

from pathlib import Path

import yaml

from micronas.errors import ConfigError
from micronas.user_conf import PACKAGE_CONF_DIR, user_conf_dir

RUNTIME_KEY = "mcu.cost.runtime_version"


def _merge(base: dict, changes: dict) -> dict:
    merged = dict(base)
    for key, value in changes.items():
        nested = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _merge(merged[key], value) if nested else value
    return merged


def store_board_settings(mcu_name: str, changes: dict) -> Path:
    """Merge `changes` (nested, e.g. `{"cost": {"runtime_version": ...}}`) into the user's
    `mcu/<mcu_name>.yaml` and return its path."""
    target = user_conf_dir() / "mcu" / f"{mcu_name}.yaml"
    source = target if target.is_file() else PACKAGE_CONF_DIR / "mcu" / f"{mcu_name}.yaml"
    if not source.is_file():
        raise ConfigError(f"mcu={mcu_name} has no config file ({source}); create it before storing settings.")
    data = yaml.safe_load(source.read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source} holds a {type(data).__name__}; an MCU config must be a mapping.")
    header = (f"# mcu={mcu_name}, written by micronas (import_records / calibrate --write / arena_fit --write).\n"
              f"# It replaces the package's conf/mcu/{mcu_name}.yaml wherever micronas composes its config.\n")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".yaml.part")
    partial.write_text(header + yaml.safe_dump(_merge(data, changes), sort_keys=False, width=100))
    partial.replace(target)
    return target


def runtime_from_command_line(overrides: list[str], mcu) -> dict:
    """`{"cost": {"runtime_version": ...}}` when the overrides set `mcu.cost.runtime_version`, else `{}`."""
    given = any(o.lstrip("+~").startswith(RUNTIME_KEY + "=") for o in overrides)
    return {"cost": {"runtime_version": str(mcu.cost.runtime_version)}} if given else {}
