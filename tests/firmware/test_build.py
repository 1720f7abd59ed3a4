"""The firmware build: cached by its inputs, and one sentence when the toolchain or QEMU is missing."""

import time

import pytest

from micronas.firmware.build import build
from micronas.firmware.sources import FirmwareError
from micronas.hardware.errors import DeviceError
from micronas.hardware.qemu import QemuBoard


def test_a_second_build_comes_from_the_cache(m33_firmware, tflm_sources):
    start = time.monotonic()
    again = build("m33", tflm_sources)
    assert again.cached and again.elf == m33_firmware.elf and again.key == m33_firmware.key
    assert time.monotonic() - start < 30  # no compile: hashing and a record read
    # the image holds the firmware and TFLM; RAM holds the 1 MiB arena
    assert 50_000 < again.flash_bytes < 400_000 and again.ram_bytes > 1 << 20


def test_a_missing_toolchain_or_qemu_names_the_debian_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FirmwareError, match="arm-none-eabi-gcc is not installed; install it with: apt-get install -y "
                       "gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc"):
        build("m33")
    with pytest.raises(DeviceError, match="qemu-system-arm is not installed; install it with: apt-get install -y "
                       "qemu-system-arm."):
        QemuBoard("mps2-an505", tmp_path / "fw.elf")


def test_an_unknown_core_is_refused_before_anything_runs():
    with pytest.raises(FirmwareError, match="core=m3 is not valid; valid cores are: m33, m4, m7."):
        build("m3")
