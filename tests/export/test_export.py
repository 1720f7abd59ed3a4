import re

import numpy as np
import pytest
import torch

from micronas.errors import DataError
from micronas.export.flatbuffer import DEPLOYABLE_KINDS, read_graph, to_opspecs
from micronas.export.keras_model import logits_model, to_keras
from micronas.export.pipeline import (
    ExportError,
    check_ops,
    export_network,
    float_logits_difference,
    nchw_to_nhwc,
)
from micronas.export.tflm import TflmRunner
from micronas.space.architecture import Architecture
from micronas.space.searchspace import SearchSpace
from micronas.export.quantize import quantize

from .helpers import litert_reference, noise_windows, random_network

FORBIDDEN = {"RESHAPE", "TRANSPOSE", "PAD", "PADV2", "QUANTIZE", "DEQUANTIZE"}


def ucihar_special() -> Architecture:
    """Three branches + residual, a dead bottleneck (residual only) and a skipped cell."""
    data = Architecture.largest(SearchSpace(128, 9, 6)).to_dict()
    data["cells"][0].update(kernel=3, width=4)
    data["cells"][3].update(bottleneck_width=24, block_width=40)
    data["cells"][4].update(branch3=False, branch5=False, branch7=False, residual=True, block_width=16)
    data["cells"][5]["skip"] = True
    return Architecture.from_dict(data)


def random_arch(shape, seed) -> Architecture:
    return Architecture.random(SearchSpace(*shape), np.random.default_rng(seed))


CASES = {
    "ucihar-special": ucihar_special,
    "skodar-random": lambda: random_arch((64, 30, 10), 0),
    "basicmotions-random": lambda: random_arch((100, 6, 4), 1),
    "japanesevowels-random": lambda: random_arch((25, 12, 9), 2),
}


def export_case(arch, seed, out_dir):
    net = random_network(arch, seed)
    exported = export_network(net, noise_windows(arch, 100, seed), out_dir)
    return net, exported


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    results = {}
    for seed, (name, make) in enumerate(CASES.items()):
        results[name] = export_case(make(), seed, tmp_path_factory.mktemp(name))
    return results


@pytest.fixture(params=sorted(CASES))
def case(request, exports):
    return exports[request.param]


def test_keras_float_logits_match_pytorch(case):
    _, exported = case
    assert exported.float_max_abs_diff < 1e-4


def test_tflite_operators_are_exactly_the_architecture_ops(case):
    net, exported = case
    model = exported.tflite_path.read_bytes()
    graph = read_graph(model)
    assert set(graph.kinds) <= set(DEPLOYABLE_KINDS) and not set(graph.kinds) & FORBIDDEN
    assert to_opspecs(graph) == net.arch.ops() == exported.ops
    for index in (*graph.inputs, *graph.outputs):
        assert graph.tensors[index].dtype == "int8"
    assert not [t for t in graph.tensors if t.dtype.startswith("float")]


def test_header_holds_the_model_bytes(case):
    _, exported = case
    text = exported.source_path.read_text()
    assert f"g_model_data_len = {len(exported.tflite)};" in text and "alignas(16)" in text
    assert "extern const unsigned char g_model_data[];" in exported.header_path.read_text()
    body = text[text.index("{") + 1 : text.index("};")]
    assert bytes(int(v, 16) for v in re.findall(r"0x([0-9a-f]{2})", body)) == exported.tflite


def test_tflm_is_bit_exact_with_the_reference_kernels(case):
    net, exported = case
    runner = TflmRunner(exported.tflite)
    windows = noise_windows(net.arch, 24, seed=99)
    windows[:4] *= 6.0  # outliers beyond the calibrated range exercise input clipping
    inputs = nchw_to_nhwc(windows)
    q = quantize(inputs, *runner.input_quantization)
    assert (q == 127).any() or (q == -128).any()
    np.testing.assert_array_equal(runner.invoke_batch(q), litert_reference(exported.tflite, q))


def test_int8_probabilities_track_the_float_network(case):
    net, exported = case
    windows = noise_windows(net.arch, 32, seed=7)
    with torch.no_grad():
        float_probabilities = torch.softmax(net(torch.from_numpy(windows)), dim=1).numpy()
    int8_probabilities = TflmRunner(exported.tflite).predict(nchw_to_nhwc(windows))
    assert np.abs(int8_probabilities - float_probabilities).max() < 0.03


