import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from tflite_micro.python.tflite_micro import runtime

from micronas.export.flatbuffer import read_graph
from micronas.export.quantize import dequantize, quantize, round_half_away


def test_rounding_is_half_away_from_zero_and_exact():
    values = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 0.49999997, -0.49999997, 2.4999998, 3.0, -7.0], np.float32)
    assert round_half_away(values).tolist() == [1, 2, 3, -1, -2, 0, 0, 2, 3, -7]


def test_quantize_clips_and_dequantize_inverts():
    q = quantize(np.array([-1e9, -1.0, 0.0, 0.26, 1e9]), 0.5, 3)
    assert q.dtype == np.int8 and q.tolist() == [-128, 1, 3, 4, 127]
    assert dequantize(q, 0.5, 3).tolist() == [-65.5, -1.0, 0.0, 0.5, 62.0]


@pytest.fixture(scope="module")
def float_input_model() -> bytes:
    """An int8 model with float input, so its first op is the converter's own QUANTIZE."""
    inputs = tf.keras.Input((16, 3, 1), batch_size=1)
    outputs = tf.keras.layers.Conv2D(2, (3, 1), padding="same")(inputs)
    model = tf.keras.Model(inputs, outputs)
    calibration = np.random.default_rng(0).normal(0.3, 1.7, size=(64, 16, 3, 1)).astype(np.float32)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([calibration[i : i + 1]] for i in range(64))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_output_type = tf.int8
    return converter.convert()


def tricky_inputs(scale: float, zero_point: int) -> np.ndarray:
    """Random values, exact ties `(k + 0.5)*scale`, their float32 neighbours, and clipped outliers."""
    rng = np.random.default_rng(1)
    ties = (np.arange(-140, 140) + 0.5).astype(np.float32) * np.float32(scale)
    values = np.concatenate(
        [
            rng.normal(0, 3, 600).astype(np.float32),
            ties,
            np.nextafter(ties, np.inf),
            np.nextafter(ties, -np.inf),
            np.array([1e6, -1e6, 300 * scale, -300 * scale], np.float32),
        ]
    )
    values = values[: len(values) // 48 * 48]
    return values.reshape(-1, 1, 16, 3, 1)


def test_quantize_matches_tflite_and_tflm_quantize_kernels(float_input_model):
    graph = read_graph(float_input_model)
    assert graph.kinds[0] == "QUANTIZE"
    quantized = graph.operators[0].outputs[0]
    scale, zero_point = graph.tensors[quantized].scale, graph.tensors[quantized].zero_point

    reference = Interpreter(
        model_content=float_input_model,
        experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=True,
    )
    reference.allocate_tensors()
    micro = runtime.Interpreter.from_bytes(
        float_input_model,
        arena_size=1 << 16,
        intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors,
    )
    windows = tricky_inputs(scale, zero_point)
    for window in windows:
        ours = quantize(window, scale, zero_point)
        reference.set_tensor(reference.get_input_details()[0]["index"], window)
        reference.invoke()
        np.testing.assert_array_equal(ours, reference.get_tensor(quantized))
        micro.set_input(window, 0)
        micro.invoke()
        np.testing.assert_array_equal(ours, micro.GetTensor(quantized, 0)["tensor_data"])
    assert (quantize(windows, scale, zero_point) == 127).any() and (
        quantize(windows, scale, zero_point) == -128
    ).any()
