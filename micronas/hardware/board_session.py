"""The board side of the protocol in Python (the counterpart of hardware/firmware/src/board.c), with
models run by the in-process tflite-micro interpreter (`LocalTflmDevice`) and timed on the host clock."""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field

from micronas.export.flatbuffer import DEPLOYABLE_KINDS, FlatbufferError, read_graph
from micronas.hardware import protocol as p
from micronas.hardware.errors import DeviceError
from micronas.hardware.local_device import COUNTER_HZ, LocalTflmDevice

_REQUESTS = {t for t in p.FrameType if t < 0x80}


@dataclass
class BoardConfig:
    protocol_version: int = p.PROTOCOL_VERSION
    arena_capacity_bytes: int = 1 << 20
    model_capacity_bytes: int = 1 << 20
    result_capacity_words: int = 2048
    board: str = "host"  # the same identity as LocalTflmDevice: same interpreter, same CPU, same clock
    core: str = field(default_factory=platform.machine)


class BoardSession:
    """Protocol state of one board: session, upload, model, last result, stored reply."""

    def __init__(self, config: BoardConfig, tflm_version: str, firmware_build: str):
        self.config = config
        self.tflm_version = tflm_version
        self.firmware_build = firmware_build
        self.power_on()

    def power_on(self) -> None:
        """Back to the state after boot: no session, empty slot, no result, nothing stored."""
        self.session = False
        self.upload: bytearray | None = None
        self.upload_size = self.upload_crc = self.upload_running_crc = 0
        self.device = LocalTflmDevice()
        self.load_report = None  # LoadReport of the model in the slot, None when the slot is empty
        self.result: list[int] | None = None
        self.input = bytearray()  # INPUT bytes since the last Invoke
        self.input_crc = 0
        self.cold_ticks = 0
        self.stored: tuple[int, int, int] | None = None
        self.stored_reply = b""

    def handle(self, event: p.Frame | p.BadFrame) -> bytes:
        """The reply frame to one decoded event."""
        version = self.config.protocol_version
        if isinstance(event, p.BadFrame):
            code = p.ErrorCode.CRC if event.reason == "crc" else p.ErrorCode.LENGTH
            text = "frame CRC-32 mismatch" if event.reason == "crc" else "frame length exceeds 512 bytes"
            return p.encode_frame(p.FrameType.ERROR, event.seq, p.ErrorReply(code, text).encode(), version)
        if event.version != version:
            reply = p.ErrorReply(p.ErrorCode.VERSION, f"board speaks protocol version {version}")
            return p.encode_frame(p.FrameType.ERROR, event.seq, reply.encode(), version)
        if event.type == p.FrameType.RESET and not event.payload:
            reply = p.encode_frame(p.FrameType.RESET_OK, event.seq, b"", version)
            self.power_on()
            return reply
        if event.type == p.FrameType.HELLO and not event.payload:
            self.power_on()
            self.session = True
            return p.encode_frame(p.FrameType.INFO, event.seq, self._info().encode(), version)
        key = (event.seq, event.type, event.crc)
        if self.stored == key:
            return self.stored_reply  # a retransmission: answer again, do not execute again
        message = self._execute(event)
        self.stored, self.stored_reply = (
            key,
            p.encode_frame(message.TYPE, event.seq, message.encode(), version),
        )
        return self.stored_reply

    def _info(self) -> p.Info:
        c = self.config
        return p.Info(
            c.protocol_version,
            1,
            p.MAX_PAYLOAD_BYTES,
            0,
            COUNTER_HZ,
            c.arena_capacity_bytes,
            c.model_capacity_bytes,
            c.result_capacity_words,
            c.board,
            c.core,
            self.tflm_version,
            "reference",
            "python",
            self.firmware_build,
            "ns",
        )

    def _execute(self, frame: p.Frame):
        if frame.type not in _REQUESTS:
            return p.ErrorReply(p.ErrorCode.TYPE, f"unknown request type {frame.type}")
        try:
            message = p.decode_message(frame)
        except p.MalformedPayload:
            return p.ErrorReply(
                p.ErrorCode.PAYLOAD,
                f"a payload of {len(frame.payload)} bytes is not valid for request type {frame.type}",
            )
        if not self.session:
            return p.ErrorReply(
                p.ErrorCode.NO_SESSION, "no session: send HELLO first (the board restarted or was reset)"
            )
        handler = {
            p.FrameType.LOAD_BEGIN: self._load_begin,
            p.FrameType.LOAD_CHUNK: self._load_chunk,
            p.FrameType.LOAD_END: self._load_end,
            p.FrameType.RUN: self._run,
            p.FrameType.READ_RESULT: self._read_result,
            p.FrameType.INPUT: self._input,
            p.FrameType.INFER: self._infer,
        }[frame.type]
        return handler(message)

    def _load_begin(self, m: p.LoadBegin):
        self.load_report, self.result, self.upload = None, None, None
        self.input = bytearray()
        if not 1 <= m.model_bytes <= self.config.model_capacity_bytes:
            return p.ErrorReply(
                p.ErrorCode.TOO_LARGE,
                f"a model of {m.model_bytes} bytes does not fit the model "
                f"slot of 1 to {self.config.model_capacity_bytes} bytes",
            )
        self.upload, self.upload_size, self.upload_crc = bytearray(), m.model_bytes, m.model_crc32
        self.upload_running_crc = 0
        return p.ChunkAck(0, 0)

    def _load_chunk(self, m: p.LoadChunk):
        if self.upload is None:
            return p.ErrorReply(p.ErrorCode.STATE, "LOAD_CHUNK without LOAD_BEGIN: no upload is in progress")
        if m.offset != len(self.upload):
            return p.ErrorReply(
                p.ErrorCode.OFFSET, f"chunk offset {m.offset} is not the expected offset {len(self.upload)}"
            )
        if m.offset + len(m.data) > self.upload_size:
            return p.ErrorReply(
                p.ErrorCode.TOO_LARGE,
                f"chunk ends at byte {m.offset + len(m.data)}, past the "
                f"announced model size of {self.upload_size} bytes",
            )
        self.upload += m.data
        self.upload_running_crc = p.crc32(m.data, self.upload_running_crc)
        return p.ChunkAck(len(self.upload), self.upload_running_crc)

    def _load_end(self, _):
        upload, self.upload = self.upload, None
        if upload is None:
            return p.ErrorReply(p.ErrorCode.STATE, "LOAD_END without LOAD_BEGIN: no upload is in progress")
        if len(upload) != self.upload_size:
            return p.ErrorReply(
                p.ErrorCode.STATE, f"upload incomplete: {len(upload)} of {self.upload_size} bytes received"
            )
        crc = p.crc32(bytes(upload))
        if crc != self.upload_crc:
            return p.ErrorReply(
                p.ErrorCode.HASH, "the model read back from the slot does not match its announced CRC-32"
            )
        try:
            kinds = read_graph(bytes(upload)).kinds
        except FlatbufferError as error:
            return p.ErrorReply(p.ErrorCode.MODEL, str(error))
        foreign = sorted(set(kinds) - set(DEPLOYABLE_KINDS))
        if foreign:
            return p.ErrorReply(
                p.ErrorCode.OPERATOR,
                f"the firmware registers only {', '.join(DEPLOYABLE_KINDS)}, not {', '.join(foreign)}",
            )
        if len(kinds) > p.MAX_OPS:
            return p.ErrorReply(
                p.ErrorCode.OPERATOR,
                f"the model has {len(kinds)} operators; at most {p.MAX_OPS} are supported",
            )
        try:
            report = self.device.load(bytes(upload))
        except DeviceError as error:
            return p.ErrorReply(p.ErrorCode.MODEL, str(error))
        if report.arena_used_bytes > self.config.arena_capacity_bytes:
            return p.ErrorReply(
                p.ErrorCode.ARENA,
                f"the model needs {report.arena_used_bytes} arena bytes; "
                f"this board has {self.config.arena_capacity_bytes}",
            )
        self.load_report = report
        return p.LoadOk(report.model_bytes, report.model_crc32, report.arena_used_bytes, report.n_ops)

    def _run(self, m: p.Run):
        self.result = None
        if self.load_report is None:
            return p.ErrorReply(
                p.ErrorCode.STATE, "RUN without a model: upload one with LOAD_BEGIN, LOAD_CHUNK, LOAD_END"
            )
        max_repeats = self.config.result_capacity_words  # one word per repeat: operators are not timed
        if not 1 <= m.repeats <= max_repeats:
            return p.ErrorReply(
                p.ErrorCode.ARGS, f"repeats={m.repeats} is out of range: this model allows 1 to {max_repeats}"
            )
        self.input = bytearray()  # the fixed pattern replaces any input written with INPUT
        measured = self.device.run(m.warmups, m.repeats)
        if max(measured.cold_ticks, *measured.invoke_ticks) >= 1 << 32:
            return p.ErrorReply(p.ErrorCode.INVOKE, "an Invoke took longer than the 32-bit counter holds")
        self.cold_ticks, self.result = measured.cold_ticks, list(measured.invoke_ticks)
        return self._page(0)

    def _input(self, m: p.InputChunk):
        if self.load_report is None:
            return p.ErrorReply(
                p.ErrorCode.STATE, "INPUT without a model: upload one with LOAD_BEGIN, LOAD_CHUNK, LOAD_END"
            )
        if m.offset == 0:
            self.input = bytearray()  # offset 0 starts the input anew
        if m.offset != len(self.input):
            return p.ErrorReply(
                p.ErrorCode.OFFSET, f"input offset {m.offset} is not the expected offset {len(self.input)}"
            )
        size = self.device.input_bytes
        if m.offset + len(m.data) > size:
            return p.ErrorReply(
                p.ErrorCode.TOO_LARGE,
                f"input ends at byte {m.offset + len(m.data)}, past the model's input tensor of {size} bytes",
            )
        self.input_crc = p.crc32(m.data, self.input_crc if m.offset else 0)
        self.input += m.data
        return p.ChunkAck(len(self.input), self.input_crc)

    def _infer(self, _):
        if self.load_report is None:
            return p.ErrorReply(
                p.ErrorCode.STATE, "INFER without a model: upload one with LOAD_BEGIN, LOAD_CHUNK, LOAD_END"
            )
        given, self.input = bytes(self.input), bytearray()  # consumed, as on the firmware
        if len(given) != self.device.input_bytes:
            return p.ErrorReply(
                p.ErrorCode.STATE,
                f"INFER needs the whole input tensor: {len(given)} of {self.device.input_bytes} bytes were "
                "written with INPUT since the last Invoke",
            )
        start = time.perf_counter_ns()
        output = self.device.infer(given)
        ticks = time.perf_counter_ns() - start
        if len(output) > p.MAX_PAYLOAD_BYTES - 4:
            return p.ErrorReply(
                p.ErrorCode.TOO_LARGE,
                f"the output tensor of {len(output)} bytes does not fit one OUTPUT frame (at most 508 bytes)",
            )
        return p.Output(ticks, output)

    def _read_result(self, m: p.ReadResult):
        if self.result is None:
            return p.ErrorReply(p.ErrorCode.STATE, "READ_RESULT without a result: send RUN first")
        if m.first_repeat >= len(self.result):
            return p.ErrorReply(
                p.ErrorCode.ARGS,
                f"first_repeat={m.first_repeat} is out of range: the last "
                f"run has repeats 0 to {len(self.result) - 1}",
            )
        return self._page(m.first_repeat)

    def _page(self, first: int) -> p.ResultPage:
        count = min(len(self.result) - first, p.records_per_page(0))
        records = tuple((t,) for t in self.result[first : first + count])
        return p.ResultPage(
            len(self.result), 0, self.load_report.arena_used_bytes, self.cold_ticks, first, records
        )
