"""The AWS binary event-stream encoding (``application/vnd.amazon.eventstream``), written by hand so the
fake Bedrock produces the frames a real one does and a decoder (botocore's EventStreamBuffer, the
proxy's) is tested against bytes it did not make itself.

A message::

    total length (uint32) | headers length (uint32) | prelude CRC32 (of the 8 bytes before)
    headers: name length (uint8) | name | value type (uint8, 7 = string) | value length (uint16) | value
    payload
    message CRC32 (of everything before it)

All integers are big-endian; CRC32 is the IEEE one (zlib.crc32).
"""

from __future__ import annotations

import base64
import struct
import zlib

import orjson

STRING_HEADER = 7
PRELUDE_BYTES = 12
CRC_BYTES = 4
# Bedrock pads each chunk's JSON with a "p" field of varying length so sizes do not reveal content.
_PADDING_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def encode_headers(headers: list[tuple[str, str]]) -> bytes:
    out = bytearray()
    for name, value in headers:
        name_bytes, value_bytes = name.encode(), value.encode()
        if len(name_bytes) > 255 or len(value_bytes) > 0xFFFF:
            raise ValueError(f"event-stream header too long: {name}")
        out += struct.pack(">B", len(name_bytes)) + name_bytes
        out += struct.pack(">BH", STRING_HEADER, len(value_bytes)) + value_bytes
    return bytes(out)


def encode_message(headers: list[tuple[str, str]], payload: bytes) -> bytes:
    """One complete event-stream message with both CRCs."""
    header_bytes = encode_headers(headers)
    total = PRELUDE_BYTES + len(header_bytes) + len(payload) + CRC_BYTES
    prelude = struct.pack(">II", total, len(header_bytes))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + header_bytes + payload
    return message + struct.pack(">I", zlib.crc32(message))


def padding(size_hint: int) -> str:
    """Deterministic padding whose length varies with the data, like the real service's."""
    return _PADDING_ALPHABET[: 1 + (size_hint * 7) % (len(_PADDING_ALPHABET) - 1)]


def chunk_frame(event_json: bytes) -> bytes:
    """An InvokeModelWithResponseStream ``chunk`` event carrying one Anthropic event's JSON."""
    payload = orjson.dumps({"bytes": base64.b64encode(event_json).decode("ascii"), "p": padding(len(event_json))})
    headers = [(":event-type", "chunk"), (":content-type", "application/json"), (":message-type", "event")]
    return encode_message(headers, payload)


def exception_frame(exception_type: str, message: str) -> bytes:
    """A modeled exception after the 200 (``modelStreamErrorException``, ``throttlingException`` …)."""
    headers = [
        (":exception-type", exception_type),
        (":content-type", "application/json"),
        (":message-type", "exception"),
    ]
    return encode_message(headers, orjson.dumps({"message": message}))
