"""Fixtures of the firmware tests: the pinned sources (`MICRONAS_TFLM_SOURCES`, else the shared folder
beside the project), the arm-none-eabi toolchain and QEMU; tests that need what is absent skip, saying
what is missing."""

import os
import shutil
from pathlib import Path

import pytest

from micronas.firmware.build import build, check_toolchain
from micronas.firmware.sources import ENV, FirmwareError

SHARED_SOURCES = Path(__file__).resolve().parents[3] / "shared" / "vendor" / "tflm-sources"


@pytest.fixture(scope="session")
def tflm_sources() -> Path:
    """The folder of pinned tarballs; exported as MICRONAS_TFLM_SOURCES for configs that read it."""
    folder = Path(os.environ.get(ENV) or SHARED_SOURCES)
    if not folder.is_dir():
        pytest.skip(f"no TFLM sources folder: set {ENV} to the pinned tarballs ({folder} does not exist)")
    os.environ[ENV] = str(folder)
    return folder


@pytest.fixture(scope="session")
def toolchain() -> str:
    try:
        return check_toolchain()
    except FirmwareError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def qemu() -> str:
    path = shutil.which("qemu-system-arm")
    if path is None:
        pytest.skip("qemu-system-arm is not installed (Debian: apt-get install -y qemu-system-arm)")
    return path


@pytest.fixture(scope="session")
def m33_firmware(tflm_sources, toolchain):
    """The M33 firmware, built once (minutes cold, instant from the cache)."""
    return build("m33", tflm_sources)
