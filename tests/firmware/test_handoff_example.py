"""The hand-off's example application compiles against the pinned TFLM headers: with the host compiler,
and with arm-none-eabi-g++ for a Cortex-M33 as the firmware build compiles (real
`tflite::MicroMutableOpResolver`, so every method `RegisterOps` calls must exist). Built with TFLM for
this host (slow), it classifies raw windows as the Python pipeline does."""

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from micronas.config import load_config
from micronas.data import make_datamodule
from micronas.export.c_files import HandoffMetadata, write_handoff
from micronas.export.pipeline import export_network, nchw_to_nhwc
from micronas.export.tflm import TflmRunner
from micronas.firmware.build import unpacked_sources
from micronas.space.architecture import Architecture
from micronas.space.searchspace import SearchSpace

from tests.export.helpers import noise_windows, random_network, train_briefly

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


MICRO = "tensorflow/lite/micro"
HOST_TFLM = [f"{MICRO}/{name}" for name in (
    "flatbuffer_utils.cc memory_helpers.cc micro_allocation_info.cc micro_allocator.cc micro_context.cc "
    "micro_interpreter.cc micro_interpreter_context.cc micro_interpreter_graph.cc micro_log.cc "
    "micro_op_resolver.cc micro_profiler.cc micro_resource_variable.cc micro_utils.cc system_setup.cc "
    "debug_log.cc micro_time.cc kernels/kernel_util.cc kernels/conv_common.cc kernels/add_common.cc "
    "kernels/softmax_common.cc kernels/reduce.cc kernels/reduce_common.cc kernels/conv.cc kernels/add.cc "
    "kernels/softmax.cc").split()] + (
    "tensorflow/lite/kernels/kernel_util.cc tensorflow/lite/kernels/internal/runtime_shape.cc "
    "tensorflow/lite/kernels/internal/portable_tensor_utils.cc "
    "tensorflow/lite/kernels/internal/tensor_ctypes.cc "
    "tensorflow/lite/kernels/internal/reference/portable_tensor_utils.cc "
    "tensorflow/lite/kernels/internal/common.cc tensorflow/lite/kernels/internal/quantization_util.cc "
    "tensorflow/lite/kernels/internal/tensor_utils.cc tensorflow/lite/core/api/flatbuffer_conversions.cc "
    "tensorflow/lite/core/api/tensor_utils.cc tensorflow/lite/core/c/common.cc "
    "tensorflow/compiler/mlir/lite/schema/schema_utils.cc "
    "tensorflow/compiler/mlir/lite/core/api/error_reporter.cc").split()
RUN_WINDOWS = r"""
#include <cstdio>
#include <vector>
#include "model_data.h"
int ClassifyWindow(const float* window);
int main(int argc, char** argv) {  // raw float32 windows [n, T, C] from argv[1]; one label index per line
  std::FILE* file = std::fopen(argv[argc - 1], "rb");
  std::vector<float> window(micronas_model::kWindowLength * micronas_model::kNumChannels);
  while (std::fread(window.data(), sizeof(float), window.size(), file) == window.size())
    std::printf("%d\n", ClassifyWindow(window.data()));
  return 0;
}
"""


def host_tflm_objects(tree, includes) -> list[str]:
    """The TFLM framework and the reference kernels a micronas model uses, compiled for this host (cached
    beside the unpacked sources; minutes the first time)."""
    folder = tree / "host-objects"
    folder.mkdir(exist_ok=True)

    def compile_one(source: str) -> str:
        target = folder / (source.replace("/", "_") + ".o")
        if not target.is_file():
            partial = target.with_suffix(".part.o")
            subprocess.run(["g++", "-std=c++17", "-O1", "-fno-rtti", "-fno-exceptions",
                            "-DTF_LITE_STATIC_MEMORY", "-DTF_LITE_DISABLE_X86_NEON", *includes, "-c",
                            str(tree / "tflite-micro" / source), "-o", str(partial)], check=True,
                           capture_output=True)
            partial.replace(target)
        return str(target)

    pattern = [str(p.relative_to(tree / "tflite-micro")) for d in ("arena_allocator", "memory_planner",
               "tflite_bridge") for p in (tree / "tflite-micro" / MICRO / d).glob("*.cc")
               if not p.name.endswith("_test.cc")]
    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(compile_one, HOST_TFLM + pattern))


@pytest.mark.slow
def test_the_example_classifies_raw_windows_as_the_python_pipeline_does(tflm_sources, toolchain, tmp_path):
    """Built with TFLM for this host, the example normalises, quantises and classifies the raw test windows
    of basicmotions; the oracle is the datamodule's normalised windows run in the tflite-micro interpreter."""
    cfg = load_config("search", ["dataset=basicmotions", "mcu=host"])
    dm = make_datamodule(cfg)
    dm.setup()
    arch = Architecture.random(SearchSpace(*dm.input_shape, dm.num_classes), np.random.default_rng(1))
    net = train_briefly(random_network(arch, 1), dm.train_dataloader(), 20, seed=1)
    model = export_network(net, dm.representative_windows(100), tmp_path).tflite
    runner = TflmRunner(model)
    mean, std = dm.normalization
    write_handoff(model, tmp_path, HandoffMetadata(dm.channel_names, mean, std, dm.class_names, "host",
                                                   runner.arena_bytes, runner.arena_bytes))
    expected = runner.predict(nchw_to_nhwc(dm.test_dataset.tensors[0].numpy())).argmax(axis=1)
    assert len(set(expected)) > 1  # a network that tells classes apart, so the comparison means something

    tree = unpacked_sources(tflm_sources)
    includes = [f"-I{tree / name}" for name in ("tflite-micro", "flatbuffers/include", "gemmlowp", "ruy")]
    objects = host_tflm_objects(tree, includes)
    (tmp_path / "run.cc").write_text(RUN_WINDOWS)
    subprocess.run(["g++", "-std=c++17", "-fno-rtti", "-fno-exceptions", "-DTF_LITE_STATIC_MEMORY", *includes,
                    "run.cc", "model_example.cc", "model_data.cc", *objects, "-o", "run"], cwd=tmp_path,
                   check=True, capture_output=True)
    dm.windows("test").x.astype(np.float32).tofile(tmp_path / "windows.f32")  # raw: [n, T, C]
    done = subprocess.run([str(tmp_path / "run"), str(tmp_path / "windows.f32")], capture_output=True,
                          text=True, check=True)
    assert [int(line) for line in done.stdout.split()] == list(expected)
