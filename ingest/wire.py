"""Lenient OTLP wire schemas: the export requests with each span / log record kept as raw bytes.

OTLP's own classes parse a batch all or nothing: one span with invalid UTF-8 in a string field (or
any other defect) fails the whole request. These mirror messages have the same field numbers but
declare the spans, log records, metrics, resources and scopes as ``bytes``, so the envelope parses on its
own and every span is then parsed separately; a bad one is rejected while the rest lands.

The classes are built from a descriptor at call time (nothing at import), once per app.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_PACKAGE = "switchyard.ingest.wire"
_BYTES = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
_MESSAGE = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
_INT32 = descriptor_pb2.FieldDescriptorProto.TYPE_INT32
_STRING = descriptor_pb2.FieldDescriptorProto.TYPE_STRING
_OPTIONAL = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
_REPEATED = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED

# message name → [(field name, number, repeated, type, message type name)]
_MESSAGES: dict[str, list[tuple[str, int, bool, int, str | None]]] = {
    "TracesRequest": [("resource_spans", 1, True, _MESSAGE, "ResourceSpans")],
    "ResourceSpans": [("resource", 1, False, _BYTES, None), ("scope_spans", 2, True, _MESSAGE, "ScopeSpans")],
    "ScopeSpans": [("scope", 1, False, _BYTES, None), ("spans", 2, True, _BYTES, None)],
    "LogsRequest": [("resource_logs", 1, True, _MESSAGE, "ResourceLogs")],
    "ResourceLogs": [("resource", 1, False, _BYTES, None), ("scope_logs", 2, True, _MESSAGE, "ScopeLogs")],
    "ScopeLogs": [("scope", 1, False, _BYTES, None), ("log_records", 2, True, _BYTES, None)],
    "MetricsRequest": [("resource_metrics", 1, True, _MESSAGE, "ResourceMetrics")],
    "ResourceMetrics": [("resource", 1, False, _BYTES, None), ("scope_metrics", 2, True, _MESSAGE, "ScopeMetrics")],
    "ScopeMetrics": [("scope", 1, False, _BYTES, None), ("metrics", 2, True, _BYTES, None)],
    # wire-compatible with google.rpc.Status (details omitted): the OTLP error response body
    "Status": [("code", 1, False, _INT32, None), ("message", 2, False, _STRING, None)],
}


@dataclass(frozen=True, slots=True)
class WireClasses:
    traces_request: Any
    logs_request: Any
    metrics_request: Any
    status: Any


def build_wire_classes() -> WireClasses:
    file_proto = descriptor_pb2.FileDescriptorProto(
        name="switchyard_ingest_wire.proto", package=_PACKAGE, syntax="proto3"
    )
    for name, field_specs in _MESSAGES.items():
        message = file_proto.message_type.add(name=name)
        for field_name, number, repeated, kind, type_name in field_specs:
            field = message.field.add(
                name=field_name, number=number, type=kind, label=_REPEATED if repeated else _OPTIONAL
            )
            if type_name is not None:
                field.type_name = f".{_PACKAGE}.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)

    def cls(name: str) -> Any:
        return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))

    return WireClasses(traces_request=cls("TracesRequest"), logs_request=cls("LogsRequest"),
                       metrics_request=cls("MetricsRequest"), status=cls("Status"))
