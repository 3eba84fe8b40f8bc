"""Body bytes → individual spans / log records, each decoded on its own.

A body whose envelope cannot be parsed raises :class:`UndecodableBodyError` (400). Inside a valid
envelope every item is decoded separately, and a bad one (invalid protobuf, invalid UTF-8, bad hex
id, too large) becomes a :class:`Rejection` while the others go on down the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from google.protobuf.message import DecodeError
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from core.spans import python_value
from ingest import otlp_json
from ingest.body import Encoding
from ingest.errors import UndecodableBodyError
from ingest.wire import WireClasses

Item = TypeVar("Item")


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int  # position of the item in the request, counting from 0
    reason: str
    item_id: str | None = None  # the span id (hex) when known


@dataclass(slots=True)
class Batch(Generic[Item]):
    items: list[tuple[int, Item]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.items) + len(self.rejections)

    def reject(self, index: int, reason: str, item_id: str | None = None) -> None:
        self.rejections.append(Rejection(index, reason, item_id))


@dataclass(frozen=True, slots=True)
class LogItem:
    record: LogRecord
    resource_attributes: dict[str, Any]


class OtlpDecoder:
    """Decodes export requests; ``max_item_bytes`` caps one encoded span or log record."""

    def __init__(self, wire: WireClasses, max_item_bytes: int) -> None:
        self._wire = wire
        self._max_item_bytes = max_item_bytes

    def spans(self, body: bytes, encoding: Encoding) -> Batch[Span]:
        if encoding is Encoding.JSON:
            return self._json_spans(body)
        request = self._parse_envelope(self._wire.traces_request, body, "ExportTraceServiceRequest")
        batch: Batch[Span] = Batch()
        index = 0
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for raw in scope_spans.spans:
                    if len(raw) > self._max_item_bytes:
                        batch.reject(index, self._too_large(len(raw)))
                    else:
                        try:
                            batch.items.append((index, Span.FromString(raw)))
                        except DecodeError as error:
                            batch.reject(index, f"invalid span protobuf: {error}")
                    index += 1
        return batch

    def log_records(self, body: bytes, encoding: Encoding) -> Batch[LogItem]:
        if encoding is Encoding.JSON:
            return self._json_log_records(body)
        request = self._parse_envelope(self._wire.logs_request, body, "ExportLogsServiceRequest")
        batch: Batch[LogItem] = Batch()
        index = 0
        for resource_logs in request.resource_logs:
            records = [raw for scope in resource_logs.scope_logs for raw in scope.log_records]
            try:
                resource = Resource.FromString(resource_logs.resource)
            except DecodeError as error:
                for _ in records:
                    batch.reject(index, f"invalid resource protobuf: {error}")
                    index += 1
                continue
            attributes = {kv.key: python_value(kv.value) for kv in resource.attributes}
            for raw in records:
                if len(raw) > self._max_item_bytes:
                    batch.reject(index, self._too_large(len(raw)))
                else:
                    try:
                        batch.items.append((index, LogItem(LogRecord.FromString(raw), attributes)))
                    except DecodeError as error:
                        batch.reject(index, f"invalid log record protobuf: {error}")
                index += 1
        return batch

    def _parse_envelope(self, cls: Any, body: bytes, name: str) -> Any:
        try:
            return cls.FromString(body)
        except DecodeError as error:
            raise UndecodableBodyError(f"body is not a valid OTLP {name} protobuf: {error}") from error

    def _too_large(self, size: int) -> str:
        return f"encoded size {size} bytes exceeds the per-item limit of {self._max_item_bytes}"

    def _json_spans(self, body: bytes) -> Batch[Span]:
        document = otlp_json.load_document(body)
        batch: Batch[Span] = Batch()
        for index, (_, item) in enumerate(otlp_json.walk(document, "resourceSpans", "scopeSpans", "spans")):
            try:
                span = otlp_json.parse_item(item, Span())
            except otlp_json.ItemDecodeError as error:
                batch.reject(index, str(error))
                continue
            if span.ByteSize() > self._max_item_bytes:
                batch.reject(index, self._too_large(span.ByteSize()), span.span_id.hex() or None)
            else:
                batch.items.append((index, span))  # type: ignore[arg-type]
        return batch

    def _json_log_records(self, body: bytes) -> Batch[LogItem]:
        document = otlp_json.load_document(body)
        batch: Batch[LogItem] = Batch()
        walked = otlp_json.walk(document, "resourceLogs", "scopeLogs", "logRecords")
        for index, (resource_json, item) in enumerate(walked):
            try:
                resource = otlp_json.parse_resource_attributes(resource_json, Resource())
                record = otlp_json.parse_item(item, LogRecord())
            except otlp_json.ItemDecodeError as error:
                batch.reject(index, str(error))
                continue
            if record.ByteSize() > self._max_item_bytes:
                batch.reject(index, self._too_large(record.ByteSize()))
                continue
            attributes = {kv.key: python_value(kv.value) for kv in resource.attributes}  # type: ignore[attr-defined]
            batch.items.append((index, LogItem(record, attributes)))  # type: ignore[arg-type]
        return batch
