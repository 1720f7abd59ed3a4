"""The real firmware (TFLM + CMSIS-NN, built for the Cortex-M33) in QEMU's mps2-an505, driven over its
pty by the project's SerialDevice: exported models, the exact 32-bit arena, per-operator instruction
counts, TFLM's own error text, a bad frame and a board reset recovered, the profiler and measure CLIs."""

import json
import statistics

import numpy as np
import pytest

from micronas.config import load_config
from micronas.cost.enumerate import enumerate_ops
from micronas.cost.graph import op_graph, single_op_graph
from micronas.cost.memory import estimate_arena, tflm_build
from micronas.export.pipeline import nchw_to_nhwc
from micronas.export.tflm import TflmRunner
from micronas.hardware import protocol as p
from micronas.hardware.errors import BoardError
from micronas.hardware.measure import main as measure_main
from micronas.hardware.output_check import check_outputs, fixed_windows
from micronas.hardware.qemu import QemuDevice
from micronas.profiling.profile import main as profile_main
from micronas.profiling.profile import single_op_tflite
from micronas.space.opspec import OpSpec
from micronas.space.searchspace import SearchSpace
from tests.export.helpers import noise_windows, random_network
from tests.export.test_export import CASES


@pytest.fixture(scope="module")
def board(m33_firmware, tflm_sources, qemu):
    with QemuDevice("m33", tflm_sources) as device:
        yield device


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The export tests' four architectures with their seeds, exported to int8 as the project does."""
    from micronas.export.pipeline import export_network

    models = {}
    for seed, (name, make) in enumerate(CASES.items()):
        arch = make()
        net = random_network(arch, seed)
        exported = export_network(net, noise_windows(arch, 100, seed), tmp_path_factory.mktemp(name))
        models[name] = (arch, exported)
    return models


SMALL = ("japanesevowels-random", "basicmotions-random")  # the two that the run and output tests use


def single_op_cases() -> list[OpSpec]:
    """Ops of the basicmotions space: the first and last ADD, MEAN, SOFTMAX, six convolutions spread
    over the list and a 1x1 one (no CMSIS-NN scratch)."""
    cfg = load_config("search", ["mcu=qemu_m33", "dataset=basicmotions"])
    ops = enumerate_ops(SearchSpace.from_config(cfg))
    adds = [op for op in ops if op.kind == "add"]
    convs = [op for op in ops if op.kind == "conv2d"]
    pointwise = next(op for op in convs if op.kernel == (1, 1))
    spread = [convs[round(i * (len(convs) - 1) / 5)] for i in range(6)]
    return [adds[0], adds[-1], *(op for op in ops if op.kind in ("mean", "softmax")), *spread, pointwise]


def test_info_says_what_the_ticks_count(board):
    info = board.info()
    assert (info.board, info.core, info.core_clock_hz) == ("QEMU-mps2-an505", "cortex-m33", 20_000_000)
    assert info.tick_unit == "instructions" and info.counter_hz == 10**9 and info.weights_in == "ram"
    assert info.tflm_version == "tflite-micro 90b983c" and info.kernel_library == "cmsis-nn 4ab83cc"
    assert info.protocol_version == p.PROTOCOL_VERSION


def test_the_32bit_arena_prediction_is_the_firmwares_on_every_exported_model(board, exported):
    """The oracle is the firmware's own arena_used_bytes() after AllocateTensors on the M33, to the byte."""
    for name, (arch, model) in exported.items():
        report = board.load(model.tflite)
        predicted = estimate_arena(op_graph(arch), tflm_build("32bit-cmsis-nn")).arena_bytes
        assert (name, predicted) == (name, report.arena_used_bytes)


def test_the_32bit_arena_prediction_is_the_firmwares_on_single_ops(board):
    build = tflm_build("32bit-cmsis-nn")
    for op in single_op_cases():
        report = board.load(single_op_tflite(op))
        assert (op.key(), estimate_arena(single_op_graph(op), build).arena_bytes) == (
            op.key(), report.arena_used_bytes)


def test_exported_models_run_with_per_op_counts(board, exported):
    for name in SMALL:
        arch, model = exported[name]
        report = board.load(model.tflite)
        assert report.n_ops == len(arch.ops()), name
        result = board.run(warmups=1, repeats=4)
        assert result.tick_unit == "instructions" and all(len(ops) == report.n_ops for ops in result.op_ticks)
        # -icount makes the counts deterministic to the timer's resolution: a tick is 50 instructions on the
        # an505, read at the start and at the end
        assert max(result.invoke_ticks) - min(result.invoke_ticks) <= 100
        for invoke, ops in zip(result.invoke_ticks, result.op_ticks):
            assert min(ops) > 0 and 0 < invoke - sum(ops) < 0.01 * invoke  # the ops are the invoke


def test_the_boards_outputs_on_32_windows_are_the_host_interpreters_bit_for_bit(board, exported):
    """docs/method.md §9.9 over the pty: INPUT, INFER, read back. CMSIS-NN on the 32-bit M33 and the host's
    64-bit reference kernels give the same int8 outputs (0 LSB), not merely the same argmax."""
    for name in SMALL:
        arch, model = exported[name]
        board.load(model.tflite)
        check = check_outputs(board, model.tflite, fixed_windows(nchw_to_nhwc(noise_windows(arch, 64, 11))))
        assert (check.windows, check.argmax_agreement, check.max_abs_lsb) == (32, 1.0, 0), (name, check)


