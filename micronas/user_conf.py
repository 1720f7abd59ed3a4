"""The user's config directory: board configs and fitted board settings that survive upgrades of micronas.

It is `$MICRONAS_CONFIG_DIR`, else `$XDG_CONFIG_HOME/micronas/conf`, else `~/.config/micronas/conf`, laid
out like the package's `conf/` (`mcu/my_board.yaml`). The Hydra search-path plugin in
`hydra_plugins/micronas_user_conf` puts it before the package's `conf/` in every micronas composition, so
`mcu/nucleo_l552.yaml` there replaces the shipped one.
"""

import os
from pathlib import Path

ENV = "MICRONAS_CONFIG_DIR"
PACKAGE_CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def user_conf_dir() -> Path:
    """`$MICRONAS_CONFIG_DIR`, else `$XDG_CONFIG_HOME/micronas/conf`, else `~/.config/micronas/conf`."""
    explicit = os.environ.get(ENV)
    if explicit:
        return Path(explicit).expanduser()
    return Path(os.environ.get("XDG_CONFIG_HOME") or "~/.config").expanduser() / "micronas" / "conf"


def conf_dirs() -> list[Path]:
    """The config directories in Hydra's order: the user's (where it exists) first, then the package's."""
    user = user_conf_dir()
    return ([user] if user.is_dir() else []) + [PACKAGE_CONF_DIR]
