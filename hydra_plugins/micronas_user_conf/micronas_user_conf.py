"""Hydra search-path plugin: the micronas user config directory before the package's `conf/`.

Applies only to compositions whose primary config directory is micronas's own `conf/`.
"""

from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class MicronasUserConf(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        from micronas.user_conf import PACKAGE_CONF_DIR, user_conf_dir

        mains = [e.path for e in search_path.get_path() if e.provider == "main" and e.path]
        ours = any(Path(p.removeprefix("file://")).resolve() == PACKAGE_CONF_DIR for p in mains)
        if ours and user_conf_dir().is_dir():
            search_path.prepend(provider="micronas-user", path=f"file://{user_conf_dir()}")
