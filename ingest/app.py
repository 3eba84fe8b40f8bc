"""The ingest service: ``create_app(settings, engine)``.

POST /v1/traces and /v1/logs take OTLP/HTTP (protobuf or OTLP/JSON, optionally gzip) and answer
in the request's encoding with partial_success listing what was rejected and why, while the valid
rest of the batch is stored. Whole-request failures (400/413/415/503) are raised as
``RequestRejectedError`` anywhere and translated to a google.rpc.Status body here, in one place.
The control plane (admin API, GET /v1/snapshot) is mounted from ``ingest.admin``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool

from core.keys import KeyRing
from core.pricing import PriceTable, builtin_price_table
from ingest.admin import install_control_plane
from ingest.body import Encoding, encoding_of, encoding_of_or_none, read_capped
from ingest.errors import RequestRejectedError
from ingest.metrics import IngestMetrics
from ingest.on_behalf import HEADER as ON_BEHALF
from ingest.on_behalf import on_behalf
from ingest.openapi import SECURITY_SCHEMES, logs_operation, metrics_operation, traces_operation
from ingest.otlp_auth import Exporter, OtlpAuthenticator, Role, role_tokens
from ingest.otlp_keys import virtual_keys
from ingest.pipeline import Ingestor
from ingest.pricer import Pricer
from ingest.refreshing import Refreshing
from ingest.settings import IngestSettings
from ingest.wire import build_wire_classes

log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def create_app(
    settings: IngestSettings,
    engine: Engine,
    *,
    prices: PriceTable | None = None,
    clock: Callable[[], datetime] = _utc_now,
) -> FastAPI:
    """The ingest ASGI app writing to ``engine`` (already migrated: see ``store.migrate.upgrade``)."""
    metrics = IngestMetrics.create()
    ingestor = Ingestor(settings, engine, Pricer(prices or builtin_price_table()), build_wire_classes(),
                        metrics, clock)
    keys = Refreshing(lambda: virtual_keys(engine, settings.keys_file), KeyRing(), settings.lookup_refresh_s,
                      "the virtual keys")
    authenticator = OtlpAuthenticator(role_tokens(settings.ingest_tokens), keys)
    app = FastAPI(title="switchyard ingest", version="0.1.0",
                  description="OTLP/HTTP receiver for the gateway's spans and Claude Code's telemetry events")

    @app.exception_handler(RequestRejectedError)
    async def rejected(request: Request, error: RequestRejectedError) -> Response:
        signal = request.url.path.rsplit("/", 1)[-1]
        metrics.requests.labels(signal, str(error.status_code)).inc()
        body, media_type = ingestor.status_body(error, getattr(request.state, "encoding", None))
        return Response(body, status_code=error.status_code, media_type=media_type)

    async def export(request: Request, signal: str, needed: Role,
                     work: Callable[[bytes, Encoding, str | None, Exporter], bytes]) -> Response:
        # The encoding first (only so an error answers in the client's encoding), then who is asking:
        # not one byte of the body is read before the credential is checked.
        request.state.encoding = encoding_of_or_none(request.headers.get("content-type"))
        exporter = await run_in_threadpool(authenticator.authenticate, request.headers.get("authorization"), needed)
        exporter = on_behalf(exporter, request.headers.get(ON_BEHALF), needed)  # a proxy relaying for a developer
        encoding = encoding_of(request.headers.get("content-type"))
        raw = await read_capped(request.stream(), request.headers.get("content-length"), settings.max_body_bytes)
        body = await run_in_threadpool(work, raw, encoding, request.headers.get("content-encoding"), exporter)
        metrics.requests.labels(signal, "200").inc()
        return Response(body, media_type=encoding.value)

    @app.post("/v1/traces", summary="Export spans (OTLP/HTTP): proxies only", response_class=Response,
              **traces_operation())
    async def traces(request: Request) -> Response:
        return await export(request, "traces", Role.PROXY, ingestor.traces)

    @app.post("/v1/logs", summary="Export Claude Code's telemetry events (OTLP/HTTP)", response_class=Response,
              **logs_operation())
    async def logs(request: Request) -> Response:
        return await export(request, "logs", Role.TELEMETRY, ingestor.logs)

    @app.post("/v1/metrics", summary="Export Claude Code's telemetry metrics (OTLP/HTTP)", response_class=Response,
              **metrics_operation())
    async def otlp_metrics(request: Request) -> Response:
        return await export(request, "metrics", Role.TELEMETRY, ingestor.metrics)

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

    install_control_plane(app, settings, engine, clock, metrics)

    def openapi_with_ingest_tokens() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            schema.setdefault("components", {}).setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi_with_ingest_tokens  # type: ignore[method-assign]
    return app
