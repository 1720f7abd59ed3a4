"""Fixtures of the retraining tests: a small BasicMotions architecture and a host latency table holding
exactly its operators (profiled once per session with few repeats)."""

import pytest

from micronas.config import load_config
from micronas.cost.lut import DeviceIdentity, LookupTable
from micronas.hardware.local_device import LocalTflmDevice
from micronas.profiling.profile import profile_ops
from micronas.space.architecture import Architecture
from micronas.timing import TimingProtocol

QUICK_TIMING = TimingProtocol(rounds=3, warmups=1, burst=3, span_s=0.0)  # a quick host table


def small_basicmotions_arch() -> Architecture:
    """Two TR cells, a reducing SF cell with branch 3 and residual, a skipped and a used SF cell."""
    sf = {"bottleneck_width": 8, "block_width": 16, "branch5": False, "branch7": False}
    return Architecture.from_dict(
        {
            "input_shape": [100, 6],
            "num_classes": 4,
            "cells": [
                {"type": "tr", "kernel": 3, "width": 8},
                {"type": "tr", "kernel": 5, "width": 8},
                {"type": "sf_reduce", **sf, "branch3": True, "residual": True},
                {"type": "sf", **sf, "branch3": True, "residual": False, "skip": True},
                {"type": "sf", **sf, "branch3": True, "residual": False, "skip": False},
            ],
        }
    )


@pytest.fixture
def small_arch() -> Architecture:
    return small_basicmotions_arch()


@pytest.fixture(scope="session")
def host_setup(tmp_path_factory):
    """`(architecture.json path, host LUT path)` in a session folder; the LUT covers the architecture."""
    folder = tmp_path_factory.mktemp("host")
    arch = small_basicmotions_arch()
    arch_path = arch.save(folder / "architecture.json")
    lut = folder / "host.jsonl"
    mcu = load_config("train", ["mcu=host", f"mcu.cost.lut_path={lut}"]).mcu
    with LocalTflmDevice() as device:
        profile_ops(arch.ops(), device, LookupTable(lut, DeviceIdentity.from_mcu(mcu), QUICK_TIMING))
    return arch_path, lut
