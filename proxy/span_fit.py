"""Keep one encoded span under ingest's per-item limit by truncating its largest values.

Ingest rejects a span whose encoding is larger than its ``max_span_bytes``; losing the whole turn
(and its spend) for one huge attribute would be worse than losing the tail of that attribute. So
the largest string (or list) is cut, with a visible marker, until the span fits. Token counts,
ids and times are never touched: they are small scalars.
"""

from __future__ import annotations

from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

MARKER = "…[truncated by switchyard: {} bytes]"
# What a cut must remove beyond the excess: the marker itself and the length prefix that shrinks.
_SLACK = 64


def fit_span(span: Span, max_bytes: int) -> tuple[bytes, bool]:
    """``span`` encoded, at most ``max_bytes`` long when its values allow it; (bytes, truncated).
    The span is modified in place when it is cut."""
    data = span.SerializeToString()
    if len(data) <= max_bytes:
        return data, False
    while (size := span.ByteSize()) > max_bytes:
        if not _cut_largest(span, size - max_bytes):
            break  # nothing left to cut: ingest will reject it and it lands in the dead letters
    return span.SerializeToString(), True


def _cut_largest(span: Span, excess: int) -> bool:
    """Shorten the largest value of ``span`` by at least ``excess`` bytes (or empty it)."""
    candidates: list[tuple[int, AnyValue | str]] = [(kv.value.ByteSize(), kv.value) for kv in span.attributes]
    candidates.append((len(span.name.encode()), "name"))
    candidates.append((len(span.status.message.encode()), "status"))
    size, largest = max(candidates, key=lambda candidate: candidate[0])
    if size <= len(MARKER) + _SLACK:
        return False
    if largest == "name":
        span.name = _cut_text(span.name, excess)
    elif largest == "status":
        span.status.message = _cut_text(span.status.message, excess)
    else:
        assert isinstance(largest, AnyValue)
        _cut_value(largest, excess)
    return True


def _cut_text(text: str, excess: int) -> str:
    encoded = text.encode("utf-8", "surrogatepass")
    keep = max(0, len(encoded) - excess - _SLACK - len(MARKER))
    # decoding with "ignore" drops a character split by the cut instead of producing invalid UTF-8
    return encoded[:keep].decode("utf-8", "ignore") + MARKER.format(len(encoded) - keep)


def _cut_value(value: AnyValue, excess: int) -> None:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        value.string_value = _cut_text(value.string_value, excess)
    elif kind == "bytes_value":
        value.bytes_value = value.bytes_value[: max(0, len(value.bytes_value) - excess - _SLACK)]
    elif kind == "array_value":
        items = value.array_value.values
        removed = 0
        dropped = 0
        while items and removed < excess + _SLACK:
            last = items[-1]
            removed += last.ByteSize() + 2
            dropped += 1
            del items[-1]
        # a string list stays a string list (ingest checks the element types)
        items.add().string_value = MARKER.format(f"{removed}, {dropped} items")
    else:  # a kvlist or a scalar is never large on our spans; clear it rather than loop forever
        value.Clear()
        value.string_value = MARKER.format(excess)
