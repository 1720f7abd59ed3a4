"""SerialDevice against the virtual board over a real pseudo-terminal: real models in tflite-micro,
every injected fault with its documented recovery or error, and the user-facing port errors."""

import os
import subprocess
import sys
import time

import pytest

from micronas.hardware import protocol as p
from micronas.hardware.board_session import BoardConfig, BoardSession
from micronas.hardware.errors import BoardError, BoardSilentError, DeviceError, PortError
from micronas.hardware.local_device import LocalTflmDevice
from micronas.hardware.serial_device import SerialDevice

from .conftest import VIRTUAL_BOARD

FAST = {"reply_timeout_s": 0.5, "slow_timeout_s": 5.0, "run_timeout_s": 1.0}


@pytest.fixture
def device(virtual_board):
    with SerialDevice(virtual_board.path, 921600, **FAST) as dev:
        yield dev


def test_a_real_model_loads_and_runs_like_the_in_process_interpreter(device, tiny_models):
    model = tiny_models["ok"]
    report = device.load(model)
    local = LocalTflmDevice()
    assert report == local.load(model)  # same bytes, CRC-32 echo, TFLM arena and operator count
    assert report.n_ops == 4 and report.arena_used_bytes > 0
    result = device.run(warmups=2, repeats=10)
    assert result.repeats == 10 and result.warmups == 2 and min(result.invoke_ticks) > 0
    assert result.model_crc32 == p.crc32(model) and result.arena_used_bytes == report.arena_used_bytes
    assert result.counter_hz == 10**9 and result.latency_ms > 0 and result.cold_latency_ms > 0
    # the tflite-micro Python interpreter has no per-operator hook: none are reported, none invented
    assert result.op_latency_ms is None and result.overhead_ms is None
    info = device.info()
    assert (info.board, info.core_clock_hz, info.kernel_library) == ("host", None, "reference")
    assert info.firmware_build.endswith("virtual board") and info.tflm_version == local.info().tflm_version
    assert device.stats.retransmissions == 0 and device.stats.board_restarts == 0


def test_infer_over_the_pty_gives_the_in_process_interpreters_outputs(virtual_board, device, tiny_models):
    model = tiny_models["ok"]
    device.load(model)
    local = LocalTflmDevice()
    local.load(model)
    windows = [bytes((i * 37 + k) % 256 for i in range(16 * 3)) for k in range(4)]
    outputs = [device.infer(w) for w in windows]
    assert outputs == [local.infer(w) for w in windows] and len(set(outputs)) > 1  # inputs matter
    virtual_board.fault("reset-on-run")  # not an INFER: the next RUN restarts the board
    device.run(warmups=0, repeats=1)
    assert device.infer(windows[0]) == outputs[0]  # after the re-upload, the same model answers
    with pytest.raises(DeviceError, match=r"an empty input cannot fill the model's input tensor"):
        device.infer(b"")


@pytest.mark.parametrize(
    "fault", ["drop-reply 5", "drop-request 5", "corrupt-reply", "corrupt-request", "stall 2.0"]
)
def test_each_link_fault_is_recovered_by_retransmission(virtual_board, device, tiny_models, fault):
    device.load(tiny_models["ok"])
    virtual_board.fault(fault)
    result = device.run(warmups=1, repeats=5)
    assert result.repeats == 5 and device.stats.retransmissions >= 1
    if fault == "stall 2.0":  # the late reply to the first attempt arrives and is ignored by SEQ
        device.run(warmups=0, repeats=1)
        assert device.stats.stale_frames >= 1
    if fault in ("corrupt-reply", "corrupt-request"):
        assert device.stats.retransmissions == 1


def test_a_reset_mid_run_is_recovered_by_hello_and_a_new_upload(virtual_board, device, tiny_models):
    device.load(tiny_models["ok"])
    virtual_board.fault("reset-on-run")
    sent = device.stats.bytes_sent
    result = device.run(warmups=0, repeats=3)
    assert result.repeats == 3 and device.stats.board_restarts == 1
    assert device.stats.bytes_sent - sent > len(tiny_models["ok"])  # the model went up again


