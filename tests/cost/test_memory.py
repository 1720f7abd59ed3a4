"""The TFLM arena emulation: the greedy planner, the persistent tail, and the real interpreter's arena."""

import collections

import numpy as np
import pytest

from micronas.config import load_config
from micronas.cost.graph import op_graph, single_op_graph
from micronas.cost.memory import (
    Buffer,
    estimate_arena,
    greedy_plan,
    peak_bytes,
    step_bytes,
    tflm_build,
)
from micronas.cost.model import CostModel
from micronas.cost.reference_records import load_records, record_op
from micronas.errors import ConfigError
from micronas.space import Architecture, DiscreteNet, SearchSpace
from micronas.space.opspec import OpSpec

HOST = tflm_build("host-64bit-reference")


@pytest.fixture(scope="module")
def exported():
    """Three random architectures exported to int8 with the project's exporter, and their real arena."""
    from micronas.export.convert import to_int8_tflite
    from micronas.export.keras_model import to_keras
    from micronas.export.tflm import TflmRunner

    rng = np.random.default_rng(11)
    models = []
    for shape in [(100, 6, 4), (100, 6, 4), (128, 9, 6)]:
        arch = Architecture.random(SearchSpace(*shape), rng)
        windows = rng.normal(size=(4, shape[0], shape[1], 1)).astype(np.float32)
        model = to_int8_tflite(to_keras(DiscreteNet(arch).eval()), windows)
        models.append((arch, model, TflmRunner(model).arena_bytes))
    return models


def test_greedy_planner_reuses_gaps_and_takes_equal_sizes_last_added_first():
    buffers = [Buffer(96, 0, 1), Buffer(48, 1, 2), Buffer(96, 2, 3), Buffer(32, 3, 3)]
    offsets = greedy_plan(buffers)
    # Both 96-byte buffers sit at 0 (never live together); the 48 one goes above them; the 32 one,
    # live only with the third buffer, fills the gap above it.
    assert offsets == [0, 96, 0, 96]
    assert greedy_plan([Buffer(16, 0, 5), Buffer(16, 0, 5)]) == [16, 0]


def test_predicted_arena_equals_the_interpreters_arena(exported):
    for arch, _, measured in exported:
        assert estimate_arena(op_graph(arch), HOST).arena_bytes == measured


def test_live_set_peak_from_the_flatbuffer_equals_the_discrete_peak(exported):
    """docs/method.md §6.2's check: tensor lifetimes read from the exported graph give the same peak."""
    from micronas.export.flatbuffer import read_graph, to_opspecs

    for arch, model, _ in exported:
        graph = read_graph(model)
        first, last = {}, {}
        for tensor in (*graph.inputs, *graph.outputs):
            first[tensor] = last[tensor] = 0
        for scope, op in enumerate(graph.operators, start=1):
            first[op.outputs[0]] = last[op.outputs[0]] = scope
            for tensor in op.inputs:
                last[tensor] = scope
        last[graph.outputs[0]] = len(graph.operators)
        activations = [t for t in graph.tensors if not t.constant]
        steps = []
        for scope, spec in enumerate(to_opspecs(graph), start=1):
            live = sum(t.nbytes for t in activations if first[t.index] <= scope <= last[t.index])
            steps.append(live + sum(HOST.scratch_buffers(spec)))
        assert max(steps) == peak_bytes(op_graph(arch), HOST)
        assert steps == step_bytes(op_graph(arch), HOST)


def test_cmsis_nn_scratch_rule():
    cmsis = tflm_build("32bit-cmsis-nn")
    temporal = OpSpec("conv2d", (64, 9, 8), (32, 9, 16), (5, 1), (2, 1), "same", "relu")
    assert cmsis.scratch_buffers(temporal) == (4 * 5 * 8,)
    assert HOST.scratch_buffers(temporal) == ()
    pointwise = OpSpec("conv2d", (16, 5, 8), (16, 5, 16), (1, 1), (1, 1), "same", "relu")
    assert cmsis.scratch_buffers(pointwise) == ()  # the 1x1 fast path
    assert cmsis.scratch_buffers(OpSpec("mean", (16, 5, 6), (6,))) == (24, 16, 8)


def test_board_arena_of_every_reference_single_op_model_within_4_bytes(reference_dir):
    """Calibrated on the L552's records; the F446RE's are out of sample."""
    for board in ("nucleo_l552", "nucleo_f446re"):
        arena = load_config("search", [f"mcu={board}"]).mcu.cost.arena
        build = tflm_build(arena.build, dict(arena.overrides))
        errors = collections.Counter()
        for _, record in load_records(reference_dir / board):
            if "memory" in record:
                op = record_op(record["modelConfig"])
                predicted = estimate_arena(single_op_graph(op, add_inputs=2), build).arena_bytes
                errors[predicted - int(record["memory"]["kTensorAreaUsed"])] += 1
        assert set(errors) <= {0, 4}, errors
        assert sum(errors.values()) > 500


def test_bad_arena_settings_are_refused_in_one_sentence():
    with pytest.raises(ConfigError, match="cost.arena.build=esp32 is not a known TFLM build"):
        tflm_build("esp32")
    with pytest.raises(ConfigError, match="cost.arena.overrides.word_bytes is not a calibratable field"):
        tflm_build("32bit-cmsis-nn", {"word_bytes": 8})
    mcu = load_config(
        "search",
        ["mcu=nucleo_l552", "mcu.cost.arena.build=host-64bit-reference", "~mcu.cost.arena.overrides"],
    ).mcu
    with pytest.raises(ConfigError, match="has 64-bit pointers but mcu.word_bits=32"):
        CostModel.from_mcu(mcu)


def test_arena_grows_with_width():
    space = SearchSpace(128, 9, 6)
    narrow = Architecture.derive(space, {d.key: np.eye(d.ways)[0] for d in space.decisions})
    wide = Architecture.largest(space)
    assert (
        estimate_arena(op_graph(narrow), HOST).arena_bytes < estimate_arena(op_graph(wide), HOST).arena_bytes
    )
