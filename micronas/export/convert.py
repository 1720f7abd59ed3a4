"""`to_int8_tflite`: full-integer post-training quantisation of a Keras model (docs/method.md §9.5).

Weights int8 per-channel, activations int8 per-tensor, biases int32, int8 input and output, the
ranges calibrated on a representative dataset (real training windows, never noise).
"""

import contextlib
import io
import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from micronas.console import native_output_hidden  # noqa: E402

with native_output_hidden():  # absl's and TensorFlow's start-up banners
    import tensorflow as tf  # noqa: E402

from micronas.errors import DataError  # noqa: E402
from micronas.export.flatbuffer import FlatbufferError, read_graph  # noqa: E402


def check_representative(
    representative: np.ndarray, input_shape: tuple, what: str = "representative windows"
):
    """Refuse calibration data that is empty, of the wrong shape, or not finite."""
    data = np.asarray(representative)
    if data.ndim != len(input_shape) + 1 or tuple(data.shape[1:]) != tuple(input_shape) or len(data) == 0:
        raise DataError(
            f"the {what} have shape {list(data.shape)}; "
            f"the model needs [n >= 1, {', '.join(map(str, input_shape))}]."
        )
    if not np.issubdtype(data.dtype, np.floating) or not np.all(np.isfinite(data)):
        raise DataError(
            f"the {what} must be finite floating-point values (found NaN, inf or a non-float dtype)."
        )


def to_int8_tflite(keras_model, representative: np.ndarray) -> bytes:
    """Convert `keras_model` (one input) to a full-int8 `.tflite` with int8 input and output.

    `representative` holds calibration inputs `[n, *input_shape]` in the Keras model's layout
    (NHWC for micronas networks); each is fed with batch 1. The model is converted for batch 1.
    """
    input_shape = tuple(keras_model.inputs[0].shape[1:])
    check_representative(representative, input_shape)
    data = np.asarray(representative, dtype=np.float32)
    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([data[i : i + 1]] for i in range(len(data)))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), native_output_hidden():
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        model = bytes(converter.convert())
    graph = read_graph(model)
    for role, indices in (("input", graph.inputs), ("output", graph.outputs)):
        dtype = graph.tensors[indices[0]].dtype
        if dtype != "int8":
            raise FlatbufferError(f"the converted model's {role} is {dtype}, not int8")
    return model
