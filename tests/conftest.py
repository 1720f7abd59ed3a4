"""Shared fixtures: composing the real Hydra config with a private data folder."""

import pytest

from micronas.config import load_config


@pytest.fixture
def compose(tmp_path):
    """`compose(*overrides, config="search")`: the validated config, with `data_dir` in a fresh tmp folder."""

    def _compose(*overrides: str, config: str = "search"):
        return load_config(config, [f"data_dir={tmp_path / 'data'}", *overrides])

    return _compose


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory):
    """One real sqlite MLflow store for the whole test session (creating its schema takes seconds)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
