"""The Python side of the wire format: CRC, frames, the receive state machine, every message payload."""

import pytest

from micronas.hardware import protocol as p

MESSAGES = [
    p.Info(
        2,
        0,
        512,
        80_000_000,
        80_000_000,
        160_000,
        131_072,
        1024,
        "NUCLEO-L552ZE-Q",
        "cortex-m33",
        "tflite-micro 8f6596d",
        "cmsis-nn 6.0.0",
        "gcc 12.3.1 -O2",
        "micronas-fw 0.1.0",
        "cycles",
    ),
    p.LoadBegin(2680, 0xDEADBEEF),
    p.LoadChunk(508, bytes(range(200))),
    p.ChunkAck(1016, 0x12345678),
    p.LoadOk(2680, 0xDEADBEEF, 1904, 4),
    p.Run(2, 10),
    p.ReadResult(7),
    p.ResultPage(10, 2, 1904, 123456, 3, ((10, 4, 5), (11, 5, 5))),
    p.ErrorReply(p.ErrorCode.OFFSET, "chunk offset 0 is not the expected offset 508"),
    p.InputChunk(0, bytes(range(100, 140))),
    p.Output(98765, bytes([0x80, 0x7F, 0x00, 0x05])),
    p.Empty(p.FrameType.HELLO),
    p.Empty(p.FrameType.INFER),
    p.Empty(p.FrameType.RESET_OK),
]


def test_crc32_is_the_zlib_crc_with_its_check_value():
    assert p.crc32(b"123456789") == 0xCBF43926
    assert p.crc32(b"6789", p.crc32(b"12345")) == 0xCBF43926


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__ + getattr(m, "TYPE").name)
def test_every_message_round_trips_through_a_frame(message):
    frame = p.encode_frame(message.TYPE, 0xBEEF, message.encode())
    (decoded,) = p.FrameDecoder().feed(frame, 0.0)
    assert (decoded.version, decoded.type, decoded.seq) == (p.PROTOCOL_VERSION, message.TYPE, 0xBEEF)
    assert p.decode_message(decoded) == message


def test_frame_layout_is_magic_version_type_seq_len_payload_crc():
    frame = p.encode_frame(p.FrameType.RUN, 0x0102, p.Run(2, 10).encode())
    assert frame[:7] == bytes([0xA5, 0x03, 0x05, 0x02, 0x01, 0x04, 0x00])
    assert frame[7:11] == bytes([2, 0, 10, 0])
    assert int.from_bytes(frame[11:], "little") == p.crc32(frame[:11])
    assert len(frame) == 11 + 4


def test_decoder_resynchronises_after_noise_and_bad_frames():
    good = p.encode_frame(p.FrameType.HELLO, 7)
    bad_crc = bytearray(p.encode_frame(p.FrameType.RUN, 8, p.Run(0, 1).encode()))
    bad_crc[8] ^= 0x10
    too_long = bytes([0xA5, 0x01, 0x03, 9, 0]) + (513).to_bytes(2, "little")
    stream = b"\x00\xa5\x00noise\xa5" + bytes(bad_crc) + too_long + good
    events = p.FrameDecoder().feed(stream, 0.0)
    assert [type(e).__name__ for e in events] == ["BadFrame", "BadFrame", "Frame"]
    assert (events[0].reason, events[0].seq) == ("crc", 8)
    assert (events[1].reason, events[1].seq) == ("length", 9)
    assert events[2].seq == 7


def test_decoder_drops_a_partial_frame_after_the_inter_byte_gap():
    frame = p.encode_frame(p.FrameType.RUN, 3, p.Run(1, 1).encode())
    decoder = p.FrameDecoder()
    assert decoder.feed(frame[:6], 0.0) == []
    # the rest arrives after more than 100 ms: the first part is stale, so the tail is only noise
    assert decoder.feed(frame[6:], 0.0 + p.GAP_S + 0.01) == []
    assert [e.seq for e in decoder.feed(frame, 1.0)] == [3]


def test_oversized_payloads_and_malformed_replies_are_refused():
    with pytest.raises(ValueError, match="513 bytes exceeds the 512-byte limit"):
        p.encode_frame(p.FrameType.LOAD_CHUNK, 1, bytes(513))
    short = p.FrameDecoder().feed(p.encode_frame(p.FrameType.LOAD_OK, 1, bytes(13)), 0.0)[0]
    with pytest.raises(p.MalformedPayload, match="LOAD_OK has a 13-byte payload instead of 14"):
        p.decode_message(short)


def test_result_pages_hold_whole_repeats_and_max_ops_fits_one_page():
    assert p.records_per_page(0) == 124
    assert p.records_per_page(1) == 62
    assert p.records_per_page(p.MAX_OPS) == 1
    page = p.ResultPage(1, p.MAX_OPS, 0, 0, 0, (tuple(range(1 + p.MAX_OPS)),))
    assert len(page.encode()) == p.MAX_PAYLOAD_BYTES
