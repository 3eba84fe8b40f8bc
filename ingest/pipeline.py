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
from datetime import UTC, datetime
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from core.turn_bounds import TurnBounds
from ingest.body import Encoding, decode_content
from ingest.decode import Batch, LogItem, OtlpDecoder, Rejection
from ingest.errors import RequestRejectedError, StoreUnavailableError
from ingest.logs_pipeline import PreparedLogs, prepare_logs
from ingest.metrics import IngestMetrics
from ingest.metrics_decode import MetricsDecoder
from ingest.otlp_auth import Exporter
from ingest.otlp_json import message_to_json
from ingest.pricer import Pricer
from ingest.refreshing import Refreshing
from ingest.settings import IngestSettings
from ingest.spans_pipeline import PreparedSpans, SpanPipeline
from ingest.wire import WireClasses
from store.months import closed_month_names
from store.writer import WriteResult, write_logs, write_turns

Prepared = PreparedSpans | PreparedLogs

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
        self.stats = metrics
        self.clock = clock
        self.decoder = OtlpDecoder(wire, settings.max_span_bytes)
        self.metrics_decoder = MetricsDecoder(wire, settings.max_span_bytes)
        self.spans = SpanPipeline.build(pricer, require_gen_ai=settings.require_gen_ai, redact=settings.redact,
                                        keep_fields=settings.redact_keep_fields, bounds=bounds_of(settings))
        self.closed_months = Refreshing(lambda: closed_month_names(engine), frozenset[str](),
                                        settings.lookup_refresh_s, "the closed months")

    def _write(self, write: Callable[[Engine, list[dict[str, Any]]], WriteResult], prepared: Prepared) -> WriteResult:
        """Write the prepared rows. When the database refuses the batch for what is *in* it (a value
        one row cannot hold, a constraint), the batch is split until the rows it refuses are found:
        those are rejected with the reason and the rest is stored — one bad item never costs its
        batch. When the database itself is unavailable, the whole request is 503 (the sender retries)."""
        try:
            return write(self.engine, prepared.rows)
        except DBAPIError as error:
            if _unavailable(error):
                log.exception("store write failed")
                raise StoreUnavailableError(
                    f"the store could not write the batch: {type(error.orig).__name__}") from error
            log.warning("the store refused a batch of %d (%s); isolating the rows it refuses",
                        len(prepared.rows), type(error.orig).__name__)
        received = inserted = 0
        for rows, indexes in _halves(prepared.rows, prepared.indexes):
            result = self._write_isolating(write, rows, indexes, prepared.rejections)
            received += result.received
            inserted += result.inserted
        prepared.rejections.sort(key=lambda rejection: rejection.index)
        return WriteResult(received=received, inserted=inserted)

    def _write_isolating(self, write: Callable[[Engine, list[dict[str, Any]]], WriteResult],
                         rows: list[dict[str, Any]], indexes: list[int],
                         rejections: list[Rejection]) -> WriteResult:
        try:
            return write(self.engine, rows)
        except DBAPIError as error:
            if _unavailable(error):
                raise StoreUnavailableError(
                    f"the store could not write the batch: {type(error.orig).__name__}") from error
            if len(rows) == 1:
                reason = str(error.orig).splitlines()[0][:200] if error.orig is not None else type(error).__name__
                rejections.append(Rejection(indexes[0], f"the store refused it: {reason}"))
                return WriteResult(received=0, inserted=0)
        received = inserted = 0
        for half_rows, half_indexes in _halves(rows, indexes):
            result = self._write_isolating(write, half_rows, half_indexes, rejections)
            received += result.received
            inserted += result.inserted
        return WriteResult(received=received, inserted=inserted)

    def export_traces(self, raw: bytes, encoding: Encoding, content_encoding: str | None,
                      exporter: Exporter | None = None) -> Exported:
        started = time.perf_counter()
        body = decode_content(raw, content_encoding, self.settings.max_decompressed_bytes)
        batch = self.decoder.spans(body, encoding)
        prepared = self.spans.run(batch, self.clock(), self.closed_months.get())
        result = self._write(write_turns, prepared)
        self._count("traces", result, len(prepared.rejections), started)
        return Exported(result, prepared.rejections, batch.total)

    def traces(self, raw: bytes, encoding: Encoding, content_encoding: str | None,
               exporter: Exporter | None = None) -> bytes:
        exported = self.export_traces(raw, encoding, content_encoding, exporter)
        return self._answer(ExportTraceServiceResponse(), "rejected_spans", "spans", exported, encoding)

    def export_logs(self, raw: bytes, encoding: Encoding, content_encoding: str | None,
                    exporter: Exporter | None = None) -> Exported:
        started = time.perf_counter()
        body = decode_content(raw, content_encoding, self.settings.max_decompressed_bytes)
        batch = self.decoder.log_records(body, encoding)
        prepared, result = self._telemetry("logs", self._prepare_logs(batch), exporter, started)
        return Exported(result, prepared.rejections, batch.total)

    def logs(self, raw: bytes, encoding: Encoding, content_encoding: str | None,
             exporter: Exporter | None = None) -> bytes:
        exported = self.export_logs(raw, encoding, content_encoding, exporter)
        return self._answer(ExportLogsServiceResponse(), "rejected_log_records", "log records", exported, encoding)

    def export_metrics(self, raw: bytes, encoding: Encoding, content_encoding: str | None,
                       exporter: Exporter | None = None) -> Exported:
        started = time.perf_counter()
        body = decode_content(raw, content_encoding, self.settings.max_decompressed_bytes)
        batch = self.metrics_decoder.data_points(body, encoding)
        prepared, result = self._telemetry("metrics", self._prepare_logs(batch), exporter, started)
        return Exported(result, prepared.rejections, batch.total)

    def metrics(self, raw: bytes, encoding: Encoding, content_encoding: str | None,
                exporter: Exporter | None = None) -> bytes:
        exported = self.export_metrics(raw, encoding, content_encoding, exporter)
        return self._answer(ExportMetricsServiceResponse(), "rejected_data_points", "metrics", exported, encoding)

    def _answer(self, response: Any, rejected_field: str, noun: str, exported: Exported, encoding: Encoding) -> bytes:
        """The signal's OTLP response: partial_success counts the rejected items and says why."""
        if exported.rejections:
            setattr(response.partial_success, rejected_field, len(exported.rejections))
            response.partial_success.error_message = summarise(
                exported.rejections, exported.total, noun, self.settings.max_reported_rejections)
        return _encode(response, encoding)

    def _prepare_logs(self, batch: Batch[LogItem]) -> PreparedLogs:
        now = self.clock()
        now_ns = int(now.replace(tzinfo=UTC).timestamp() * 1e9)
        window = (now_ns - int(self.settings.retention_days * 86400 * 1e9),
                  now_ns + int(self.settings.max_clock_skew_s * 1e9))
        return prepare_logs(batch, now, redact_values=self.settings.redact, window=window)

    def _telemetry(self, signal: str, prepared: PreparedLogs, exporter: Exporter | None,
                   started: float) -> tuple[PreparedLogs, WriteResult]:
        if exporter is not None:
            attribute(prepared.rows, exporter)
        result = self._write(write_logs, prepared)
        self._count(signal, result, len(prepared.rejections), started)
        return prepared, result

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
# Claude Code's own attribute naming the signed-in account: a relayed row keeps only a verified one.
USER_EMAIL = "user.email"


