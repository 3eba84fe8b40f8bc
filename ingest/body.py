"""Request bodies: which OTLP encoding (from Content-Type), reading with a size cap, and gunzip with
a cap on the decompressed size (a gzip bomb ends as 413, not as an exhausted process)."""

from __future__ import annotations

import enum
import zlib
from collections.abc import AsyncIterator

from ingest.errors import BodyTooLargeError, UndecodableBodyError, UnsupportedMediaTypeError


class Encoding(enum.Enum):
    PROTOBUF = "application/x-protobuf"
    JSON = "application/json"


_MEDIA_TYPES = {
    "application/x-protobuf": Encoding.PROTOBUF,
    "application/protobuf": Encoding.PROTOBUF,
    "application/json": Encoding.JSON,
}


def encoding_of(content_type: str | None) -> Encoding:
    encoding = encoding_of_or_none(content_type)
    if encoding is None:
        raise UnsupportedMediaTypeError(
            f"unsupported content type {content_type!r}: send application/x-protobuf or application/json"
        )
    return encoding


def encoding_of_or_none(content_type: str | None) -> Encoding | None:
    """The encoding, or None when unsupported (for answering an earlier error in the client's encoding)."""
    return _MEDIA_TYPES.get((content_type or "").split(";", 1)[0].strip().lower())


async def read_capped(chunks: AsyncIterator[bytes], declared_length: str | None, limit: int) -> bytes:
    """The whole body, or :class:`BodyTooLargeError` as soon as it exceeds ``limit`` bytes."""
    if declared_length is not None and declared_length.strip().isdigit() and int(declared_length) > limit:
        raise BodyTooLargeError(f"request body of {int(declared_length)} bytes exceeds the limit of {limit}")
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError(f"request body exceeds the limit of {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def decode_content(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """``body`` without its Content-Encoding (identity or gzip), at most ``limit`` bytes."""
    codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
    for coding in reversed(codings):
        if coding in ("gzip", "x-gzip"):
            body = _gunzip(body, limit)
        elif coding != "identity":
            raise UnsupportedMediaTypeError(f"unsupported content encoding {coding!r}: use gzip or none")
    return body


def _gunzip(data: bytes, limit: int) -> bytes:
    out: list[bytes] = []
    size = 0
    # concatenated gzip members are one stream (RFC 1952); loop over them
    while data:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            chunk = inflater.decompress(data, limit - size + 1)
        except zlib.error as error:
            raise UndecodableBodyError(f"body is not valid gzip: {error}") from error
        size += len(chunk)
        if size > limit or inflater.unconsumed_tail:
            raise BodyTooLargeError(f"decompressed body exceeds the limit of {limit} bytes")
        if not inflater.eof:
            raise UndecodableBodyError("gzip body is truncated")
        out.append(chunk)
        data = inflater.unused_data
    return b"".join(out)