def test_arena_is_reported_and_covers_the_largest_layer(case):
    net, exported = case
    runner = TflmRunner(exported.tflite)
    largest_layer_bytes = max(
        int(np.prod(op.input_shape)) + int(np.prod(op.output_shape)) for op in net.arch.ops()
    )
    assert largest_layer_bytes < runner.arena_bytes < runner.arena_bytes_limit
    # The total includes alignment padding that depends on where the arena buffer starts.
    assert (
        abs(
            TflmRunner(exported.tflite, arena_bytes_limit=4 * runner.arena_bytes).arena_bytes
            - runner.arena_bytes
        )
        <= 16
    )


def test_tflm_never_starts_with_a_crashing_arena(exports):
    _, exported = exports["skodar-random"]
    runner = TflmRunner(exported.tflite, arena_bytes_limit=1024)  # raw TFLM segfaults at this size
    assert runner.arena_bytes < runner.arena_bytes_limit


def test_runner_refuses_input_of_the_wrong_type_or_shape(exports):
    _, exported = exports["basicmotions-random"]
    runner = TflmRunner(exported.tflite)
    with pytest.raises(ValueError, match=r"int8 of shape \(1, 100, 6, 1\)"):
        runner.invoke(np.zeros((1, 100, 6, 1), np.float32))


def test_check_ops_detects_a_different_operator_list(exports):
    net, exported = exports["ucihar-special"]
    ops = net.arch.ops()
    with pytest.raises(
        ExportError, match=f"has {len(ops)} operators but the architecture lists {len(ops) - 1}"
    ):
        check_ops(exported.tflite, ops[:-1])
    other = ops[:3] + [ops[4]] + ops[4:]
    with pytest.raises(
        ExportError,
        match=re.escape(f"operator 3 is {ops[3].key()} but the architecture lists {ops[4].key()}"),
    ):
        check_ops(exported.tflite, other)


def test_float_check_detects_a_weight_mismatch(exports):
    net, _ = exports["basicmotions-random"]
    keras_logits = logits_model(to_keras(net))
    windows = noise_windows(net.arch, 8, seed=3)
    assert float_logits_difference(net, keras_logits, windows) < 1e-4
    with torch.no_grad():
        net.head.bias.add_(1e-3)
    try:
        assert float_logits_difference(net, keras_logits, windows) > 1e-4
    finally:
        with torch.no_grad():
            net.head.bias.sub_(1e-3)


def test_nan_calibration_windows_are_refused(tmp_path):
    arch = random_arch((25, 12, 9), 5)
    windows = noise_windows(arch, 10, seed=0)
    windows[3, 0, 4, 2] = np.nan
    with pytest.raises(DataError, match="must be finite"):
        export_network(random_network(arch, 0), windows, tmp_path)
    with pytest.raises(DataError, match=r"shape \[10, 1, 12, 25\]; the model needs \[n >= 1, 1, 25, 12\]"):
        export_network(random_network(arch, 0), np.transpose(windows, (0, 1, 3, 2)), tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(12))
def test_random_architectures_export_exactly(seed, tmp_path):
    shapes = [(128, 9, 6), (64, 30, 10), (100, 6, 4), (25, 12, 9)]
    arch = random_arch(shapes[seed % 4], 100 + seed)
    net, exported = export_case(arch, seed, tmp_path)
    assert exported.float_max_abs_diff < 1e-4
    assert to_opspecs(read_graph(exported.tflite)) == arch.ops()
    q = TflmRunner(exported.tflite)
    windows = nchw_to_nhwc(noise_windows(arch, 8, seed))
    x = quantize(windows, *q.input_quantization)
    np.testing.assert_array_equal(q.invoke_batch(x), litert_reference(exported.tflite, x))


@pytest.mark.slow
def test_largest_architectures_export_exactly(tmp_path):
    for shape in [(128, 9, 6), (64, 30, 10)]:
        arch = Architecture.largest(SearchSpace(*shape))
        net, exported = export_case(arch, 0, tmp_path / f"{shape[0]}x{shape[1]}")
        assert exported.float_max_abs_diff < 1e-4
        assert to_opspecs(read_graph(exported.tflite)) == arch.ops()