def attribute(rows: list[dict[str, Any]], exporter: Exporter) -> None:
    """Stamp each row with its sender. A virtual key's rows (and those a proxy relays for a developer
    it authenticated) belong to that developer whatever they claim; a token's rows keep what they
    say, marked as the sender's word."""
    for row in rows:
        attributes = row["attributes"]
        if exporter.developer is not None:
            attributes[DEVELOPER] = exporter.developer
            attributes[TEAM] = exporter.team
            attributes[KEY_ID] = exporter.key_id
            attributes[ATTRIBUTION] = exporter.attribution or "virtual_key"
            if exporter.attribution is not None:  # relayed by a proxy: the email is the verified one or none
                if exporter.email is not None:
                    attributes[USER_EMAIL] = exporter.email
                else:
                    attributes.pop(USER_EMAIL, None)
        else:
            attributes[ATTRIBUTION] = f"{exporter.role}_token"


# SQLSTATE classes that mean "this data": data exception, integrity violation, program limit exceeded
# (e.g. a value too large for an index). Anything else (connection, resources, locks, a bug) is the
# database's trouble, answered 503 so the sender keeps the batch and retries.
_REFUSED_SQLSTATE_CLASSES = ("22", "23", "54")


def _unavailable(error: DBAPIError) -> bool:
    """The database (or the way to it) failed, as opposed to refusing what was sent."""
    sqlstate = getattr(error.orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        return sqlstate[:2] not in _REFUSED_SQLSTATE_CLASSES
    return not isinstance(error, DataError | IntegrityError)  # SQLite says no SQLSTATE


def _halves(rows: list[dict[str, Any]], indexes: list[int]) -> list[tuple[list[dict[str, Any]], list[int]]]:
    middle = len(rows) // 2
    return [(rows[:middle], indexes[:middle]), (rows[middle:], indexes[middle:])]


def bounds_of(settings: IngestSettings) -> TurnBounds:
    return TurnBounds(max_age_s=settings.retention_days * 86400, max_future_s=settings.max_clock_skew_s,
                      max_duration_s=settings.max_turn_duration_s, max_tokens_per_field=settings.max_tokens_per_field,
                      min_propensity=settings.min_propensity, max_identity_chars=settings.max_identity_chars)


def _encode(message: Any, encoding: Encoding) -> bytes:
    return message_to_json(message) if encoding is Encoding.JSON else message.SerializeToString()
