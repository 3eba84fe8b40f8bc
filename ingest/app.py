"""The ingest service: ``create_app(settings, engine)``.

POST /v1/traces and /v1/logs take OTLP/HTTP (protobuf or OTLP/JSON, optionally gzip) and answer
in the request's encoding with partial_success listing what was rejected and why, while the valid
rest of the batch is stored. Whole-request failures (400/413/415/503) are raised as
``RequestRejectedError`` anywhere and translated to a google.rpc.Status body here, in one place.
The control plane (admin API, GET /v1/snapshot) is mounted from ``ingest.admin``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool

from core.pricing import PriceTable, builtin_price_table
from ingest.admin import install_control_plane
from ingest.body import Encoding, decode_content, encoding_of, read_capped
from ingest.decode import OtlpDecoder, Rejection
from ingest.errors import RequestRejectedError, StoreUnavailableError
from ingest.logs_pipeline import prepare_logs
from ingest.metrics import IngestMetrics
from ingest.openapi import logs_operation, traces_operation
from ingest.otlp_json import message_to_json
from ingest.pricer import Pricer
from ingest.settings import IngestSettings
from ingest.spans_pipeline import SpanPipeline
from ingest.wire import WireClasses, build_wire_classes
from store.writer import WriteResult, write_logs, write_turns

log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def summarise(rejections: list[Rejection], total: int, noun: str, limit: int) -> str:
    """'rejected 2 of 10 spans: #3 (span 00f0…): reason; …; and 5 more'"""
    parts = []
    for rejection in rejections[:limit]:
        label = f"#{rejection.index}" + (f" (span {rejection.item_id})" if rejection.item_id else "")
        parts.append(f"{label}: {rejection.reason[:300]}")
    more = len(rejections) - limit
    tail = f"; and {more} more" if more > 0 else ""
    return f"rejected {len(rejections)} of {total} {noun}: " + "; ".join(parts) + tail


class _Ingestor:
    """The synchronous work behind one export request (runs in the thread pool)."""

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

    def traces(self, raw: bytes, encoding: Encoding, content_encoding: str | None) -> bytes:
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

    def logs(self, raw: bytes, encoding: Encoding, content_encoding: str | None) -> bytes:
        started = time.perf_counter()
        body = decode_content(raw, content_encoding, self.settings.max_decompressed_bytes)
        batch = self.decoder.log_records(body, encoding)
        prepared = prepare_logs(batch, self.clock(), redact_values=self.settings.redact)
        result = self._write(write_logs, prepared.rows)
        self._count("logs", result, len(prepared.rejections), started)
        response = ExportLogsServiceResponse()
        if prepared.rejections:
            response.partial_success.rejected_log_records = len(prepared.rejections)
            response.partial_success.error_message = summarise(
                prepared.rejections, batch.total, "log records", self.settings.max_reported_rejections)
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


def create_app(
    settings: IngestSettings,
    engine: Engine,
    *,
    prices: PriceTable | None = None,
    clock: Callable[[], datetime] = _utc_now,
) -> FastAPI:
    """The ingest ASGI app writing to ``engine`` (already migrated: see ``store.migrate.upgrade``)."""
    metrics = IngestMetrics.create()
    ingestor = _Ingestor(settings, engine, Pricer(prices or builtin_price_table()), build_wire_classes(),
                         metrics, clock)
    app = FastAPI(title="switchyard ingest", version="0.1.0",
                  description="OTLP/HTTP receiver for the gateway's spans and Claude Code's telemetry events")

    @app.exception_handler(RequestRejectedError)
    async def rejected(request: Request, error: RequestRejectedError) -> Response:
        signal = request.url.path.rsplit("/", 1)[-1]
        metrics.requests.labels(signal, str(error.status_code)).inc()
        body, media_type = ingestor.status_body(error, getattr(request.state, "encoding", None))
        return Response(body, status_code=error.status_code, media_type=media_type)

    async def export(request: Request, signal: str, work: Callable[[bytes, Encoding, str | None], bytes]) -> Response:
        encoding = encoding_of(request.headers.get("content-type"))
        request.state.encoding = encoding
        raw = await read_capped(request.stream(), request.headers.get("content-length"), settings.max_body_bytes)
        body = await run_in_threadpool(work, raw, encoding, request.headers.get("content-encoding"))
        metrics.requests.labels(signal, "200").inc()
        return Response(body, media_type=encoding.value)

    @app.post("/v1/traces", summary="Export spans (OTLP/HTTP)", response_class=Response, **traces_operation())
    async def traces(request: Request) -> Response:
        return await export(request, "traces", ingestor.traces)

    @app.post("/v1/logs", summary="Export log records (OTLP/HTTP)", response_class=Response, **logs_operation())
    async def logs(request: Request) -> Response:
        return await export(request, "logs", ingestor.logs)

    @app.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: the database answers",
             responses={503: {"description": "database unreachable"}})
    async def readyz() -> JSONResponse:
        def ping() -> None:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        try:
            await run_in_threadpool(ping)
        except DBAPIError as error:
            log.warning("readiness check failed: %s", error)
            return JSONResponse({"status": "unavailable", "detail": type(error.orig).__name__}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response,
             responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}})
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    install_control_plane(app, settings, engine, clock)
    return app
