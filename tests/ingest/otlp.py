"""Test-side OTLP helpers: build export requests, encode them as OTLP/JSON (hex ids, written here
independently of ingest's decoder), post them."""

from __future__ import annotations

import base64
import gzip
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from core.spans import turns_to_request
from store.testing import sample_turn

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


def request_of(count: int, start: int = 0, **overrides: Any) -> ExportTraceServiceRequest:
    return turns_to_request([sample_turn(i, **overrides) for i in range(start, start + count)])


def _hex_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: base64.b64decode(item).hex() if key in ("traceId", "spanId", "parentSpanId") else _hex_ids(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_hex_ids(item) for item in value]
    return value


def otlp_json(message: Message) -> dict[str, Any]:
    """OTLP/JSON: protobuf's JSON mapping with trace/span ids as hex and enums as integers."""
    return _hex_ids(json_format.MessageToDict(message, use_integers_for_enums=True))


def post(client: Any, path: str, body: bytes, content_type: str = PROTOBUF, *, compress: bool = False,
         headers: dict[str, str] | None = None) -> Any:
    all_headers = {"content-type": content_type, **(headers or {})}
    if compress:
        body = gzip.compress(body)
        all_headers["content-encoding"] = "gzip"
    return client.post(path, content=body, headers=all_headers)


def trace_response(response: Any) -> ExportTraceServiceResponse:
    assert response.status_code == 200, response.text
    if response.headers["content-type"].startswith(JSON):
        return json_format.Parse(response.content, ExportTraceServiceResponse())
    return ExportTraceServiceResponse.FromString(response.content)
