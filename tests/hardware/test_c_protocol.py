"""Both ends of the wire against each other: the firmware's C protocol layer (src/protocol.c and
src/board.c, built with the host gcc) behind a real pseudo-terminal, and the Python client over pyserial."""

import shutil
import subprocess
import time

import pytest
import serial

from micronas.hardware import protocol as p
from micronas.hardware.board_session import BoardConfig, BoardSession
from micronas.hardware.errors import BoardError, DeviceError, ProtocolVersionError
from micronas.hardware.serial_device import SerialDevice

from .conftest import FIRMWARE

# the C harness only checks the TFLite file identifier; the bytes after it are arbitrary
MODEL = b"\x1c\x00\x00\x00TFL3" + bytes(i * 7 % 256 for i in range(3000))


class RawLink:
    """Hand-made frames over pyserial, for the requests and faults a well-behaved client never sends."""

    def __init__(self, path: str):
        self.port = serial.Serial(path, 921600, timeout=0.05, exclusive=True)
        self.decoder = p.FrameDecoder()

    def send(self, data: bytes) -> p.Frame:
        self.port.write(data)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            events = self.decoder.feed(self.port.read(600), time.monotonic())
            if events:
                assert len(events) == 1
                return events[0]
        raise AssertionError("the C board did not answer within 2 s")

    def request(self, message, seq: int, version: int = p.PROTOCOL_VERSION):
        frame = self.send(p.encode_frame(message.TYPE, seq, message.encode(), version))
        assert frame.seq == seq
        return p.decode_message(frame)


@pytest.fixture
def c_board(host_board_binary, start_board):
    return start_board([host_board_binary, "--ops", "3", "--arena-used", "4321"])


@pytest.fixture
def raw(c_board):
    link = RawLink(c_board.path)
    yield link
    link.port.close()


def test_session_upload_run_and_reset_over_every_frame_type(c_board):
    with SerialDevice(c_board.path, 921600) as device:
        info = device.info()
        assert (info.board, info.counter_hz, info.weights_in, info.protocol_version) == (
            "host-harness",
            10**9,
            "ram",
            p.PROTOCOL_VERSION,
        )
        assert info.model_capacity_bytes == 262144 and info.compiler.startswith("gcc ")
        report = device.load(MODEL)  # LOAD_BEGIN, 6 x LOAD_CHUNK with CHUNK_ACK, LOAD_END -> LOAD_OK
        assert (report.model_bytes, report.model_crc32, report.arena_used_bytes, report.n_ops) == (
            len(MODEL),
            p.crc32(MODEL),
            4321,
            3,
        )
        # 3 ops: 4 words per repeat, 31 repeats per RESULT page -> RUN plus 3 READ_RESULTs
        before = device.stats.requests
        result = device.run(warmups=2, repeats=100)
        assert device.stats.requests - before == 4
        assert result.repeats == 100 and all(len(ops) == 3 for ops in result.op_ticks)
        assert all(t >= sum(ops) > 0 for t, ops in zip(result.invoke_ticks, result.op_ticks))
        assert result.cold_ticks > 0 and result.arena_used_bytes == 4321
        assert result.overhead_ms >= 0 and len(result.op_latency_ms) == 3
        device.reset()  # RESET -> RESET_OK, then HELLO: the slot is empty again
        with pytest.raises(Exception, match="no model is loaded"):
            device.run()


class SessionLink(RawLink):
    """The same exchange with the virtual board's Python `BoardSession`, in process."""

    def __init__(self):
        self.session = BoardSession(BoardConfig(model_capacity_bytes=262144), "test", "test")

    def send(self, data: bytes) -> p.Frame:
        (event,) = p.FrameDecoder().feed(data, 0.0)
        (reply,) = p.FrameDecoder().feed(self.session.handle(event), 0.0)
        return reply


@pytest.fixture(params=["c", "python"])
def any_board(request):
    """Each request goes to the C board over a pty, and to the Python board: both must answer alike."""
    if request.param == "python":
        return SessionLink()
    return request.getfixturevalue("raw")


