"""Shared fixtures: composing the real Hydra config with a private data folder, the reference board
measurements."""

import os
import tempfile
from pathlib import Path

import pytest

from micronas.config import load_config
from micronas.user_conf import ENV

# The user's own board settings (~/.config/micronas/conf) never reach the tests: a folder that does not
# exist; tests of the user config directory point the variable at their own.
os.environ[ENV] = os.path.join(tempfile.gettempdir(), f"micronas-tests-no-user-conf-{os.getpid()}")

REPO = Path(__file__).resolve().parents[1]
REFERENCE_DIR = Path(
    os.environ.get("MICRONAS_REFERENCE_DIR", REPO.parent / "shared/reference/mcu-measurements")
)


@pytest.fixture
def compose(tmp_path):
    """`compose(*overrides, config="search")`: the validated config, with `data_dir` in a fresh tmp folder."""

    def _compose(*overrides: str, config: str = "search"):
        return load_config(config, [f"data_dir={tmp_path / 'data'}", *overrides])

    return _compose


@pytest.fixture
def reference_dir() -> Path:
    """The reference implementation's measured records, or a skip where they are not available."""
    if not REFERENCE_DIR.is_dir():
        pytest.skip(f"reference measurements not found at {REFERENCE_DIR} (set MICRONAS_REFERENCE_DIR)")
    return REFERENCE_DIR


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory):
    """One real sqlite MLflow store for the whole test session (creating its schema takes seconds)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


class _RunsCode:
    """Unpickling this calls `os.system`, which creates the file `marker`."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os
        return os.system, (f"touch '{self.marker}'",)


@pytest.fixture
def code_running_checkpoint(tmp_path):
    """`write(path, **entries)`: a checkpoint whose unpickling would create `tmp_path / "RAN"`; returns that
    marker path. The payload sits where a loader looks first (the search identity, the epoch)."""
    import torch

    marker = tmp_path / "RAN"

    def write(path, **entries):
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = _RunsCode(marker)
        torch.save({"epoch": payload, "micronas_search": payload, "state_dict": {}, **entries}, path)
        return marker

    return write
