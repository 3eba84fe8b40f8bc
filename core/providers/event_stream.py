"""Bedrock's streamed answer (the AWS binary event-stream) turned into Anthropic's SSE, event for event.

Each ``chunk`` frame carries one Anthropic event as base64 JSON; it becomes ``event: <type>`` /
``data: <the same JSON bytes>``, so Claude Code (and the proxy's SSE tap) read exactly what the model
sent. An ``exception`` frame (which can follow a 200) becomes an Anthropic ``error`` event; a frame
that fails its CRC, or anything that is not a frame, ends the stream with an ``error`` event too.
Frames are read by frames.py (prelude and message CRCs checked, lengths bounded; botocore's parser is
its test oracle), fed as the bytes arrive: nothing waits for the whole answer."""

from __future__ import annotations

import base64
import binascii
import re

import orjson

from .errors import ClientError, stream_exception
from .frames import FrameError, FrameReader

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

    __slots__ = ("_reader", "events", "failure")

    def __init__(self) -> None:
        self._reader = FrameReader()
        self.failure: tuple[int, ClientError] | None = None
        self.events = 0

    def feed(self, data: bytes) -> bytes:
        if self.failure is not None:
            return b""
        out: list[bytes] = []
        try:
            for headers, payload in self._reader.feed(data):
                out.append(self._convert(headers, payload))
                if self.failure is not None:
                    break
        except FrameError as exc:
            out.append(self._fail(502, ClientError("api_error", f"Amazon Bedrock sent a malformed event stream "
                                                               f"({type(exc).__name__})")))
        return b"".join(out)

    def end(self) -> bytes:
        """The stream closed: bytes left over that never formed a frame are a truncated answer."""
        if self.failure is None and self._reader.pending:
            return self._fail(502, ClientError("api_error", "Amazon Bedrock's event stream ended inside a frame"))
        return b""

    def fail(self, status: int, message: str) -> bytes:
        """End the stream from outside (e.g. it closed before any event): an ``api_error``."""
        return self._fail(status, ClientError("api_error", message))

    def _fail(self, status: int, error: ClientError) -> bytes:
        self.failure = (status, error)
        return error_event(error)

    def _convert(self, headers: dict[str, str | bytes | None], payload: bytes) -> bytes:
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
        code = headers.get(":error-code")
        code = code if isinstance(code, str) else "error"
        return self._fail(502, ClientError("api_error", f"Amazon Bedrock's event stream failed ({code})"))
