"""The firmware hand-off: the `.h`/`.cc` pair compiled by the host compiler into a program of two translation
units, whose printed constants are checked against independent oracles: the `.tflite` read by
ai-edge-litert's interpreter (shape, quantisation, operators), the training windows' own statistics, and
the datamodule's names."""

import shutil
import subprocess

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from micronas.config import load_config
from micronas.cost.model import CostModel
from micronas.data import make_datamodule
from micronas.export.c_files import HandoffMetadata, c_string, write_handoff
from micronas.export.flatbuffer import FlatbufferError
from micronas.export.pipeline import export_network
from micronas.space.architecture import Architecture
from micronas.space.searchspace import SearchSpace

from .helpers import random_network

MAIN = r"""
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>
#include "model_data.h"
const unsigned char* other_unit_model();
struct Recorder {  // stands in for tflite::MicroMutableOpResolver: records each Add call
  std::vector<std::string> calls;
  int AddConv2D() { calls.push_back("AddConv2D"); return 0; }
  int AddAdd() { calls.push_back("AddAdd"); return 0; }
  int AddMean() { calls.push_back("AddMean"); return 0; }
  int AddSoftmax() { calls.push_back("AddSoftmax"); return 0; }
};
int main() {
  using namespace micronas_model;
  std::printf("same %d aligned %d len %u\n", other_unit_model() == g_model_data,
              static_cast<int>(reinterpret_cast<std::uintptr_t>(g_model_data) % 16), g_model_data_len);
  std::printf("shape %d %d classes %d ops %d\n", kWindowLength, kNumChannels, kNumClasses, kOperatorCount);
  std::printf("input %.9g %d output %.9g %d\n", kInputScale, kInputZeroPoint, kOutputScale, kOutputZeroPoint);
  std::printf("arena %zu %zu %zu\n", kTensorArenaPredictedBytes, kTensorArenaMeasuredBytes, kTensorArenaSize);
  for (int c = 0; c < kNumChannels; ++c)
    std::printf("channel %.9g %.9g %s\n", kChannelMean[c], kChannelStd[c], kChannelNames[c]);
  for (int k = 0; k < kNumClasses; ++k) std::printf("label %s\n", kLabels[k]);
  Recorder recorder;
  std::printf("registered %d", RegisterOps(recorder));
  for (const auto& call : recorder.calls) std::printf(" %s", call.c_str());
  std::printf("\n");
  std::fwrite(g_model_data, 1, g_model_data_len, stderr);
  return 0;
}
"""
OTHER = '#include "model_data.h"\nconst unsigned char* other_unit_model() { return g_model_data; }\n'


@pytest.fixture(scope="module")
def handoff(tmp_path_factory):
    """A basicmotions network exported with its hand-off metadata, and the datamodule it came from."""
    cfg = load_config("search", ["dataset=basicmotions", "mcu=nucleo_l552"])
    dm = make_datamodule(cfg)
    dm.setup()
    arch = Architecture.random(SearchSpace(*dm.input_shape, dm.num_classes), np.random.default_rng(3))
    out = tmp_path_factory.mktemp("handoff")
    exported = export_network(random_network(arch, 3), dm.representative_windows(100), out)
    mean, std = dm.normalization
    predicted = CostModel.from_mcu(cfg.mcu).arena(arch).arena_bytes
    metadata = HandoffMetadata(dm.channel_names, mean, std, dm.class_names, "NUCLEO-L552ZE-Q", predicted)
    files = write_handoff(exported.tflite, out, metadata)
    return exported.tflite, dm, metadata, files


def compile_and_run(folder, main=MAIN, other=OTHER):
    if shutil.which("g++") is None:
        pytest.skip("g++ is not installed")
    (folder / "main.cc").write_text(main)
    (folder / "other.cc").write_text(other)
    subprocess.run(["g++", "-std=c++17", "-Wall", "-Wextra", "-Werror", "main.cc", "other.cc",
                    "model_data.cc", "-o", "main"], cwd=folder, check=True, capture_output=True)
    result = subprocess.run([str(folder / "main")], capture_output=True, check=True)
    return result.stdout.decode().splitlines(), result.stderr


