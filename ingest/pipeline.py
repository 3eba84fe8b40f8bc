"""The one way into the store: an export request's bytes → decoded items → the span or log
pipeline → the idempotent writer, answering with an OTLP response that lists what was rejected.

``Ingestor`` is synchronous (the HTTP app runs it in a thread pool) and has no HTTP in it, so the
same path serves ``POST /v1/traces`` and in-process writers (the demo's history, the simulated
fleet, backfills): whatever is stored went through decode → Turn → bounds → redact → price → write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from ingest.body import Encoding, decode_content
from ingest.decode import OtlpDecoder, Rejection
from ingest.errors import RequestRejectedError, StoreUnavailableError
from ingest.logs_pipeline import prepare_logs
from ingest.metrics import IngestMetrics
from ingest.otlp_json import message_to_json
from ingest.pricer import Pricer
from ingest.settings import IngestSettings
from ingest.spans_pipeline import SpanPipeline
from ingest.wire import WireClasses
from store.writer import WriteResult, write_logs, write_turns

log = logging.getLogger(__name__)


def summarise(rejections: list[Rejection], total: int, noun: str, limit: int) -> str:
    """'rejected 2 of 10 spans: #3 (span 00f0…): reason; …; and 5 more'"""
    parts = []
    for rejection in rejections[:limit]:
        label = f"#{rejection.index}" + (f" (span {rejection.item_id})" if rejection.item_id else "")
        parts.append(f"{label}: {rejection.reason[:300]}")
    more = len(rejections) - limit
    tail = f"; and {more} more" if more > 0 else ""
    return f"rejected {len(rejections)} of {total} {noun}: " + "; ".join(parts) + tail


@dataclass(frozen=True, slots=True)
class Exported:
    """What one export request did: the write, and every item rejected (in request order) of
    ``total`` in the request. In-process writers read this; HTTP clients get it as an OTLP response."""

    written: WriteResult
    rejections: list[Rejection]
    total: int


class Ingestor:
    """The synchronous work behind one export request."""

    def __init__(self, settings: IngestSettings, engine: Engine, pricer: Pricer, wire: WireClasses,
                 metrics: IngestMetrics, clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.engine = engine
        self.wire = wire
        self.metrics = metrics
        self.clock = clock
        self.decoder = OtlpDecoder(wire, settings.max_span_bytes)
        self.spans = SpanPipeline.build(pricer, require_gen_ai=settings.require_gen_ai, redact=settings.redact,
                                        keep_fields=settings.redact_keep_fields)

    def _write(self, write: Callable[[Engine, list[dict[str, Any]]], WriteResult],
               rows: list[dict[str, Any]]) -> WriteResult:
        try:
            return write(self.engine, rows)
        except DBAPIError as error:
            log.exception("store write failed")
            raise StoreUnavailableError(f"the store could not write the batch: {type(error.orig).__name__}") from error

    def export_traces(self, raw: bytes, encoding: Encoding, content_encoding: str | None) -> Exported:
        started = time.perf_counter()
        body = decode_content(raw, content_encoding, self.settings.max_decompressed_bytes)
        batch = self.decoder.spans(body, encoding)
        prepared = self.spans.run(batch, self.clock())
        result = self._write(write_turns, prepared.rows)
        self._count("traces", result, len(prepared.rejections), started)
        return Exported(result, prepared.rejections, batch.total)

    def traces(self, raw: bytes, encoding: Encoding, content_encoding: str | None) -> bytes:
        exported = self.export_traces(raw, encoding, content_encoding)
        response = ExportTraceServiceResponse()
        if exported.rejections:
            response.partial_success.rejected_spans = len(exported.rejections)
            response.partial_success.error_message = summarise(
                exported.rejections, exported.total, "spans", self.settings.max_reported_rejections)
        return _encode(response, encoding)

    def export_logs(self, raw: bytes, encoding: Encoding, content_encoding: str | None) -> Exported:
        started = time.perf_counter()
        body = decode_content(raw, content_encoding, self.settings.max_decompressed_bytes)
        batch = self.decoder.log_records(body, encoding)
        prepared = prepare_logs(batch, self.clock(), redact_values=self.settings.redact)
        result = self._write(write_logs, prepared.rows)
        self._count("logs", result, len(prepared.rejections), started)
        return Exported(result, prepared.rejections, batch.total)

    def logs(self, raw: bytes, encoding: Encoding, content_encoding: str | None) -> bytes:
        exported = self.export_logs(raw, encoding, content_encoding)
        response = ExportLogsServiceResponse()
        if exported.rejections:
            response.partial_success.rejected_log_records = len(exported.rejections)
            response.partial_success.error_message = summarise(
                exported.rejections, exported.total, "log records", self.settings.max_reported_rejections)
        return _encode(response, encoding)

    def _count(self, signal: str, result: WriteResult, rejected: int, started: float) -> None:
        self.metrics.accepted.labels(signal).inc(result.received)
        self.metrics.duplicates.labels(signal).inc(result.duplicates)
        self.metrics.rejected.labels(signal).inc(rejected)
        self.metrics.batch_seconds.labels(signal).observe(time.perf_counter() - started)

    def status_body(self, error: RequestRejectedError, encoding: Encoding | None) -> tuple[bytes, str]:
        status = self.wire.status(code=error.rpc_code, message=error.message)
        if encoding is Encoding.PROTOBUF:
            return status.SerializeToString(), Encoding.PROTOBUF.value
        return message_to_json(status), Encoding.JSON.value


def _encode(message: Any, encoding: Encoding) -> bytes:
    return message_to_json(message) if encoding is Encoding.JSON else message.SerializeToString()