def test_error_frames_are_the_same_from_the_c_and_the_python_board(any_board):
    raw = any_board
    assert p.decode_message(raw.send(p.encode_frame(p.FrameType.LOAD_END, 1))).code == p.ErrorCode.NO_SESSION
    assert isinstance(raw.request(p.Empty(p.FrameType.HELLO), 2), p.Info)

    bad = bytearray(p.encode_frame(p.FrameType.RUN, 3, p.Run(0, 1).encode()))
    bad[-1] ^= 0xFF
    nak = p.decode_message(raw.send(bytes(bad)))
    assert (nak.code, nak.message) == (p.ErrorCode.CRC, "frame CRC-32 mismatch")

    cases = [
        (p.Empty(p.FrameType.LOAD_END), p.ErrorCode.STATE, "LOAD_END without LOAD_BEGIN"),
        (p.LoadChunk(0, b"x"), p.ErrorCode.STATE, "LOAD_CHUNK without LOAD_BEGIN"),
        (p.Run(0, 1), p.ErrorCode.STATE, "RUN without a model"),
        (p.ReadResult(0), p.ErrorCode.STATE, "READ_RESULT without a result"),
        (p.InputChunk(0, b"x"), p.ErrorCode.STATE, "INPUT without a model"),
        (p.Empty(p.FrameType.INFER), p.ErrorCode.STATE, "INFER without a model"),
        (
            p.LoadBegin(262145, 0),
            p.ErrorCode.TOO_LARGE,
            "262145 bytes does not fit the model slot of 1 to 262144",
        ),
        (p.LoadBegin(12, 0), None, None),
        (p.LoadChunk(4, b"abcd"), p.ErrorCode.OFFSET, "chunk offset 4 is not the expected offset 0"),
        (
            p.LoadChunk(0, bytes(13)),
            p.ErrorCode.TOO_LARGE,
            "chunk ends at byte 13, past the announced model size",
        ),
        (p.Empty(p.FrameType.LOAD_END), p.ErrorCode.STATE, "upload incomplete: 0 of 12 bytes received"),
        (p.LoadBegin(12, 0), None, None),
        (p.LoadChunk(0, MODEL[:12]), None, None),
        (p.Empty(p.FrameType.LOAD_END), p.ErrorCode.HASH, "does not match its announced CRC-32"),
        (p.LoadBegin(12, p.crc32(bytes(12))), None, None),
        (p.LoadChunk(0, bytes(12)), None, None),
        (p.Empty(p.FrameType.LOAD_END), p.ErrorCode.MODEL, "TFL3"),
    ]
    for seq, (message, code, text) in enumerate(cases, start=10):
        reply = raw.request(message, seq)
        if code is None:
            assert isinstance(reply, p.ChunkAck)
        else:
            assert (reply.code, text in reply.message) == (code, True), reply

    unknown = p.decode_message(raw.send(p.encode_frame(0x42, 40)))
    assert (unknown.code, unknown.message) == (p.ErrorCode.TYPE, "unknown request type 66")
    wrong_len = p.decode_message(raw.send(p.encode_frame(p.FrameType.RUN, 41, b"\x01")))
    assert wrong_len.code == p.ErrorCode.PAYLOAD
    other = p.PROTOCOL_VERSION + 1
    other_version = p.decode_message(raw.send(p.encode_frame(p.FrameType.HELLO, 42, b"", version=other)))
    assert (other_version.code, other_version.message) == (
        p.ErrorCode.VERSION,
        f"board speaks protocol version {p.PROTOCOL_VERSION}",
    )
    oversized = bytes([p.MAGIC, p.PROTOCOL_VERSION, p.FrameType.LOAD_CHUNK, 43, 0]) + (600).to_bytes(
        2, "little"
    )
    length = p.decode_message(raw.send(oversized))
    assert (length.code, length.message) == (p.ErrorCode.LENGTH, "frame length exceeds 512 bytes")


