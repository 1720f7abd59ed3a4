"""The micronas serial protocol (hardware/protocol.md): frames, CRC-32, the receive state machine and
the message payloads, shared by the host client and the virtual board."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from enum import IntEnum

PROTOCOL_VERSION = 3
MAGIC = 0xA5
MAX_PAYLOAD_BYTES = 512
HEADER = struct.Struct("<BBBHH")  # magic, version, type, seq, len
CRC_BYTES = 4
FRAME_OVERHEAD_BYTES = HEADER.size + CRC_BYTES
MAX_CHUNK_BYTES = MAX_PAYLOAD_BYTES - 4
MAX_STRING_BYTES = 63
MAX_MESSAGE_BYTES = 255
RESULT_HEADER = struct.Struct("<HHIIHH")
MAX_OPS = (MAX_PAYLOAD_BYTES - RESULT_HEADER.size) // 4 - 1
GAP_S = 0.1
BITS_PER_BYTE = 10  # 8N1: start bit, 8 data bits, stop bit


class FrameType(IntEnum):
    HELLO = 0x01
    LOAD_BEGIN = 0x02
    LOAD_CHUNK = 0x03
    LOAD_END = 0x04
    RUN = 0x05
    READ_RESULT = 0x06
    RESET = 0x07
    INPUT = 0x08
    INFER = 0x09
    INFO = 0x81
    CHUNK_ACK = 0x83
    LOAD_OK = 0x84
    RESULT = 0x85
    RESET_OK = 0x87
    OUTPUT = 0x89
    ERROR = 0xFF


class ErrorCode(IntEnum):
    CRC = 0x01
    VERSION = 0x02
    LENGTH = 0x03
    TYPE = 0x04
    PAYLOAD = 0x05
    NO_SESSION = 0x06
    STATE = 0x07
    TOO_LARGE = 0x08
    OFFSET = 0x09
    HASH = 0x0A
    MODEL = 0x0B
    OPERATOR = 0x0C
    ARENA = 0x0D
    INVOKE = 0x0E
    ARGS = 0x0F
    FLASH = 0x10


class MalformedPayload(ValueError):
    """A frame passed its CRC but its payload does not fit its type (a peer that breaks the spec)."""


def crc32(data: bytes, crc: int = 0) -> int:
    """CRC-32 as zlib computes it (IEEE 802.3); pass the previous value to continue a running CRC."""
    return zlib.crc32(data, crc) & 0xFFFFFFFF


def encode_frame(frame_type: int, seq: int, payload: bytes = b"", version: int = PROTOCOL_VERSION) -> bytes:
    """One frame: header, payload and CRC-32."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"a payload of {len(payload)} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte limit")
    body = HEADER.pack(MAGIC, version, frame_type, seq & 0xFFFF, len(payload)) + payload
    return body + struct.pack("<I", crc32(body))


def wire_seconds(n_bytes: int, baud: int) -> float:
    """Time `n_bytes` take on a serial line at `baud` (8N1)."""
    return n_bytes * BITS_PER_BYTE / baud


@dataclass(frozen=True)
class Frame:
    version: int
    type: int
    seq: int
    payload: bytes
    crc: int


@dataclass(frozen=True)
class BadFrame:
    """A frame the decoder rejected; `type` and `seq` come from its unverified header."""

    reason: str  # "crc" or "length"
    type: int
    seq: int


