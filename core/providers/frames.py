"""The AWS event-stream framing (``application/vnd.amazon.eventstream``), read incrementally.

botocore's ``EventStreamBuffer`` reads the same frames, and is this module's test oracle; the proxy
does not use it on its hot path because it parses every header in interpreted Python (~30 µs a
frame, one frame per Anthropic event: most of what the Bedrock path cost beyond the Anthropic path,
bench/README.md). This reader checks what botocore checks — both CRC32s, the length bounds, every
header type's length — with ``struct`` and ``zlib`` doing the work.

A message: total length (u32) | headers length (u32) | prelude CRC (u32) | headers | payload |
message CRC (u32), big-endian; a header: name length (u8) | name | type (u8) | value.
"""

from __future__ import annotations

import struct
import zlib

_PRELUDE = struct.Struct(">III")
_U16 = struct.Struct(">H")
_CRC = struct.Struct(">I")
_PRELUDE_BYTES = 12
_CRC_BYTES = 4
# botocore's bounds: headers up to 128 KiB, payload up to 16 MiB
MAX_HEADERS_BYTES = 128 * 1024
MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
# fixed-size value lengths by header type (0/1: booleans, no value); 6 and 7 carry a u16 length
_FIXED = {0: 0, 1: 0, 2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}
_STRING, _BYTES = 7, 6


class FrameError(ValueError):
    """Bytes that are not a valid event-stream message (the message says what is wrong)."""


def _headers(raw: bytes) -> dict[str, str | bytes | None]:
    """The headers of one message: strings decoded, byte arrays as bytes, other types as None (a
    Bedrock frame carries only strings; the others are read past, never trusted)."""
    headers: dict[str, str | bytes | None] = {}
    at, end = 0, len(raw)
    while at < end:
        size = raw[at]
        name_end = at + 1 + size
        if name_end + 1 > end:
            raise FrameError("a header name runs past the headers")
        name = raw[at + 1:name_end].decode("utf-8", "replace")
        kind = raw[name_end]
        at = name_end + 1
        if kind in (_STRING, _BYTES):
            if at + 2 > end:
                raise FrameError("a header value length runs past the headers")
            (length,) = _U16.unpack_from(raw, at)
            value_end = at + 2 + length
            if value_end > end:
                raise FrameError("a header value runs past the headers")
            value = raw[at + 2:value_end]
            headers[name] = value.decode("utf-8", "replace") if kind == _STRING else value
            at = value_end
        elif kind in _FIXED:
            at += _FIXED[kind]
            if at > end:
                raise FrameError("a header value runs past the headers")
            headers[name] = None
        else:
            raise FrameError(f"unknown header type {kind}")
    return headers


class FrameReader:
    """Feed bytes as they arrive; get back the complete messages among them, in order."""

    __slots__ = ("_buffer", "_last_headers", "_last_raw")

    def __init__(self) -> None:
        self._buffer = bytearray()
        # a stream's frames repeat one header block (every Bedrock chunk: the same three headers), so
        # the last one parsed is kept and a repeat costs a comparison instead of a parse
        self._last_raw = b""
        self._last_headers: dict[str, str | bytes | None] = {}

    @property
    def pending(self) -> int:
        """Bytes held that do not yet form a message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[tuple[dict[str, str | bytes | None], bytes]]:
        buffer = self._buffer
        buffer += data
        messages = []
        start = 0
        size = len(buffer)
        view = memoryview(buffer)
        try:
            while size - start >= _PRELUDE_BYTES:
                total, headers_length, prelude_crc = _PRELUDE.unpack_from(buffer, start)
                if zlib.crc32(view[start:start + 8]) != prelude_crc:
                    raise FrameError("prelude CRC mismatch")
                if headers_length > MAX_HEADERS_BYTES:
                    raise FrameError("headers longer than 128 KiB")
                payload_length = total - _PRELUDE_BYTES - headers_length - _CRC_BYTES
                if payload_length < 0 or payload_length > MAX_PAYLOAD_BYTES:
                    raise FrameError("invalid message length")
                if size - start < total:
                    break
                end = start + total
                (message_crc,) = _CRC.unpack_from(buffer, end - _CRC_BYTES)
                if zlib.crc32(view[start:end - _CRC_BYTES]) != message_crc:
                    raise FrameError("message CRC mismatch")
                body = start + _PRELUDE_BYTES + headers_length
                raw = bytes(view[start + _PRELUDE_BYTES:body])
                if raw != self._last_raw:
                    self._last_headers, self._last_raw = _headers(raw), raw
                messages.append((dict(self._last_headers), bytes(view[body:end - _CRC_BYTES])))
                start = end
        finally:
            view.release()
        if start:
            del buffer[:start]
        return messages
