"""Hydra config composition and the start-up validation every entry point calls first."""

import math
import re

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from micronas.budgets import UNITS, latency_unit, units
from micronas.errors import ConfigError
from micronas.user_conf import PACKAGE_CONF_DIR as CONF_DIR
from micronas.user_conf import conf_dirs


def group_options(group: str) -> list[str]:
    """Names of the options of a config group (the package's and the user's), e.g. `group_options("mcu")`."""
    return sorted({p.stem for folder in conf_dirs() for p in (folder / group).glob("*.yaml")})


def _check_override_groups(overrides: list[str]) -> None:
    for override in overrides:
        key, _, value = override.lstrip("+~").partition("=")
        if not (CONF_DIR / key).is_dir() or not re.fullmatch(r"[\w\-]+(,[\w\-]+)*", value):
            continue  # not a group, or a sweep expression (choice(...), glob(...)) that Hydra checks
        valid = group_options(key)
        for option in value.split(","):
            if option not in valid and option != "null":
                raise ConfigError(
                    f"{key}={option} is not a known {key}; valid options are: {', '.join(valid)}.")


def check_command_line(argv: list[str]) -> None:
    """Refuse an unknown config-group option among an entry point's arguments before Hydra composes them
    (Hydra's own error is many lines)."""
    overrides = [arg for arg in argv if not arg.startswith(("-", "hydra"))]  # Hydra's own groups are plugins'
    _check_override_groups(expand_aliases(overrides))


ALIASES = {"device.": "mcu.device."}  # `device.port=/dev/ttyACM0` is short for `mcu.device.port=...`


def expand_aliases(overrides: list[str]) -> list[str]:
    """Rewrite short override keys (`device.port=`) to their full config path (`mcu.device.port=`)."""
    expanded = []
    for override in overrides:
        prefix = override[: len(override) - len(override.lstrip("+~"))]
        body = override[len(prefix):]
        for short, full in ALIASES.items():
            if body.startswith(short):
                body = full + body[len(short):]
        expanded.append(prefix + body)
    return expanded


def load_config(config_name: str, overrides: list[str] | None = None) -> DictConfig:
    """Compose `conf/<config_name>.yaml` with command-line style overrides, then validate it."""
    overrides = expand_aliases(list(overrides or []))
    _check_override_groups(overrides)
    try:
        if GlobalHydra.instance().is_initialized():  # inside a @hydra.main app, whose config dir is conf/
            cfg = compose(config_name=config_name, overrides=overrides)
        else:
            with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
                cfg = compose(config_name=config_name, overrides=overrides)
    except HydraException as error:
        first_line = str(error).strip().splitlines()[0]
        raise ConfigError(f"the overrides {' '.join(overrides)} are not valid: {first_line}") from None
    validate(cfg)
    return cfg


def is_real(value) -> bool:
    """Whether a config value is a finite number (an int or a float, not a bool, NaN or infinity)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _positive_or_null(name: str, value, unit: str) -> float | None:
    if value is None:
        return None
    if not is_real(value) or value <= 0:
        raise ConfigError(
            f"constraints.{name}={value} is not valid: a {name} budget must be a positive, finite number "
            f"of {unit}, or null for unconstrained."
        )
    return float(value)


def positive_int(key: str, value, least: int = 1) -> int:
    """`value` as an int, or a `ConfigError` naming `key` unless it is an integer of at least `least`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ConfigError(f"{key}={value} is not valid; use an integer of at least {least}.")
    return value


def auto_or_positive_int(key: str, value) -> int | str:
    """`value` (`auto` or an integer of at least 1), or a `ConfigError` naming `key`."""
    if value != "auto" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"{key}={value} is not valid; it must be auto or a positive integer.")
    return value


def learning_rate(key: str, value) -> float:
    """`value` as a float, or a `ConfigError` naming `key` unless it is a positive, finite number."""
    if not is_real(value) or value <= 0:
        raise ConfigError(f"{key}={value} is not valid; it must be a positive learning rate such as 1e-3.")
    return float(value)


def one_of(key: str, value, valid: tuple[str, ...]) -> str:
    """`value`, or a `ConfigError` naming `key` unless it is one of `valid`."""
    if value not in valid:
        raise ConfigError(f"{key}={value} is not one of {', '.join(valid)}.")
    return value


def flag(key: str, value) -> bool:
    """`value`, or a `ConfigError` naming `key` unless it is true or false."""
    if not isinstance(value, bool):
        raise ConfigError(f"{key}={value} is not valid; it must be true or false.")
    return value


def search_methods() -> list[str]:
    """The `method` of every `conf/search/*.yaml` option (dnas, darts, random)."""
    methods = {OmegaConf.load(path).get("method") for path in (CONF_DIR / "search").glob("*.yaml")}
    return sorted(str(method) for method in methods - {None})


def _check_search(search) -> None:
    if search.get("method") not in search_methods():
        raise ConfigError(
            f"search.method={search.get('method')} is not valid; "
            f"valid methods are: {', '.join(search_methods())}."
        )
    positive_int("search.epochs", search.get("epochs"))


def validate(cfg: DictConfig) -> None:
    """Refuse an invalid config with one sentence, before any work starts.

    Checks that the chosen dataset and MCU exist, the batch size, search method and epochs, that budgets
    are positive and finite (or null), and that the memory and flash budgets fit the board's SRAM and flash.
    """
    for group in ("dataset", "mcu"):
        if group in cfg:
            name = cfg[group].get("name")
            if name not in group_options(group):
                raise ConfigError(
                    f"{group}={name} is not a known {group}; valid options are: "
                    f"{', '.join(group_options(group))}."
                )
    if "dataset" in cfg:
        positive_int("dataset.batch_size", cfg.dataset.get("batch_size", 64))
    if "search" in cfg:
        _check_search(cfg.search)
    constraints = cfg.get("constraints") or {}
    unknown = set(constraints) - set(UNITS)
    if unknown:
        raise ConfigError(
            f"constraints.{sorted(unknown)[0]} is not a known budget; valid budgets are: "
            f"{', '.join(UNITS)}."
        )
    mcu = cfg.get("mcu")
    budgets = {name: _positive_or_null(name, constraints.get(name), unit)
               for name, unit in units(latency_unit(mcu)).items()}
    if mcu is None:
        return
    for name, capacity_key, what in (("memory", "sram_bytes", "SRAM"), ("flash", "flash_bytes", "flash")):
        budget_kb = budgets[name]
        capacity_kb = mcu[capacity_key] / 1024
        if budget_kb is not None and budget_kb > capacity_kb:
            raise ConfigError(
                f"constraints.{name}={budget_kb:g} kB exceeds the {what} of {mcu.name} "
                f"({capacity_kb:g} kB); choose at most {capacity_kb:g} kB or another mcu."
            )


def to_yaml(cfg: DictConfig) -> str:
    """The resolved config as YAML, for run directories and MLflow artifacts."""
    return OmegaConf.to_yaml(cfg, resolve=True)
