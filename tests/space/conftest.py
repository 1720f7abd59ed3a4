"""Shared fixtures of the space tests: the spaces of every dataset config with a window shape."""

import pytest

from micronas.config import group_options, load_config
from micronas.space.searchspace import SearchSpace

SHAPED_DATASETS = [name for name in group_options("dataset") if name != "npz"]


@pytest.fixture(scope="session")
def spaces() -> dict[str, SearchSpace]:
    """`{dataset name: SearchSpace}` composed from the real Hydra configs (bundled sets, UCI-HAR, SkodaR)."""
    return {
        name: SearchSpace.from_config(load_config("search", [f"dataset={name}"])) for name in SHAPED_DATASETS
    }


@pytest.fixture(params=SHAPED_DATASETS)
def space(request, spaces) -> SearchSpace:
    return spaces[request.param]
