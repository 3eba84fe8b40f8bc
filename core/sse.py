"""Server-Sent-Events splitting and Anthropic usage accounting, fed raw upstream bytes.

This runs on the proxy's hot path for every streamed byte, as an *observer*: the proxy relays
the bytes unchanged whatever happens here, so nothing in this module raises on bad input.

Two rules keep it correct and cheap:
- Lines are split on bytes and only complete lines are decoded. A newline byte never occurs
  inside a UTF-8 multi-byte sequence, so a character split across TCP writes is never decoded
  half (decoding all complete lines of a chunk in one call is the same as decoding each line).
- Only the few events that carry accounting data are JSON-parsed, chosen by their ``event:``
  name; the bulk (``content_block_delta``, ``ping``) is counted and skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024

# Events whose data carries something the summary needs; every other event is only counted.
_PARSED_EVENTS = frozenset({"message_start", "content_block_start", "message_delta", "error"})
TOOL_USE_BLOCK_TYPES = frozenset({"tool_use", "server_tool_use"})
_BOM = "\ufeff"
# Bedrock adds its own count of the turn to message_stop; cache counts may arrive only there.
_BEDROCK_METRICS = "amazon-bedrock-invocationMetrics"


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str
    data: str


class SSEParser:
    """Incremental SSE splitter (the WHATWG event-stream rules): ``\\n``, ``\\r\\n`` and ``\\r``
    line endings, ``:`` comments, ``data:`` with or without its optional space, multi-line data
    joined by ``\\n``, events without data dropped. ``id:`` and ``retry:`` are ignored.

    A line (or one event's data) longer than ``max_line_bytes`` switches the parser to the
    :attr:`overflowed` state: buffers are released and every later :meth:`feed` returns ``[]``.
    """

    __slots__ = (
        "_data",
        "_data_size",
        "_event_type",
        "_max_line_bytes",
        "_overflowed",
        "_pending",
        "_pending_size",
        "_skip_lf",
        "_started",
    )

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be positive")
        self._max_line_bytes = max_line_bytes
        # bytes of the current, unterminated line; never contains b"\r" or b"\n"
        self._pending: list[bytes] = []
        self._pending_size = 0
        # the previous chunk ended in b"\r": a b"\n" starting the next chunk belongs to it
        self._skip_lf = False
        self._started = False
        self._event_type = ""
        self._data: list[str] = []
        self._data_size = 0
        self._overflowed = False

    @property
    def overflowed(self) -> bool:
        return self._overflowed

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """The events completed by ``chunk`` (possibly none), in stream order."""
        if self._overflowed or not chunk:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[0] == 0x0A:
                chunk = chunk[1:]
                if not chunk:
                    return []
        has_cr = b"\r" in chunk
        if not has_cr and b"\n" not in chunk:
            self._hold(chunk)
            return []
        if self._pending:
            self._pending.append(chunk)
            buffer = b"".join(self._pending)
            self._pending = []
            self._pending_size = 0
        else:
            buffer = chunk
        if has_cr:  # held bytes never contain b"\r", so checking the chunk is enough
            if buffer[-1] == 0x0D:
                self._skip_lf = True
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        end = buffer.rfind(b"\n")
        text = buffer[:end].decode("utf-8", "replace")
        if not self._started:
            self._started = True
            if text.startswith(_BOM):
                text = text[1:]
        events = self._parse_lines(text)
        if end + 1 < len(buffer) and not self._overflowed:
            self._hold(buffer[end + 1 :])
        return events

    def _hold(self, partial_line: bytes) -> None:
        self._pending.append(partial_line)
        self._pending_size += len(partial_line)
        if self._pending_size > self._max_line_bytes:
            self._overflow()

    def _overflow(self) -> None:
        self._overflowed = True
        self._pending = []
        self._pending_size = 0
        self._data = []
        self._data_size = 0

    def _parse_lines(self, text: str) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        data = self._data
        for line in text.split("\n"):
            if not line:  # blank line: dispatch
                if data:
                    events.append(SSEEvent(self._event_type or "message", "\n".join(data)))
                    data.clear()
                    self._data_size = 0
                self._event_type = ""
                continue
            if line[0] == ":":
                continue
            colon = line.find(":")
            if colon < 0:
                name, value = line, ""
            else:
                name, value = line[:colon], line[colon + 1 :]
                if value[:1] == " ":
                    value = value[1:]
            if name == "data":
                data.append(value)
                self._data_size += len(value)
                if self._data_size > self._max_line_bytes:
                    self._overflow()
                    return events
            elif name == "event":
                self._event_type = value
        return events


@dataclass(frozen=True, slots=True)
class StreamSummary:
    """What a response said about itself. Token counts follow Anthropic's meaning: ``input_tokens``
    excludes cached tokens; ``cache_creation_1h_tokens`` is the 1-hour-TTL part of
    ``cache_creation_tokens``. ``complete``: the stream reached ``message_stop`` (for a
    non-streaming body: it is a whole message)."""

    message_id: str | None = None
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_creation_1h_tokens: int = 0
    cache_read_tokens: int = 0
    stop_reason: str | None = None
    tool_use_ids: tuple[str, ...] = ()
    tool_use_names: tuple[str, ...] = ()
    error_type: str | None = None
    error_message: str | None = None
    event_count: int = 0
    ping_count: int = 0
    complete: bool = False
    overflowed: bool = False


def _json_object(data: str | bytes) -> dict[str, object] | None:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    return value if isinstance(value, dict) else None


def _count(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


class _Accumulator:
    """Mutable fields of a summary under construction; shared by the stream and body paths."""

    __slots__ = (
        "cache_1h", "cache_creation", "cache_read", "complete", "error_message", "error_type",
        "input_tokens", "message_id", "model", "output_tokens", "stop_reason", "tool_ids",
        "tool_names",
    )  # fmt: skip

    def __init__(self) -> None:
        self.message_id: str | None = None
        self.model: str | None = None
        self.input_tokens = 0
        self.output_tokens = 0
        self.cache_creation = 0
        self.cache_1h = 0
        self.cache_read = 0
        self.stop_reason: str | None = None
        self.tool_ids: list[str] = []
        self.tool_names: list[str] = []
        self.error_type: str | None = None
        self.error_message: str | None = None
        self.complete = False

    def usage(self, usage: object) -> None:
        """Usage is cumulative (message_delta repeats totals): the latest non-null value wins."""
        if not isinstance(usage, dict):
            return
        if (n := _count(usage.get("input_tokens"))) is not None:
            self.input_tokens = n
        if (n := _count(usage.get("output_tokens"))) is not None:
            self.output_tokens = n
        if (n := _count(usage.get("cache_creation_input_tokens"))) is not None:
            self.cache_creation = n
        if (n := _count(usage.get("cache_read_input_tokens"))) is not None:
            self.cache_read = n
        breakdown = usage.get("cache_creation")
        one_hour = _count(breakdown.get("ephemeral_1h_input_tokens")) if isinstance(breakdown, dict) else None
        if one_hour is not None:
            self.cache_1h = one_hour

    def bedrock_metrics(self, metrics: object) -> None:
        """Bedrock's invocation metrics: they fill the counts the events left at zero, never
        overriding what the model's own usage said."""
        if not isinstance(metrics, dict):
            return
        for name, attribute in (("inputTokenCount", "input_tokens"), ("outputTokenCount", "output_tokens"),
                                ("cacheReadInputTokenCount", "cache_read"),
                                ("cacheWriteInputTokenCount", "cache_creation")):
            count = _count(metrics.get(name))
            if count is not None and not getattr(self, attribute):
                setattr(self, attribute, count)

    def message(self, message: object) -> None:
        if not isinstance(message, dict):
            return
        self.message_id = _text(message.get("id")) or self.message_id
        self.model = _text(message.get("model")) or self.model
        self.stop_reason = _text(message.get("stop_reason")) or self.stop_reason
        self.usage(message.get("usage"))
        content = message.get("content")
        if isinstance(content, list):
            for block in content:
                self.content_block(block)

    def content_block(self, block: object) -> None:
        if isinstance(block, dict) and block.get("type") in TOOL_USE_BLOCK_TYPES:
            tool_id = _text(block.get("id"))
            if tool_id is not None:  # ids and names stay parallel
                self.tool_ids.append(tool_id)
                self.tool_names.append(_text(block.get("name")) or "")

    def error(self, error: object) -> None:
        details = error if isinstance(error, dict) else {}
        self.error_type = _text(details.get("type")) or "error"
        self.error_message = _text(details.get("message"))

    def summary(
        self, *, event_count: int = 0, ping_count: int = 0, overflowed: bool = False
    ) -> StreamSummary:
        return StreamSummary(
            message_id=self.message_id,
            model=self.model,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cache_creation_tokens=self.cache_creation,
            cache_creation_1h_tokens=self.cache_1h,
            cache_read_tokens=self.cache_read,
            stop_reason=self.stop_reason,
            tool_use_ids=tuple(self.tool_ids),
            tool_use_names=tuple(self.tool_names),
            error_type=self.error_type,
            error_message=self.error_message,
            event_count=event_count,
            ping_count=ping_count,
            complete=self.complete,
            overflowed=overflowed,
        )


class StreamTap:
    """Accumulates usage, ids, tool_use blocks, stop reason and errors from a streamed
    ``/v1/messages`` response. Feed it every upstream chunk; read :meth:`summary` at any time."""

    __slots__ = ("_acc", "_event_count", "_parser", "_ping_count")

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self._parser = SSEParser(max_line_bytes)
        self._acc = _Accumulator()
        self._event_count = 0
        self._ping_count = 0

    def feed(self, chunk: bytes) -> None:
        for event in self._parser.feed(chunk):
            self._on_event(event.event, event.data)

    @property
    def complete(self) -> bool:
        return self._acc.complete

    @property
    def overflowed(self) -> bool:
        return self._parser.overflowed

    @property
    def error_type(self) -> str | None:
        return self._acc.error_type

    def summary(self) -> StreamSummary:
        return self._acc.summary(
            event_count=self._event_count, ping_count=self._ping_count, overflowed=self._parser.overflowed
        )

    def _on_event(self, name: str, data: str) -> None:
        self._event_count += 1
        payload: dict[str, object] | None = None
        if name == "message":  # an unnamed event (not Anthropic's shape): the type is in the data
            payload = _json_object(data)
            if payload is None:
                return
            name = _text(payload.get("type")) or name
        if name == "ping":
            self._ping_count += 1
            return
        if name == "message_stop":
            self._acc.complete = True
            if _BEDROCK_METRICS in data:
                payload = _json_object(data)
                if payload is not None:
                    self._acc.bedrock_metrics(payload.get(_BEDROCK_METRICS))
            return
        if name not in _PARSED_EVENTS:
            return
        if payload is None:
            payload = _json_object(data)
            if payload is None:
                return
        if name == "content_block_start":
            self._acc.content_block(payload.get("content_block"))
        elif name == "message_delta":
            delta = payload.get("delta")
            if isinstance(delta, dict):
                self._acc.stop_reason = _text(delta.get("stop_reason")) or self._acc.stop_reason
            self._acc.usage(payload.get("usage"))
        elif name == "message_start":
            self._acc.message(payload.get("message"))
        else:
            self._acc.error(payload.get("error"))


def summarize_message(body: bytes) -> StreamSummary:
    """The summary of a non-streaming response body: a message, or an error
    (``{"type": "error", "error": {...}}``). Anything unparseable gives an empty summary."""
    acc = _Accumulator()
    payload = _json_object(body)
    if payload is None:
        return acc.summary()
    if payload.get("type") == "error":
        acc.error(payload.get("error"))
    else:
        acc.message(payload)
        acc.complete = payload.get("type") == "message"
    return acc.summary()
