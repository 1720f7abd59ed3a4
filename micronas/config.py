"""Hydra config composition and the start-up validation every entry point calls first."""

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from micronas.budgets import UNITS, latency_unit, units
from micronas.errors import ConfigError

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def group_options(group: str) -> list[str]:
    """Names of the options of a config group, e.g. `group_options("mcu")`."""
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def _check_override_groups(overrides: list[str]) -> None:
    for override in overrides:
        key, _, value = override.lstrip("+~").partition("=")
        if (CONF_DIR / key).is_dir() and value and value not in group_options(key):
            raise ConfigError(
                f"{key}={value} is not a known {key}; valid options are: {', '.join(group_options(key))}."
            )


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


def _positive_or_null(name: str, value, unit: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(
            f"constraints.{name}={value} is not valid: a {name} budget must be a positive number "
            f"of {unit}, or null for unconstrained."
        )
    return float(value)


def validate(cfg: DictConfig) -> None:
    """Refuse an invalid config with one sentence, before any work starts.

    Checks that the chosen dataset and MCU exist, that budgets are positive (or null), and that the
    memory and flash budgets fit the board's SRAM and flash.
    """
    for group in ("dataset", "mcu"):
        if group in cfg:
            name = cfg[group].get("name")
            if name not in group_options(group):
                raise ConfigError(
                    f"{group}={name} is not a known {group}; valid options are: "
                    f"{', '.join(group_options(group))}."
                )
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
