"""Shared fixtures of the cost tests: the reference board measurements (skipped when absent)."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REFERENCE_DIR = Path(
    os.environ.get("MICRONAS_REFERENCE_DIR", REPO.parent / "shared/reference/mcu-measurements")
)


@pytest.fixture
def reference_dir() -> Path:
    """The reference implementation's measured records, or a skip where they are not available."""
    if not REFERENCE_DIR.is_dir():
        pytest.skip(f"reference measurements not found at {REFERENCE_DIR} (set MICRONAS_REFERENCE_DIR)")
    return REFERENCE_DIR