def test_an_invoke_overwrites_the_input_of_the_small_models_so_run_refills_it(board, exported):
    """Why the prototype saw outputs 5 LSB off on two of four models: TFLM's planner lets later tensors
    reuse the input's memory, so a second Invoke without a fresh input computes on a clobbered one. The
    firmware now writes the RUN pattern before every Invoke, and INFER consumes its input."""
    _, model = exported["basicmotions-random"]
    host = TflmRunner(model.tflite)
    pattern = np.frombuffer(p.run_input_pattern(int(np.prod(host.input_shape))), np.int8).reshape(host.input_shape)
    first = host.invoke(pattern)
    host._interpreter.invoke()  # again, without setting the input
    assert np.abs(host._interpreter.get_output(0).astype(int) - first.astype(int)).max() > 1
    board.load(model.tflite)
    board.run(warmups=2, repeats=2)
    assert board.infer(pattern.tobytes()) == first.tobytes()


def test_an_arena_overflow_reports_tflms_own_message(board):
    big = OpSpec("conv2d", (512, 64, 1), (512, 64, 40), kernel=(3, 1), stride=(1, 1), padding="same",
                 activation="relu")
    # TFLM's own text, through the debug-log callback (without one, cortex_m_generic drops it)
    with pytest.raises(BoardError, match=r"AllocateTensors failed in the 1048576-byte arena: Failed to resize "
                       r"buffer. Requested: \d+, available \d+"):
        board.load(single_op_tflite(big))


def test_a_bad_frame_and_a_board_reset_are_recovered(board, exported):
    _, model = exported["japanesevowels-random"]
    board.load(model.tflite)
    before = board.run(warmups=0, repeats=2)
    board._serial.write(p.encode_frame(p.FrameType.RUN, 7, p.Run(0, 1).encode())[:-1] + b"\x00")  # bad CRC
    board.board.reset()  # QEMU's system_reset: the firmware restarts, its session and model are gone
    after = board.run(warmups=0, repeats=2)
    assert board.stats.board_restarts == 1 and after.invoke_ticks[0] - before.invoke_ticks[0] in range(-50, 51)


def test_profile_measures_lut_entries_over_the_pty_and_resumes(tflm_sources, tmp_path):
    args = ["mcu=qemu_m33", "dataset=basicmotions", f"data_dir={tmp_path}", "--limit", "2", "--repeats", "3"]
    profile_main(args)
    profile_main(args)
    lut = next(tmp_path.glob("lut/qemu_m33.jsonl"))
    lines = [json.loads(line) for line in lut.read_text().splitlines()]
    assert lines[0]["header"]["board"] == "QEMU-mps2-an505" and len(lines) == 5
    entries = lines[1:]
    assert len({entry["key"] for entry in entries}) == 4  # resumed: nothing measured twice
    for entry in entries:  # instruction counts: never stored as cycles
        assert entry["status"] == "ok" and entry["arena_bytes"] > 0 and entry["latency"]["samples_cycles"] is None
        assert entry["latency"]["median_ms"] > 0 and entry["invoke_ms"] > entry["latency"]["median_ms"]


def test_measure_cli_prints_instructions_not_milliseconds(tflm_sources, exported, tmp_path, capsys):
    _, model = exported["basicmotions-random"]
    out = tmp_path / "measurement.json"
    measure_main([str(model.tflite_path), "mcu=qemu_m33", f"data_dir={tmp_path}", "--repeats", "3", "--out", str(out)])
    record = json.loads(out.read_text())
    ticks = record["measurement"]["invoke_ticks"]
    assert record["measurement"]["tick_unit"] == "instructions" and record["device"]["tick_unit"] == "instructions"
    printed = capsys.readouterr().out
    assert f"median {statistics.median(ticks):.0f} instructions over 3 runs" in printed and " ms" not in printed


@pytest.mark.slow
@pytest.mark.parametrize("core", ["m4", "m7"])
def test_the_m4_and_m7_firmware_report_the_m33_arena_and_outputs(core, tflm_sources, toolchain, qemu,
                                                                  exported):
    with QemuDevice(core, tflm_sources) as device:
        info = device.info()
        assert info.core == {"m4": "cortex-m4f", "m7": "cortex-m7"}[core]
        assert (info.protocol_version, info.tick_unit) == (p.PROTOCOL_VERSION, "instructions")
        for name, (arch, model) in exported.items():
            predicted = estimate_arena(op_graph(arch), tflm_build("32bit-cmsis-nn")).arena_bytes
            assert predicted == device.load(model.tflite).arena_used_bytes, name
        for name in SMALL:
            arch, model = exported[name]
            device.load(model.tflite)
            result = device.run(warmups=0, repeats=2)
            assert all(0 < t - sum(ops) < 0.01 * t for t, ops in zip(result.invoke_ticks, result.op_ticks))
            # protocol v3 on this core: INPUT/INFER on 32 windows, the host interpreter's outputs bit for bit
            windows = fixed_windows(nchw_to_nhwc(noise_windows(arch, 64, 11)))
            check = check_outputs(device, model.tflite, windows)
            assert (check.windows, check.argmax_agreement, check.max_abs_lsb) == (32, 1.0, 0), (name, check)