def test_a_board_that_restarts_again_on_the_same_run_is_given_up_on(virtual_board, tiny_models):
    with SerialDevice(virtual_board.path, 921600, reply_timeout_s=0.3, run_timeout_s=0.3) as dev:
        dev.load(tiny_models["ok"])
        virtual_board.fault("reset-on-run 2")  # one restart is recovered; a second on the same RUN is not
        with pytest.raises(
            DeviceError, match=r"restarted 2 times during RUN \(given up after [0-9.]+ s\); check its power"
        ):
            dev.run(warmups=0, repeats=1)
        assert dev.stats.board_restarts == 2
        assert dev.run(warmups=0, repeats=2).repeats == 2  # the faults are spent: the next call recovers


def test_a_board_that_stalls_past_every_retry_is_reported(virtual_board, tiny_models):
    with SerialDevice(virtual_board.path, 921600, reply_timeout_s=0.3, run_timeout_s=0.3) as dev:
        dev.load(tiny_models["ok"])
        virtual_board.fault("stall 2")
        started = time.monotonic()
        with pytest.raises(
            BoardSilentError, match=r"gave no valid reply to RUN in 4 attempts .*no reply in time"
        ):
            dev.run(warmups=0, repeats=1)
    time.sleep(max(0.0, started + 2.5 - time.monotonic()))  # let the stall end before the next test


def test_models_the_board_cannot_run_are_refused_with_its_reason(device, tiny_models):
    with pytest.raises(BoardError, match="refused LOAD_END with OPERATOR: .*not MAX_POOL_2D") as error:
        device.load(tiny_models["foreign"])
    assert error.value.code == p.ErrorCode.OPERATOR
    with pytest.raises(BoardError, match="refused LOAD_END with MODEL: .*not a TFLite flatbuffer"):
        device.load(b"\x00" * 64)
    with pytest.raises(DeviceError, match="no model is loaded"):
        device.run()


def test_a_model_beyond_the_board_arena_is_refused_by_the_board(start_board, tiny_models):
    board = start_board([*VIRTUAL_BOARD, "--arena-capacity-bytes", "1000"])
    with SerialDevice(board.path, 921600, **FAST) as dev:
        with pytest.raises(BoardError, match=r"ARENA: the model needs \d+ arena bytes; this board has 1000"):
            dev.load(tiny_models["ok"])


def test_the_virtual_board_answers_another_protocol_version_in_its_own():
    session = BoardSession(BoardConfig(protocol_version=2), "tflite-micro test", "test")
    (request,) = p.FrameDecoder().feed(p.encode_frame(p.FrameType.HELLO, 5), 0.0)
    (reply,) = p.FrameDecoder().feed(session.handle(request), 0.0)
    assert (reply.version, reply.seq) == (2, 5)
    assert p.decode_message(reply) == p.ErrorReply(p.ErrorCode.VERSION, "board speaks protocol version 2")


def test_a_missing_port_is_named_with_the_ports_that_exist():
    with pytest.raises(
        PortError, match=r"serial port /dev/ttyMICRONAS9 does not exist; ports on this computer"
    ):
        SerialDevice("/dev/ttyMICRONAS9", 921600)


def test_a_busy_port_is_reported(virtual_board):
    with SerialDevice(virtual_board.path, 921600, **FAST):
        with pytest.raises(PortError, match="is busy: another program"):
            SerialDevice(virtual_board.path, 921600, **FAST)


def test_a_silent_board_is_reported():
    master, slave = os.openpty()  # a port nobody answers on
    try:
        with pytest.raises(
            BoardSilentError, match=r"gave no valid reply to HELLO in 4 attempts .*no reply in time"
        ):
            SerialDevice(os.ttyname(slave), 921600, reply_timeout_s=0.1)
    finally:
        os.close(master)
        os.close(slave)


def test_virtual_board_options_are_checked_with_one_sentence():
    out = subprocess.run(
        [sys.executable, "-m", "micronas.hardware.virtual_board", "--protocol-version", "0"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert out.stderr.strip() == "error: --protocol-version 0 is not valid: use 1 to 255 except 165."
