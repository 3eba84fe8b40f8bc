"""An OTLP ExportTraceServiceRequest built around spans that are already encoded.

The journal keeps each finished turn as its encoded span, so an export (or a re-export after a
split) only wraps those bytes in the request's envelope: no span is serialized twice.
"""

from __future__ import annotations

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from core.spans import SCOPE_NAME, SERVICE_NAME

# Field 1 / field 2, wire type 2 (length-delimited): the tags of every level of the envelope
# (ExportTraceServiceRequest.resource_spans, ResourceSpans.resource/scope_spans,
# ScopeSpans.scope/spans).
_FIELD_1 = b"\x0a"
_FIELD_2 = b"\x12"


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    return tag + _varint(len(payload)) + payload


class Envelope:
    """Wraps encoded spans as one export request from this proxy (its resource and scope)."""

    def __init__(self, service_name: str = "switchyard-proxy", version: str = "") -> None:
        resource = Resource(attributes=[KeyValue(key=SERVICE_NAME, value=AnyValue(string_value=service_name))])
        self._resource = _field(_FIELD_1, resource.SerializeToString())
        self._scope = _field(_FIELD_1, InstrumentationScope(name=SCOPE_NAME, version=version).SerializeToString())

    def request(self, spans: list[bytes]) -> bytes:
        scope_spans = self._scope + b"".join(_field(_FIELD_2, span) for span in spans)
        resource_spans = self._resource + _field(_FIELD_2, scope_spans)
        return _field(_FIELD_1, resource_spans)
