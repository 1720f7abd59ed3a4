"""The hand-off's example application compiles against the pinned TFLM headers: with the host compiler,
and with arm-none-eabi-g++ for a Cortex-M33 as the firmware build compiles (real
`tflite::MicroMutableOpResolver`, so every method `RegisterOps` calls must exist)."""

import shutil
import subprocess

import numpy as np
import pytest

from micronas.export.c_files import HandoffMetadata, write_handoff
from micronas.export.pipeline import export_network
from micronas.firmware.build import unpacked_sources
from micronas.space.architecture import Architecture
from micronas.space.searchspace import SearchSpace

from tests.export.helpers import noise_windows, random_network

ARM_M33 = ["arm-none-eabi-g++", "-mcpu=cortex-m33", "-mfpu=auto", "-mfloat-abi=hard", "-mthumb",
           "-fno-threadsafe-statics", "-DCMSIS_NN"]


@pytest.fixture(scope="module")
def example(tflm_sources, toolchain, tmp_path_factory):
    """An exported model's hand-off files, and the include flags of the unpacked pinned sources."""
    tree = unpacked_sources(tflm_sources)
    arch = Architecture.random(SearchSpace(50, 3, 5), np.random.default_rng(0))
    out = tmp_path_factory.mktemp("example")
    model = export_network(random_network(arch, 0), noise_windows(arch, 50, 0), out).tflite
    metadata = HandoffMetadata(["x", "y", "z"], np.zeros(3), np.ones(3), list("abcde"), "a board", 12345)
    write_handoff(model, out, metadata)
    includes = [f"-I{tree / name}" for name in ("tflite-micro", "flatbuffers/include", "gemmlowp", "ruy")]
    return out, includes


@pytest.mark.parametrize("compiler", [["g++"], ARM_M33], ids=["host", "arm-m33"])
def test_the_example_and_the_model_compile_with_tflm(example, compiler):
    if shutil.which(compiler[0]) is None:
        pytest.skip(f"{compiler[0]} is not installed")
    out, includes = example
    flags = ["-std=c++17", "-fno-rtti", "-fno-exceptions", "-Wall", "-Werror", "-DTF_LITE_STATIC_MEMORY",
             *includes, "-c"]
    for source in ("model_example.cc", "model_data.cc"):
        result = subprocess.run([*compiler, *flags, source, "-o", f"{source}.o"], cwd=out,
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-3000:]
        assert (out / f"{source}.o").stat().st_size > 0
