"""The event-stream reader against botocore's (the oracle): the same messages from the same bytes,
however they are split, and every corruption refused."""

from __future__ import annotations

import random
import struct
import zlib

import pytest
from botocore.eventstream import EventStreamBuffer
from hypothesis import given, settings
from hypothesis import strategies as st

from core.providers.event_stream import EventStreamToSSE
from core.providers.frames import FrameError, FrameReader
from sim.event_stream import chunk_frame, encode_message, exception_frame


def _botocore(data: bytes) -> list[tuple[dict, bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return [(dict(m.headers), m.payload) for m in buffer]


def _ours(data: bytes, cuts: list[int]) -> list[tuple[dict, bytes]]:
    reader, out, last = FrameReader(), [], 0
    for cut in [*sorted(cuts), len(data)]:
        out += reader.feed(data[last:cut])
        last = cut
    assert reader.pending == 0
    return out


@settings(max_examples=200, deadline=None)
@given(events=st.lists(st.binary(min_size=0, max_size=300), min_size=1, max_size=8),
       cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=12))
def test_the_same_messages_as_botocore_however_the_bytes_are_split(events, cuts) -> None:
    data = b"".join(encode_message([(":event-type", "chunk"), (":message-type", "event")], e) for e in events)
    data += exception_frame("throttlingException", "slow down")
    cuts = [c % (len(data) + 1) for c in cuts]
    assert _ours(data, cuts) == _botocore(data)


def test_headers_of_every_type_are_read_past_like_botocore() -> None:
    headers = b""
    for name, kind, value in [(b"t", 0, b""), (b"f", 1, b""), (b"b", 2, b"\x01"), (b"s", 3, b"\x00\x02"),
                              (b"i", 4, b"\x00\x00\x00\x03"), (b"l", 5, b"\x00" * 8), (b"ts", 8, b"\x00" * 8),
                              (b"u", 9, b"\x11" * 16), (b"bytes", 6, b"\x00\x02hi"), (b":message-type", 7,
                                                                                    b"\x00\x05event")]:
        headers += bytes([len(name)]) + name + bytes([kind]) + value
    total = 12 + len(headers) + 3 + 4
    prelude = struct.pack(">II", total, len(headers))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers + b"abc"
    message += struct.pack(">I", zlib.crc32(message))
    ours = FrameReader().feed(message)
    (oracle_headers, oracle_payload), = _botocore(message)
    assert ours[0][1] == oracle_payload == b"abc"
    assert ours[0][0][":message-type"] == oracle_headers[":message-type"] == "event"
    assert ours[0][0]["bytes"] == b"hi" and set(ours[0][0]) == set(oracle_headers)


@pytest.mark.parametrize("where", ["prelude", "headers", "payload", "message-crc"])
def test_one_flipped_bit_anywhere_is_refused(where: str) -> None:
    frame = bytearray(chunk_frame(b'{"type":"ping"}'))
    index = {"prelude": 2, "headers": 14, "payload": len(frame) - 10, "message-crc": len(frame) - 1}[where]
    frame[index] ^= 0x01
    with pytest.raises(FrameError):
        FrameReader().feed(bytes(frame))


def test_absurd_lengths_are_refused_before_waiting_for_them() -> None:
    prelude = struct.pack(">II", 64 * 1024 * 1024, 10)
    with pytest.raises(FrameError, match="length"):
        FrameReader().feed(prelude + struct.pack(">I", zlib.crc32(prelude)))


def test_the_sse_converter_ends_a_corrupt_or_truncated_stream_with_an_error_event() -> None:
    good = chunk_frame(b'{"type":"message_start","message":{"id":"m"}}')
    converter = EventStreamToSSE()
    assert converter.feed(good) == b'event: message_start\ndata: {"type":"message_start","message":{"id":"m"}}\n\n'
    truncated = EventStreamToSSE()
    truncated.feed(good[: len(good) - 3])
    assert b"event: error" in truncated.end() and truncated.failure is not None
    corrupt = EventStreamToSSE()
    assert b"event: error" in corrupt.feed(random.Random(1).randbytes(40))
    assert corrupt.feed(good) == b""  # nothing after a failure
