"""`SerialDevice`: a board (or the virtual board) driven over a serial port with the micronas protocol
(hardware/protocol.md): timeouts, retransmissions, recovery from board restarts, clear errors."""

from __future__ import annotations

import collections
import errno
import random
import time
from dataclasses import dataclass

import serial
from serial.tools import list_ports

from micronas.hardware import protocol as p
from micronas.hardware.device import Device, DeviceInfo, LoadReport, Measurement
from micronas.hardware.errors import (
    BoardError,
    BoardSilentError,
    DeviceError,
    PortError,
    ProtocolVersionError,
)

_RETRANSMIT_CODES = {p.ErrorCode.CRC, p.ErrorCode.LENGTH}
_REPLY_TYPES = {t for t in p.FrameType if t >= 0x80}


@dataclass
class LinkStats:
    """Traffic counters: what the protocol cost, and how often it had to recover."""

    requests: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    retransmissions: int = 0
    stale_frames: int = 0
    bad_frames: int = 0
    board_restarts: int = 0


class _BoardRestarted(Exception):
    """The board answered NO_SESSION: it restarted since our HELLO."""


def open_port(port: str, baud: int) -> serial.Serial:
    """Open `port` exclusively, turning pyserial's failures into one-sentence `PortError`s."""
    try:
        return serial.Serial(port, baud, timeout=0.05, write_timeout=5.0, exclusive=True)
    except serial.SerialException as error:
        code = error.errno
        if code == errno.ENOENT:
            ports = ", ".join(sorted(info.device for info in list_ports.comports())) or "none"
            raise PortError(
                f"serial port {port} does not exist; ports on this computer: {ports} "
                "(is the board plugged in, or is the virtual board running?)"
            ) from None
        if code in (errno.EAGAIN, errno.EBUSY) or "exclusively lock" in str(error):
            raise PortError(
                f"serial port {port} is busy: another program (a serial monitor, another micronas run) "
                "has it open; close that program and try again."
            ) from None
        if code == errno.EACCES:
            raise PortError(
                f"no permission to open serial port {port}; add your user to the group that owns it "
                "(usually dialout) and log in again."
            ) from None
        raise PortError(f"cannot open serial port {port}: {error}.") from None
    except ValueError as error:
        raise PortError(f"cannot open serial port {port} at baud={baud}: {error}.") from None