def test_the_pair_links_from_two_units_and_holds_the_model_and_its_metadata(handoff):
    model, dm, metadata, files = handoff
    lines, stderr = compile_and_run(files.header.parent)
    values = {line.split()[0]: line.split()[1:] for line in lines}
    assert stderr == model == files.header.parent.joinpath("model_int8.tflite").read_bytes()
    assert values["same"] == ["1", "aligned", "0", "len", str(len(model))]

    litert = Interpreter(model_content=model)
    x, y = litert.get_input_details()[0], litert.get_output_details()[0]
    assert values["shape"] == [str(x["shape"][1]), str(x["shape"][2]), "classes", str(y["shape"][-1]),
                               "ops", values["shape"][-1]]
    assert np.float32(values["input"][0]) == np.float32(x["quantization"][0])
    assert int(values["input"][1]) == x["quantization"][1]
    assert np.float32(values["input"][3]) == np.float32(y["quantization"][0])
    assert int(values["input"][4]) == y["quantization"][1]

    op_names = list(dict.fromkeys(op["op_name"] for op in litert._get_ops_details()))
    registered = lines[-1].split()
    assert registered[:2] == ["registered", "1"]
    expected = ["add" + name.replace("_", "").lower() for name in op_names]
    assert [call.lower() for call in registered[2:]] == expected
    assert int(values["shape"][-1]) == len(op_names)

    train = dm.windows("train").x.astype(np.float64)  # the z-score statistics, recomputed from the windows
    channels = [line.split()[1:] for line in lines if line.startswith("channel ")]
    np.testing.assert_allclose([float(m) for m, _, _ in channels], train.mean(axis=(0, 1)),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose([float(s) for _, s, _ in channels], train.std(axis=(0, 1)), rtol=1e-5)
    assert [name for _, _, name in channels] == list(dm.channel_names)
    assert [line[len("label "):] for line in lines if line.startswith("label ")] == list(dm.class_names)
    predicted = metadata.arena_predicted_bytes
    assert values["arena"] == [str(predicted), "0", str(-(-predicted // 16) * 16)]


def test_the_arena_size_is_the_measured_one_once_measured(handoff, tmp_path):
    model, dm, metadata, _ = handoff
    mean, std = dm.normalization
    measured = HandoffMetadata(dm.channel_names, mean, std, dm.class_names, "b", 20000, 21001)
    write_handoff(model, tmp_path, measured)
    lines, _ = compile_and_run(tmp_path)
    assert next(line for line in lines if line.startswith("arena")).split()[1:] == ["20000", "21001", "21008"]


def test_names_with_quotes_backslashes_and_non_ascii_survive_as_c_strings(tmp_path):
    names = ['walk "fast"', "back\\slash", "café ?? trigraph", "tab\there"]
    program = "#include <cstdio>\nint main() {\n" + "".join(
        f'  std::printf("%s\\n", {c_string(name)});\n' for name in names) + "}\n"
    (tmp_path / "main.cc").write_text(program)
    if shutil.which("g++") is None:
        pytest.skip("g++ is not installed")
    subprocess.run(["g++", "-Wall", "-Werror", "-Wtrigraphs", "main.cc", "-o", "main"], cwd=tmp_path,
                   check=True)
    output = subprocess.run([str(tmp_path / "main")], capture_output=True, check=True).stdout.decode()
    assert output.split("\n")[:-1] == names


def test_metadata_of_another_shape_is_refused(handoff, tmp_path):
    model, dm, metadata, _ = handoff
    wrong = HandoffMetadata(["a"], metadata.mean, metadata.std, metadata.labels, "b", 1)
    with pytest.raises(ValueError, match="1 channel names but the model has 6"):
        write_handoff(model, tmp_path, wrong)


def test_a_model_that_is_not_a_tflite_is_refused(tmp_path):
    with pytest.raises(FlatbufferError, match="not a TFLite flatbuffer"):
        write_handoff(b"not a model", tmp_path)
