"""Bedrock's streamed answer (the AWS binary event-stream) turned into Anthropic's SSE, event for event.

Each ``chunk`` frame carries one Anthropic event as base64 JSON; it becomes ``event: <type>`` /
``data: <the same JSON bytes>``, so Claude Code (and the proxy's SSE tap) read exactly what the model
sent. An ``exception`` frame (which can follow a 200) becomes an Anthropic ``error`` event; a frame
that fails its CRC, or anything that is not a frame, ends the stream with an ``error`` event too.
Frames are decoded by botocore's parser (prelude and message CRCs checked, lengths bounded), fed as
the bytes arrive: nothing waits for the whole answer."""

from __future__ import annotations

import base64
import binascii
import re

import orjson
from botocore.eventstream import EventStreamBuffer, ParserError

from .errors import ClientError, stream_exception

# Anthropic's events put "type" first; reading it from the first bytes spares a JSON parse per delta.
_LEADING_TYPE = re.compile(rb'\s*\{\s*"type"\s*:\s*"([A-Za-z_]{1,64})"')


def sse_event(name: bytes, data: bytes) -> bytes:
    return b"event: " + name + b"\ndata: " + data + b"\n\n"


def error_event(error: ClientError) -> bytes:
    return sse_event(b"error", orjson.dumps({"type": "error", "error": {"type": error.error_type,
                                                                       "message": error.message}}))


def _event_type(data: bytes) -> bytes | None:
    match = _LEADING_TYPE.match(data)
    if match is not None:
        return match.group(1)
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    kind = document.get("type") if isinstance(document, dict) else None
    return kind.encode() if isinstance(kind, str) and kind.isidentifier() else None


class EventStreamToSSE:
    """Feed the bytes of a Bedrock ``invoke-with-response-stream`` answer; get SSE bytes back.

    ``failure`` is set (the status the failure stands for, and what the client was told) once the
    stream has failed; nothing after it is decoded."""

    __slots__ = ("_buffer", "events", "failure")

    def __init__(self) -> None:
        self._buffer = EventStreamBuffer()
        self.failure: tuple[int, ClientError] | None = None
        self.events = 0

    def feed(self, data: bytes) -> bytes:
        if self.failure is not None:
            return b""
        self._buffer.add_data(data)
        out: list[bytes] = []
        try:
            for message in self._buffer:
                converted = self._convert(message.headers, message.payload)
                out.append(converted)
                if self.failure is not None:
                    break
        except ParserError as exc:
            out.append(self._fail(502, ClientError("api_error", f"Amazon Bedrock sent a malformed event stream "
                                                               f"({type(exc).__name__})")))
        return b"".join(out)

    def end(self) -> bytes:
        """The stream closed: bytes left over that never formed a frame are a truncated answer."""
        if self.failure is None and self._buffer._data:  # botocore keeps no public length
            return self._fail(502, ClientError("api_error", "Amazon Bedrock's event stream ended inside a frame"))
        return b""

    def _fail(self, status: int, error: ClientError) -> bytes:
        self.failure = (status, error)
        return error_event(error)

    def _convert(self, headers: dict[str, object], payload: bytes) -> bytes:
        kind = headers.get(":message-type")
        if kind == "event":
            if headers.get(":event-type") != "chunk":
                return b""  # other event types (initial-response) carry nothing for the client
            try:
                wrapper = orjson.loads(payload)
                data = base64.b64decode(wrapper["bytes"], validate=True)
            except (orjson.JSONDecodeError, KeyError, TypeError, binascii.Error):
                return self._fail(502, ClientError("api_error", "Amazon Bedrock sent a chunk that is not an event"))
            name = _event_type(data)
            if name is None:
                return self._fail(502, ClientError("api_error", "Amazon Bedrock sent an event without a type"))
            self.events += 1
            return sse_event(name, data)
        if kind == "exception":
            status, error = stream_exception(str(headers.get(":exception-type", "exception")), payload)
            return self._fail(status, error)
        code = headers.get(":error-code", "error")
        return self._fail(502, ClientError("api_error", f"Amazon Bedrock's event stream failed ({code})"))