def test_a_retransmitted_request_is_answered_again_not_executed_again(raw):
    model = MODEL[:900]
    raw.request(p.Empty(p.FrameType.HELLO), 1)
    raw.request(p.LoadBegin(len(model), p.crc32(model)), 2)
    chunk = p.encode_frame(p.FrameType.LOAD_CHUNK, 3, p.LoadChunk(0, model[:500]).encode())
    first, again = raw.send(chunk), raw.send(chunk)
    assert first == again and p.decode_message(again).received_bytes == 500
    ack = raw.request(p.LoadChunk(500, model[500:]), 4)  # a new SEQ is executed
    assert (ack.received_bytes, ack.received_crc32) == (len(model), p.crc32(model))
    done = raw.request(p.Empty(p.FrameType.LOAD_END), 5)
    assert (done.model_bytes, done.model_crc32) == (len(model), p.crc32(model))
    run = p.encode_frame(p.FrameType.RUN, 6, p.Run(0, 2).encode())
    assert raw.send(run) == raw.send(run)  # same ticks: the run was not repeated


def test_run_arguments_beyond_the_result_buffer_are_refused(raw):
    raw.request(p.Empty(p.FrameType.HELLO), 1)
    raw.request(p.LoadBegin(len(MODEL), p.crc32(MODEL)), 2)
    for seq, offset in enumerate(range(0, len(MODEL), p.MAX_CHUNK_BYTES), start=3):
        raw.request(p.LoadChunk(offset, MODEL[offset : offset + p.MAX_CHUNK_BYTES]), seq)
    raw.request(p.Empty(p.FrameType.LOAD_END), 20)
    too_many = raw.request(p.Run(0, 513), 21)  # 2048 words / 4 words per repeat = 512
    assert (too_many.code, too_many.message) == (
        p.ErrorCode.ARGS,
        "repeats=513 is out of range: this model allows 1 to 512",
    )
    page = raw.request(p.Run(1, 40), 22)
    assert (page.repeats, page.first_repeat, len(page.records)) == (40, 0, 31)
    assert raw.request(p.ReadResult(40), 23).code == p.ErrorCode.ARGS
    rest = raw.request(p.ReadResult(31), 24)
    assert (rest.repeats, rest.first_repeat, len(rest.records), rest.cold_ticks) == (
        40,
        31,
        9,
        page.cold_ticks,
    )


def test_a_c_board_with_another_protocol_version_is_refused(host_board_binary, start_board):
    board = start_board([host_board_binary, "--protocol-version", "2"])
    with pytest.raises(
        ProtocolVersionError, match="speaks protocol version 2 but this micronas speaks version 3"
    ):
        SerialDevice(board.path, 921600)


def test_a_model_beyond_the_slot_is_refused_before_upload(host_board_binary, start_board):
    board = start_board([host_board_binary, "--model-capacity", "2000"])
    with SerialDevice(board.path, 921600) as device:
        with pytest.raises(
            DeviceError,
            match="a model of 3008 bytes does not fit the model slot of host-harness on "
            ".* which holds 1 to 2000 bytes",
        ):
            device.load(MODEL)
        assert device.stats.requests == 1  # only the HELLO went out


def test_the_c_board_refuses_a_model_without_the_tflite_identifier(c_board):
    with SerialDevice(c_board.path, 921600) as device:
        with pytest.raises(BoardError, match="refused LOAD_END with MODEL: .*TFL3 missing") as error:
            device.load(b"not a flatbuffer at all")
        assert error.value.code == p.ErrorCode.MODEL


def test_the_run_input_pattern_is_the_same_in_c_and_python(host_board_binary):
    out = subprocess.run(
        [host_board_binary, "--print-input", "1024"], capture_output=True, text=True, check=True
    )
    assert bytes.fromhex(out.stdout.strip()) == p.run_input_pattern(1024)


