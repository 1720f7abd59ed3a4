import numpy as np
import pytest
import tensorflow as tf

from micronas.export.convert import to_int8_tflite
from micronas.export.flatbuffer import FlatbufferError, check_deployable, read_graph, to_opspecs
from micronas.export.tflm import TflmRunner


def test_bytes_that_are_not_a_model_are_refused():
    with pytest.raises(FlatbufferError, match="not a TFLite flatbuffer"):
        read_graph(b"garbage bytes, not a model")
    with pytest.raises(FlatbufferError, match="not a TFLite flatbuffer"):
        TflmRunner(b"")


def test_a_graph_with_layout_and_dense_ops_is_not_deployable():
    inputs = tf.keras.Input((8, 3, 1))
    x = tf.keras.layers.Conv2D(4, (3, 1), padding="same", activation="relu")(inputs)
    x = tf.keras.layers.Flatten()(x)
    outputs = tf.keras.layers.Dense(2)(x)
    model = to_int8_tflite(
        tf.keras.Model(inputs, outputs), np.random.default_rng(0).normal(size=(16, 8, 3, 1))
    )
    graph = read_graph(model)
    assert "RESHAPE" in graph.kinds and "FULLY_CONNECTED" in graph.kinds
    assert graph.tensors[graph.inputs[0]].dtype == "int8"
    with pytest.raises(FlatbufferError, match="FULLY_CONNECTED.*RESHAPE.*only CONV_2D, ADD, MEAN, SOFTMAX"):
        check_deployable(graph)
    with pytest.raises(FlatbufferError, match="the graph contains SHAPE; micronas models contain only"):
        to_opspecs(graph)
