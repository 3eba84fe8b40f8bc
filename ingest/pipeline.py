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
from datetime import datetime
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from ingest.body import Encoding, decode_content
from ingest.decode import OtlpDecoder, Rejection
from ingest.errors import RequestRejectedError, StoreUnavailableError
from ingest.logs_pipeline import PreparedLogs, prepare_logs
from ingest.metrics import IngestMetrics
from ingest.metrics_decode import MetricsDecoder
from ingest.otlp_auth import Exporter
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


class Ingestor:
    """The synchronous work behind one export request."""

    def __init__(self, settings: IngestSettings, engine: Engine, pricer: Pricer, wire: WireClasses,
                 metrics: IngestMetrics, clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.engine = engine
        self.wire = wire
        self.stats = metrics
        self.clock = clock
        self.decoder = OtlpDecoder(wire, settings.max_span_bytes)
        self.metrics_decoder = MetricsDecoder(wire, settings.max_span_bytes)
        self.spans = SpanPipeline.build(pricer, require_gen_ai=settings.require_gen_ai, redact=settings.redact,
                                        keep_fields=settings.redact_keep_fields)

    def _write(self, write: Callable[[Engine, list[dict[str, Any]]], WriteResult],
               rows: list[dict[str, Any]]) -> WriteResult:
        try:
            return write(self.engine, rows)
        except DBAPIError as error:
            log.exception("store write failed")
            raise StoreUnavailableError(f"the store could not write the batch: {type(error.orig).__name__}") from error

    def traces(self, raw: bytes, encoding: Encoding, content_encoding: str | None,
               exporter: Exporter | None = None) -> bytes:
        started = time.perf_counter()
        body = decode_content(raw, content_encoding, self.settings.max_decompressed_bytes)
        batch = self.decoder.spans(body, encoding)
        prepared = self.spans.run(batch, self.clock())
        result = self._write(write_turns, prepared.rows)
        self._count("traces", result, len(prepared.rejections), started)
        response = ExportTraceServiceResponse()
        if prepared.rejections:
            response.partial_success.rejected_spans = len(prepared.rejections)
            response.partial_success.error_message = summarise(
                prepared.rejections, batch.total, "spans", self.settings.max_reported_rejections)
        return _encode(response, encoding)

    def logs(self, raw: bytes, encoding: Encoding, content_encoding: str | None,
             exporter: Exporter | None = None) -> bytes:
        started = time.perf_counter()
        body = decode_content(raw, content_encoding, self.settings.max_decompressed_bytes)
        batch = self.decoder.log_records(body, encoding)
        prepared = self._telemetry("logs", prepare_logs(batch, self.clock(), redact_values=self.settings.redact),
                                   exporter, started)
        response = ExportLogsServiceResponse()
        if prepared.rejections:
            response.partial_success.rejected_log_records = len(prepared.rejections)
            response.partial_success.error_message = summarise(
                prepared.rejections, batch.total, "log records", self.settings.max_reported_rejections)
        return _encode(response, encoding)

    def metrics(self, raw: bytes, encoding: Encoding, content_encoding: str | None,
                exporter: Exporter | None = None) -> bytes:
        started = time.perf_counter()
        body = decode_content(raw, content_encoding, self.settings.max_decompressed_bytes)
        batch = self.metrics_decoder.data_points(body, encoding)
        prepared = self._telemetry("metrics", prepare_logs(batch, self.clock(), redact_values=self.settings.redact),
                                   exporter, started)
        response = ExportMetricsServiceResponse()
        if prepared.rejections:
            response.partial_success.rejected_data_points = len(prepared.rejections)
            response.partial_success.error_message = summarise(
                prepared.rejections, batch.total, "metrics", self.settings.max_reported_rejections)
        return _encode(response, encoding)

    def _telemetry(self, signal: str, prepared: PreparedLogs, exporter: Exporter | None,
                   started: float) -> PreparedLogs:
        if exporter is not None:
            attribute(prepared.rows, exporter)
        result = self._write(write_logs, prepared.rows)
        self._count(signal, result, len(prepared.rejections), started)
        return prepared

    def _count(self, signal: str, result: WriteResult, rejected: int, started: float) -> None:
        self.stats.accepted.labels(signal).inc(result.received)
        self.stats.duplicates.labels(signal).inc(result.duplicates)
        self.stats.rejected.labels(signal).inc(rejected)
        self.stats.batch_seconds.labels(signal).observe(time.perf_counter() - started)

    def status_body(self, error: RequestRejectedError, encoding: Encoding | None) -> tuple[bytes, str]:
        status = self.wire.status(code=error.rpc_code, message=error.message)
        if encoding is Encoding.PROTOBUF:
            return status.SerializeToString(), Encoding.PROTOBUF.value
        return message_to_json(status), Encoding.JSON.value


# Who sent a telemetry row, in its attributes: set by ingest, never taken from the sender.
ATTRIBUTION = "switchyard.attribution"
DEVELOPER = "switchyard.developer"
TEAM = "switchyard.team"
KEY_ID = "switchyard.key_id"


def attribute(rows: list[dict[str, Any]], exporter: Exporter) -> None:
    """Stamp each row with its sender. A virtual key's rows belong to the key's developer whatever
    they claim; a token's rows keep what they say, marked as the sender's word."""
    for row in rows:
        attributes = row["attributes"]
        if exporter.developer is not None:
            attributes[DEVELOPER] = exporter.developer
            attributes[TEAM] = exporter.team
            attributes[KEY_ID] = exporter.key_id
            attributes[ATTRIBUTION] = "virtual_key"
        else:
            attributes[ATTRIBUTION] = f"{exporter.role}_token"


def _encode(message: Any, encoding: Encoding) -> bytes:
    return message_to_json(message) if encoding is Encoding.JSON else message.SerializeToString()