class SerialDevice(Device):
    """A board speaking the micronas protocol on `port` at `baud` (the `Device` interface).

    Opening sends HELLO. Requests are retransmitted up to `retries` times on a timeout or a CRC error.
    A board that restarted during `load`, `run` or `infer` is greeted again, the model uploaded again and
    the request repeated, up to `restart_retries` times per call: a board that restarts again on the same
    request is crashing on it (or browning out), and waiting more would not change that. `run_timeout_s`
    bounds one RUN (all warm-ups and repeats), so a board that restarts on every RUN is given up on after
    `restart_retries + 1` of them, about `(restart_retries + 1) * run_timeout_s` seconds.
    """

    def __init__(
        self,
        port: str,
        baud: int = 921600,
        *,
        retries: int = 3,
        restart_retries: int = 1,
        reply_timeout_s: float = 0.5,
        slow_timeout_s: float = 10.0,
        run_timeout_s: float = 60.0,
        chunk_bytes: int = p.MAX_CHUNK_BYTES,
    ):
        if not 1 <= chunk_bytes <= p.MAX_CHUNK_BYTES:
            raise DeviceError(f"chunk_bytes={chunk_bytes} is not valid: use 1 to {p.MAX_CHUNK_BYTES}.")
        self.port = port
        self.baud = baud
        self.retries = retries
        self.restart_retries = restart_retries
        self.reply_timeout_s = reply_timeout_s
        self.slow_timeout_s = slow_timeout_s
        self.run_timeout_s = run_timeout_s
        self.chunk_bytes = chunk_bytes
        self.stats = LinkStats()
        self._seq = random.randrange(1 << 16)
        self._decoder = p.FrameDecoder()
        self._events: collections.deque = collections.deque()  # decoded, not yet examined
        self._model: bytes | None = None
        self._load_report: LoadReport | None = None
        self._serial = open_port(port, baud)
        try:
            self._info = self._hello()
        except Exception:
            self._serial.close()
            raise

    # --- Device interface -----------------------------------------------------------------------

    def info(self) -> DeviceInfo:
        i = self._info
        return DeviceInfo(
            board=i.board,
            core=i.core,
            core_clock_hz=i.core_clock_hz or None,
            counter_hz=i.counter_hz,
            tflm_version=i.tflm_version,
            kernel_library=i.kernel_library,
            compiler=i.compiler,
            firmware_build=i.firmware_build,
            weights_in="flash" if i.slot_location == 0 else "ram",
            arena_capacity_bytes=i.arena_capacity_bytes,
            model_capacity_bytes=i.model_capacity_bytes,
            protocol_version=i.protocol_version,
            tick_unit=i.tick_unit,
        )

    def load(self, tflite: bytes) -> LoadReport:
        model = bytes(tflite)
        capacity = self._info.model_capacity_bytes
        if not 1 <= len(model) <= capacity:
            raise DeviceError(
                f"a model of {len(model)} bytes does not fit the model slot of {self._info.board} on "
                f"{self.port}, which holds 1 to {capacity} bytes."
            )
        self._model = None
        report = self._recovering("LOAD", lambda: self._upload(model), reload=False)
        self._model, self._load_report = model, report
        return report

    def run(self, warmups: int = 2, repeats: int = 10) -> Measurement:
        if self._model is None:
            raise DeviceError(f"no model is loaded on the board on {self.port}: call load() first.")
        if not (1 <= repeats <= 0xFFFF and 0 <= warmups <= 0xFFFF):
            raise DeviceError(
                f"warmups={warmups}, repeats={repeats} are not valid: use 0 to 65535 warm-ups and 1 to 65535 "
                "repeats (the board may allow fewer repeats: its result buffer is bounded)."
            )
        return self._recovering("RUN", lambda: self._run(warmups, repeats), reload=True)

    def infer(self, input_bytes: bytes) -> bytes:
        """INPUT the tensor in chunks (each acknowledged with its CRC-32), then INFER: the output's bytes."""
        if self._model is None:
            raise DeviceError(f"no model is loaded on the board on {self.port}: call load() first.")
        data = bytes(input_bytes)
        if not data:
            raise DeviceError("an empty input cannot fill the model's input tensor: pass its int8 bytes.")
        return self._recovering("INFER", lambda: self._infer(data), reload=True)

    def reset(self) -> None:
        """RESET the board to its power-on state, then open a new session."""
        self._expect(self._transact(p.Empty(p.FrameType.RESET), self.reply_timeout_s), p.Empty, "RESET")
        self._model = self._load_report = None
        self._info = self._hello()

    def close(self) -> None:
        self._serial.close()

    # --- protocol sequences ---------------------------------------------------------------------

    def _hello(self) -> p.Info:
        return self._expect(self._transact(p.Empty(p.FrameType.HELLO), self.reply_timeout_s), p.Info, "HELLO")

    def _upload(self, model: bytes) -> LoadReport:
        crc = p.crc32(model)
        ack = self._expect(
            self._transact(p.LoadBegin(len(model), crc), self.slow_timeout_s), p.ChunkAck, "LOAD_BEGIN"
        )
        self._send_chunks(p.LoadChunk, model)
        done = self._expect(
            self._transact(p.Empty(p.FrameType.LOAD_END), self.slow_timeout_s), p.LoadOk, "LOAD_END"
        )
        if (done.model_bytes, done.model_crc32) != (len(model), crc):
            raise DeviceError(
                f"the board on {self.port} echoed a model of {done.model_bytes} bytes with CRC-32 "
                f"0x{done.model_crc32:08X}; the upload had {len(model)} bytes with 0x{crc:08X}."
            )
        return LoadReport(done.model_bytes, done.model_crc32, done.arena_used_bytes, done.n_ops)

    def _send_chunks(self, kind, data: bytes) -> None:
        """`data` in LOAD_CHUNK or INPUT frames, each acknowledgement checked against what was sent."""
        running = 0
        for offset in range(0, len(data), self.chunk_bytes):
            piece = data[offset : offset + self.chunk_bytes]
            running = p.crc32(piece, running)
            name = kind.TYPE.name
            ack = self._expect(self._transact(kind(offset, piece), self.reply_timeout_s), p.ChunkAck, name)
            if (ack.received_bytes, ack.received_crc32) != (offset + len(piece), running):
                raise DeviceError(
                    f"the board on {self.port} acknowledged {ack.received_bytes} bytes of {name} with CRC-32 "
                    f"0x{ack.received_crc32:08X} instead of {offset + len(piece)} bytes with 0x{running:08X}."
                )

    def _infer(self, data: bytes) -> bytes:
        self._send_chunks(p.InputChunk, data)
        reply = self._transact(p.Empty(p.FrameType.INFER), self.run_timeout_s)
        return self._expect(reply, p.Output, "INFER").data

    def _run(self, warmups: int, repeats: int) -> Measurement:
        page = self._expect(self._transact(p.Run(warmups, repeats), self.run_timeout_s), p.ResultPage, "RUN")
        first = page
        records = list(page.records)
        while len(records) < first.repeats:
            page = self._expect(
                self._transact(p.ReadResult(len(records)), self.reply_timeout_s), p.ResultPage, "READ_RESULT"
            )
            if page.first_repeat != len(records) or not page.records:
                raise DeviceError(
                    f"the board on {self.port} sent the RESULT page for repeat {page.first_repeat} "
                    f"with {len(page.records)} records when repeat {len(records)} was asked for."
                )
            records.extend(page.records)
        return Measurement(
            counter_hz=self._info.counter_hz,
            warmups=warmups,
            invoke_ticks=tuple(r[0] for r in records),
            op_ticks=tuple(tuple(r[1:]) for r in records),
            cold_ticks=first.cold_ticks,
            arena_used_bytes=first.arena_used_bytes,
            model_bytes=self._load_report.model_bytes,
            model_crc32=self._load_report.model_crc32,
            tick_unit=self._info.tick_unit,
        )

    def _recovering(self, what: str, action, reload: bool):
        """Run `action`; after a board restart, greet it, re-upload the model if `reload`, and retry."""
        restarted = False
        started = time.monotonic()
        for _ in range(self.restart_retries + 1):
            try:
                if restarted:
                    self._greet_after_restart()
                    if reload:
                        self._upload(self._model)
                return action()
            except _BoardRestarted:
                self.stats.board_restarts += 1
                restarted = True
        raise DeviceError(
            f"the board on {self.port} restarted {self.restart_retries + 1} times during {what} "
            f"(given up after {time.monotonic() - started:.1f} s); check its power supply and whether the "
            "model crashes it."
        )

    def _greet_after_restart(self) -> None:
        info = self._hello()
        if info != self._info:
            raise DeviceError(
                f"the board on {self.port} came back from a restart as another board "
                f"({info.board}, {info.firmware_build}); start the measurement again."
            )

    def _expect(self, message, kind, request: str):
        if isinstance(message, p.ErrorReply):
            if message.code == p.ErrorCode.NO_SESSION and request != "HELLO":
                raise _BoardRestarted()
            raise BoardError(
                f"the board on {self.port} refused {request} with {message.code_name}: {message.message}.",
                message.code,
            )
        if not isinstance(message, kind) or (kind is p.Empty and message.TYPE != p.FrameType.RESET_OK):
            raise DeviceError(f"the board on {self.port} answered {request} with an unexpected {message}.")
        return message

    # --- framing, timeouts, retransmission ------------------------------------------------------

    def _transact(self, message, allowance_s: float):
        """Send one request and return the typed reply, retransmitting on a timeout or a CRC error."""
        self._seq = (self._seq + 1) & 0xFFFF
        frame = p.encode_frame(message.TYPE, self._seq, message.encode())
        timeout_s = p.wire_seconds(len(frame) + p.MAX_PAYLOAD_BYTES + p.FRAME_OVERHEAD_BYTES, self.baud)
        timeout_s += allowance_s
        name = p.FrameType(message.TYPE).name
        self.stats.requests += 1
        problem = "no reply"
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats.retransmissions += 1
            self._write(frame)
            reply = self._await(self._seq, time.monotonic() + timeout_s)
            if isinstance(reply, str):
                problem = reply
            elif isinstance(reply, p.ErrorReply) and reply.code in _RETRANSMIT_CODES:
                problem = f"the board reported {reply.code_name} for the request"
            else:
                return reply
        raise BoardSilentError(
            f"the board on {self.port} gave no valid reply to {name} in {self.retries + 1} attempts of "
            f"{timeout_s:.2f} s ({problem}); check that the micronas firmware runs on it and that it "
            f"uses {self.baud} baud."
        )

    def _write(self, frame: bytes) -> None:
        try:
            self._serial.write(frame)
            self._serial.flush()
        except serial.SerialException as error:
            raise PortError(
                f"writing to serial port {self.port} failed: {error}; was the board unplugged?"
            ) from None
        self.stats.bytes_sent += len(frame)

    def _await(self, seq: int, deadline: float):
        """The typed reply to request `seq`, or a string saying why there is none by `deadline`."""
        while True:
            while self._events:
                outcome = self._examine(self._events.popleft(), seq)
                if outcome is not None:
                    return outcome
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "no reply in time"
            self._serial.timeout = min(remaining, 0.05)
            try:
                data = self._serial.read(max(1, self._serial.in_waiting))
            except serial.SerialException as error:
                raise PortError(
                    f"reading serial port {self.port} failed: {error}; was the board unplugged?"
                ) from None
            self.stats.bytes_received += len(data)
            self._events.extend(self._decoder.feed(data, time.monotonic()))

    def _examine(self, event, seq: int):
        """The reply (or a retransmission reason) `event` gives for request `seq`; None to keep waiting."""
        if isinstance(event, p.BadFrame):
            self.stats.bad_frames += 1
            return f"a reply with a bad {event.reason}"
        if event.version != p.PROTOCOL_VERSION:
            raise ProtocolVersionError(
                f"the board on {self.port} speaks protocol version {event.version} but this micronas "
                f"speaks version {p.PROTOCOL_VERSION}; flash the firmware from hardware/firmware of "
                "this release (see hardware/firmware/README.md)."
            )
        if event.seq != seq or event.type not in _REPLY_TYPES:
            self.stats.stale_frames += 1
            return None
        try:
            return p.decode_message(event)
        except p.MalformedPayload as error:
            raise DeviceError(f"the board on {self.port} sent a malformed reply: {error}.") from None