class FrameDecoder:
    """The receive state machine of protocol.md section 1.1, fed with bytes and a clock in seconds."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._need = 0
        self._last_byte_s = 0.0

    def reset(self) -> None:
        """Drop any partial frame."""
        self._buf.clear()

    def feed(self, data: bytes, now_s: float) -> list[Frame | BadFrame]:
        """Consume `data`; return the frames and bad frames it completed, in order."""
        events: list[Frame | BadFrame] = []
        for byte in data:
            if self._buf and now_s - self._last_byte_s > GAP_S:
                self._buf.clear()
            self._last_byte_s = now_s
            event = self._feed_byte(byte)
            if event is not None:
                events.append(event)
        return events

    def _feed_byte(self, byte: int) -> Frame | BadFrame | None:
        buf = self._buf
        if not buf:
            if byte == MAGIC:
                buf.append(byte)
            return None
        if len(buf) == 1:
            if byte == 0:
                buf.clear()
            elif byte != MAGIC:  # 0xA5 is never a version: it starts a new frame
                buf.append(byte)
            return None
        buf.append(byte)
        if len(buf) < HEADER.size:
            return None
        if len(buf) == HEADER.size:
            _, _, frame_type, seq, length = HEADER.unpack(buf)
            if length > MAX_PAYLOAD_BYTES:
                buf.clear()
                return BadFrame("length", frame_type, seq)
            self._need = HEADER.size + length + CRC_BYTES
            return None
        if len(buf) < self._need:
            return None
        _, version, frame_type, seq, length = HEADER.unpack_from(buf)
        body = bytes(buf[:-CRC_BYTES])
        (crc,) = struct.unpack_from("<I", buf, len(body))
        buf.clear()
        if crc32(body) != crc:
            return BadFrame("crc", frame_type, seq)
        return Frame(version, frame_type, seq, body[HEADER.size :], crc)


# --- message payloads ---------------------------------------------------------------------------


def _pack_string(text: str) -> bytes:
    data = text.encode("ascii", "replace")[:MAX_STRING_BYTES]
    return bytes([len(data)]) + data


def _unpack_strings(payload: bytes, offset: int, count: int) -> list[str]:
    strings = []
    for _ in range(count):
        if offset >= len(payload):
            raise MalformedPayload("INFO ends before its strings")
        n = payload[offset]
        text = payload[offset + 1 : offset + 1 + n]
        if len(text) != n:
            raise MalformedPayload("INFO string runs past the payload")
        strings.append(text.decode("ascii", "replace"))
        offset += 1 + n
    return strings


def _expect(payload: bytes, size: int, name: str) -> None:
    if len(payload) != size:
        raise MalformedPayload(f"{name} has a {len(payload)}-byte payload instead of {size}")


@dataclass(frozen=True)
class Info:
    """Board identity and capacities (the INFO reply to HELLO)."""

    protocol_version: int
    slot_location: int  # 0 flash, 1 RAM
    max_payload_bytes: int
    core_clock_hz: int
    counter_hz: int
    arena_capacity_bytes: int
    model_capacity_bytes: int
    result_capacity_words: int
    board: str
    core: str
    tflm_version: str
    kernel_library: str
    compiler: str
    firmware_build: str
    tick_unit: str  # what a counter tick is: "cycles" (DWT), "ns" (a timer), "instructions" (QEMU)

    TYPE = FrameType.INFO
    _FIXED = struct.Struct("<BBHIIIIH")
    _STRINGS = ("board", "core", "tflm_version", "kernel_library", "compiler", "firmware_build", "tick_unit")

    def encode(self) -> bytes:
        fixed = self._FIXED.pack(
            self.protocol_version,
            self.slot_location,
            self.max_payload_bytes,
            self.core_clock_hz,
            self.counter_hz,
            self.arena_capacity_bytes,
            self.model_capacity_bytes,
            self.result_capacity_words,
        )
        return fixed + b"".join(_pack_string(getattr(self, name)) for name in self._STRINGS)

    @classmethod
    def decode(cls, payload: bytes) -> Info:
        if len(payload) < cls._FIXED.size:
            raise MalformedPayload(f"INFO has {len(payload)} bytes, fewer than {cls._FIXED.size}")
        fixed = cls._FIXED.unpack_from(payload)
        return cls(*fixed, *_unpack_strings(payload, cls._FIXED.size, len(cls._STRINGS)))


@dataclass(frozen=True)
class LoadBegin:
    model_bytes: int
    model_crc32: int

    TYPE = FrameType.LOAD_BEGIN

    def encode(self) -> bytes:
        return struct.pack("<II", self.model_bytes, self.model_crc32)

    @classmethod
    def decode(cls, payload: bytes) -> LoadBegin:
        _expect(payload, 8, "LOAD_BEGIN")
        return cls(*struct.unpack("<II", payload))


@dataclass(frozen=True)
class LoadChunk:
    offset: int
    data: bytes

    TYPE = FrameType.LOAD_CHUNK

    def encode(self) -> bytes:
        return struct.pack("<I", self.offset) + self.data

    @classmethod
    def decode(cls, payload: bytes) -> LoadChunk:
        if len(payload) < 5:
            raise MalformedPayload(f"LOAD_CHUNK has {len(payload)} bytes, fewer than 5")
        return cls(struct.unpack_from("<I", payload)[0], payload[4:])


@dataclass(frozen=True)
class InputChunk(LoadChunk):
    """Bytes `offset ...` of the int8 input tensor (INPUT): the payload of LOAD_CHUNK, another type."""

    TYPE = FrameType.INPUT


@dataclass(frozen=True)
class Output:
    """The reply to INFER: the Invoke's ticks and the int8 output tensor's bytes."""

    invoke_ticks: int
    data: bytes

    TYPE = FrameType.OUTPUT

    def encode(self) -> bytes:
        return struct.pack("<I", self.invoke_ticks) + self.data

    @classmethod
    def decode(cls, payload: bytes) -> Output:
        if len(payload) < 4:
            raise MalformedPayload(f"OUTPUT has {len(payload)} bytes, fewer than 4")
        return cls(struct.unpack_from("<I", payload)[0], payload[4:])


@dataclass(frozen=True)
class ChunkAck:
    received_bytes: int
    received_crc32: int

    TYPE = FrameType.CHUNK_ACK

    def encode(self) -> bytes:
        return struct.pack("<II", self.received_bytes, self.received_crc32)

    @classmethod
    def decode(cls, payload: bytes) -> ChunkAck:
        _expect(payload, 8, "CHUNK_ACK")
        return cls(*struct.unpack("<II", payload))


@dataclass(frozen=True)
class LoadOk:
    model_bytes: int
    model_crc32: int
    arena_used_bytes: int
    n_ops: int

    TYPE = FrameType.LOAD_OK

    def encode(self) -> bytes:
        return struct.pack("<IIIH", self.model_bytes, self.model_crc32, self.arena_used_bytes, self.n_ops)

    @classmethod
    def decode(cls, payload: bytes) -> LoadOk:
        _expect(payload, 14, "LOAD_OK")
        return cls(*struct.unpack("<IIIH", payload))


@dataclass(frozen=True)
class Run:
    warmups: int
    repeats: int

    TYPE = FrameType.RUN

    def encode(self) -> bytes:
        return struct.pack("<HH", self.warmups, self.repeats)

    @classmethod
    def decode(cls, payload: bytes) -> Run:
        _expect(payload, 4, "RUN")
        return cls(*struct.unpack("<HH", payload))


@dataclass(frozen=True)
class ReadResult:
    first_repeat: int

    TYPE = FrameType.READ_RESULT

    def encode(self) -> bytes:
        return struct.pack("<H", self.first_repeat)

    @classmethod
    def decode(cls, payload: bytes) -> ReadResult:
        _expect(payload, 2, "READ_RESULT")
        return cls(*struct.unpack("<H", payload))


def records_per_page(n_ops: int) -> int:
    """How many repeats (each `1 + n_ops` words) one RESULT page holds."""
    return (MAX_PAYLOAD_BYTES - RESULT_HEADER.size) // (4 * (1 + n_ops))


@dataclass(frozen=True)
class ResultPage:
    """One RESULT frame: records are (invoke_ticks, op_ticks...) per repeat."""

    repeats: int
    n_ops: int
    arena_used_bytes: int
    cold_ticks: int
    first_repeat: int
    records: tuple[tuple[int, ...], ...]

    TYPE = FrameType.RESULT

    def encode(self) -> bytes:
        words = [word for record in self.records for word in record]
        header = RESULT_HEADER.pack(
            self.repeats,
            self.n_ops,
            self.arena_used_bytes,
            self.cold_ticks,
            self.first_repeat,
            len(self.records),
        )
        return header + struct.pack(f"<{len(words)}I", *words)

    @classmethod
    def decode(cls, payload: bytes) -> ResultPage:
        if len(payload) < RESULT_HEADER.size:
            raise MalformedPayload(f"RESULT has {len(payload)} bytes, fewer than {RESULT_HEADER.size}")
        repeats, n_ops, arena, cold, first, count = RESULT_HEADER.unpack_from(payload)
        width = 1 + n_ops
        _expect(payload, RESULT_HEADER.size + 4 * count * width, "RESULT")
        words = struct.unpack_from(f"<{count * width}I", payload, RESULT_HEADER.size)
        records = tuple(tuple(words[i * width : (i + 1) * width]) for i in range(count))
        return cls(repeats, n_ops, arena, cold, first, records)


@dataclass(frozen=True)
class ErrorReply:
    code: int
    message: str

    TYPE = FrameType.ERROR

    def encode(self) -> bytes:
        return bytes([self.code]) + self.message.encode("ascii", "replace")[:MAX_MESSAGE_BYTES]

    @classmethod
    def decode(cls, payload: bytes) -> ErrorReply:
        if not payload:
            raise MalformedPayload("ERROR has an empty payload")
        return cls(payload[0], payload[1:].decode("ascii", "replace"))

    @property
    def code_name(self) -> str:
        try:
            return ErrorCode(self.code).name
        except ValueError:
            return f"code {self.code}"


@dataclass(frozen=True)
class Empty:
    """The payload of HELLO, LOAD_END, INFER, RESET and RESET_OK."""

    TYPE: FrameType

    def encode(self) -> bytes:
        return b""


_MESSAGES = {
    cls.TYPE: cls
    for cls in (Info, LoadBegin, LoadChunk, InputChunk, ChunkAck, LoadOk, Run, ReadResult, ResultPage, Output,
                ErrorReply)
}
_EMPTY = {FrameType.HELLO, FrameType.LOAD_END, FrameType.RESET, FrameType.RESET_OK, FrameType.INFER}


def decode_message(frame: Frame):
    """The typed message carried by `frame`; raises MalformedPayload for a payload that breaks the spec."""
    if frame.type in _EMPTY:
        _expect(frame.payload, 0, FrameType(frame.type).name)
        return Empty(FrameType(frame.type))
    if frame.type not in _MESSAGES:
        raise MalformedPayload(f"unknown frame type 0x{frame.type:02X}")
    return _MESSAGES[frame.type].decode(frame.payload)


def run_input_pattern(n_bytes: int) -> bytes:
    """The fixed RUN input (protocol.md 3.8): low bytes of xorshift32 from seed 0x2545F491."""
    x = 0x2545F491
    out = bytearray(n_bytes)
    for i in range(n_bytes):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out[i] = x & 0xFF
    return bytes(out)