@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m7", "cortex-m33"])
def test_the_c_protocol_layer_compiles_for_cortex_m(cpu, tmp_path):
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed (Debian: gcc-arm-none-eabi libnewlib-arm-none-eabi)")
    for source in ("protocol.c", "board.c"):
        subprocess.run(
            [
                "arm-none-eabi-gcc",
                f"-mcpu={cpu}",
                "-mthumb",
                "-std=c99",
                "-Os",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-Wconversion",
                f"-I{FIRMWARE / 'src'}",
                "-c",
                str(FIRMWARE / "src" / source),
                "-o",
                str(tmp_path / f"{source}.o"),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        assert (tmp_path / f"{source}.o").stat().st_size > 0


def harness_output(data: bytes, n: int) -> bytes:
    """What the C harness "infers": byte i is byte (i mod 4) of the input's CRC-32, plus i."""
    crc = p.crc32(data)
    return bytes(((crc >> (8 * (i % 4))) + i) & 0xFF for i in range(n))


def test_input_and_infer_carry_the_tensors_both_ways(host_board_binary, start_board):
    board = start_board([host_board_binary, "--input-bytes", "1100", "--output-bytes", "7"])
    with SerialDevice(board.path, 921600) as device:
        device.load(MODEL)
        for seed in range(3):  # 1100 bytes: three INPUT chunks, each acknowledged with its CRC-32
            data = bytes((seed * 31 + i * 13) % 256 for i in range(1100))
            assert device.infer(data) == harness_output(data, 7)
        assert device.run(warmups=0, repeats=2).repeats == 2  # RUN and INFER interleave
        with pytest.raises(BoardError, match=r"refused INFER with STATE: INFER needs the whole input tensor: "
                           r"500 of 1100 bytes were written with INPUT since the last Invoke\."):
            device.infer(bytes(500))
        with pytest.raises(BoardError, match=r"refused INPUT with TOO_LARGE: input ends at byte 1200, past the "
                           r"model's input tensor of 1100 bytes\."):
            device.infer(bytes(1200))


def test_an_input_is_consumed_by_infer_and_discarded_by_run(any_board, tiny_models):
    """Both boards alike: INPUT in order, INFER uses the input once, RUN replaces it with its pattern."""
    raw = any_board
    python = isinstance(raw, SessionLink)
    model, size = (tiny_models["ok"], 16 * 3) if python else (MODEL, 600)  # the harness's default input
    raw.request(p.Empty(p.FrameType.HELLO), 1)
    raw.request(p.LoadBegin(len(model), p.crc32(model)), 2)
    seq = 3
    for offset in range(0, len(model), p.MAX_CHUNK_BYTES):
        raw.request(p.LoadChunk(offset, model[offset : offset + p.MAX_CHUNK_BYTES]), seq)
        seq += 1
    assert isinstance(raw.request(p.Empty(p.FrameType.LOAD_END), seq), p.LoadOk)
    data = bytes(i % 256 for i in range(size))
    head = raw.request(p.InputChunk(0, data[:10]), 30)
    assert (head.received_bytes, head.received_crc32) == (10, p.crc32(data[:10]))
    skipped = raw.request(p.InputChunk(20, data[20:30]), 31)
    assert (skipped.code, skipped.message) == (p.ErrorCode.OFFSET, "input offset 20 is not the expected offset 10")
    for seq, offset in enumerate(range(10, size, 400), start=100):
        ack = raw.request(p.InputChunk(offset, data[offset : offset + 400]), seq)
    assert (ack.received_bytes, ack.received_crc32) == (size, p.crc32(data))
    infer = p.encode_frame(p.FrameType.INFER, 33)
    first = raw.send(infer)
    assert raw.send(infer) == first  # a retransmission is answered from the stored reply
    assert isinstance(p.decode_message(first), p.Output)
    again = raw.request(p.Empty(p.FrameType.INFER), 34)
    assert (again.code, again.message) == (
        p.ErrorCode.STATE,
        f"INFER needs the whole input tensor: 0 of {size} bytes were written with INPUT since the last Invoke",
    )
    raw.request(p.InputChunk(0, data[:400]), 35)
    raw.request(p.Run(0, 1), 36)
    after_run = raw.request(p.Empty(p.FrameType.INFER), 37)
    assert after_run.code == p.ErrorCode.STATE and f"0 of {size} bytes" in after_run.message
