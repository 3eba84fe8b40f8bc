"""What the OpenAPI schema says about the OTLP endpoints: both request encodings, the response
encodings and every status code they can answer. FastAPI cannot infer these because the handlers
read the raw body (schemathesis tests the app against exactly this description)."""

from __future__ import annotations

from typing import Any

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_BINARY = {"type": "string", "format": "binary"}
_UINT64 = {"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": "^[0-9]{1,20}$"}]}
_INT64 = {"oneOf": [{"type": "integer"}, {"type": "string", "pattern": "^-?[0-9]{1,19}$"}]}

_ANY_VALUE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "stringValue": {"type": "string"},
        "boolValue": {"type": "boolean"},
        "intValue": _INT64,
        "doubleValue": {"type": "number"},
        "arrayValue": {"type": "object", "properties": {"values": {"type": "array", "items": {"type": "object"}}}},
        "bytesValue": {"type": "string"},
    },
}
_ATTRIBUTES = {
    "type": "array",
    "items": {"type": "object", "properties": {"key": {"type": "string"}, "value": _ANY_VALUE},
              "required": ["key"]},
}
_RESOURCE = {"type": "object", "properties": {"attributes": _ATTRIBUTES}}
_SPAN = {
    "type": "object",
    "properties": {
        "traceId": {"type": "string", "description": "32 hex digits (OTLP/JSON: hex, not base64)"},
        "spanId": {"type": "string", "description": "16 hex digits"},
        "parentSpanId": {"type": "string"},
        "name": {"type": "string"},
        "kind": {"type": "integer"},
        "startTimeUnixNano": _UINT64,
        "endTimeUnixNano": _UINT64,
        "attributes": _ATTRIBUTES,
        "status": {"type": "object", "properties": {"code": {"type": "integer"}, "message": {"type": "string"}}},
    },
}
_LOG_RECORD = {
    "type": "object",
    "properties": {
        "timeUnixNano": _UINT64,
        "observedTimeUnixNano": _UINT64,
        "severityNumber": {"type": "integer"},
        "severityText": {"type": "string"},
        "eventName": {"type": "string"},
        "body": _ANY_VALUE,
        "attributes": _ATTRIBUTES,
        "traceId": {"type": "string"},
        "spanId": {"type": "string"},
    },
}
_NUMBER_POINT = {
    "type": "object",
    "properties": {
        "timeUnixNano": _UINT64,
        "startTimeUnixNano": _UINT64,
        "asDouble": {"type": "number"},
        "asInt": _INT64,
        "attributes": _ATTRIBUTES,
    },
}
_METRIC = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "unit": {"type": "string"},
        "description": {"type": "string"},
        "sum": {"type": "object", "properties": {"dataPoints": {"type": "array", "items": _NUMBER_POINT}}},
        "gauge": {"type": "object", "properties": {"dataPoints": {"type": "array", "items": _NUMBER_POINT}}},
    },
}


def _export_request(resource_key: str, scope_key: str, items_key: str, item: dict[str, Any]) -> dict[str, Any]:
    scope_entry = {"type": "object", "properties": {"scope": {"type": "object"},
                                                    items_key: {"type": "array", "items": item}}}
    resource_entry = {"type": "object", "properties": {"resource": _RESOURCE,
                                                       scope_key: {"type": "array", "items": scope_entry}}}
    return {"type": "object", "properties": {resource_key: {"type": "array", "items": resource_entry}}}


_STATUS = {
    "type": "object",
    "description": "google.rpc.Status",
    "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
}


def _responses(rejected_field: str, what: str) -> dict[int | str, dict[str, Any]]:
    success = {
        "type": "object",
        "properties": {
            "partialSuccess": {
                "type": "object",
                "properties": {rejected_field: _INT64, "errorMessage": {"type": "string"}},
            }
        },
    }
    error = {"content": {JSON: {"schema": _STATUS}, PROTOBUF: {"schema": _BINARY}}}
    return {
        200: {
            "description": f"Accepted; partialSuccess counts the {what} rejected and says why",
            "content": {JSON: {"schema": success}, PROTOBUF: {"schema": _BINARY}},
        },
        400: {"description": "Body is not a decodable OTLP export request", **error},
        401: {"description": "No credential, or not a valid ingest token or virtual key", **error},
        403: {"description": "The credential may not send this signal (spans need a proxy token)", **error},
        413: {"description": "Body (or its decompressed form) is too large", **error},
        415: {"description": "Unsupported Content-Type or Content-Encoding", "content": {JSON: {"schema": _STATUS}}},
        503: {"description": "The store is unavailable; retry later", **error},
    }


def _request_body(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return {
        "security": [{"ingest token": []}],
        "requestBody": {
            "required": True,
            "description": f"An OTLP {name}, protobuf or OTLP/JSON, optionally with Content-Encoding: gzip",
            "content": {PROTOBUF: {"schema": _BINARY}, JSON: {"schema": schema}},
        }
    }


def traces_operation() -> dict[str, Any]:
    """``openapi_extra`` and ``responses`` for POST /v1/traces (fresh dicts: FastAPI may merge into them)."""
    body = _request_body(_export_request("resourceSpans", "scopeSpans", "spans", _SPAN), "ExportTraceServiceRequest")
    return {"openapi_extra": body, "responses": _responses("rejectedSpans", "spans")}


def metrics_operation() -> dict[str, Any]:
    body = _request_body(
        _export_request("resourceMetrics", "scopeMetrics", "metrics", _METRIC), "ExportMetricsServiceRequest"
    )
    return {"openapi_extra": body, "responses": _responses("rejectedDataPoints", "data points")}


SECURITY_SCHEMES = {"ingest token": {"type": "http", "scheme": "bearer",
                                     "description": "SWITCHYARD_INGEST_TOKENS (proxy or telemetry) or a virtual key"}}


def logs_operation() -> dict[str, Any]:
    body = _request_body(
        _export_request("resourceLogs", "scopeLogs", "logRecords", _LOG_RECORD), "ExportLogsServiceRequest"
    )
    return {"openapi_extra": body, "responses": _responses("rejectedLogRecords", "log records")}
