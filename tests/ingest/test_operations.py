from __future__ import annotations

import httpx

from ingest.app import create_app
from ingest.settings import IngestSettings
from store.engine import make_engine
from tests.ingest.conftest import INGEST_TOKENS, INGESTED_AT, PROXY_AUTH
from tests.ingest.otlp import post, request_of
from tests.loopback import serve_in_thread

UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/nothing?connect_timeout=2"


def test_health_readiness_and_metrics(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    request = request_of(3)
    request.resource_spans[0].scope_spans[0].spans[0].span_id = b"\x00" * 8
    post(client, "/v1/traces", request.SerializeToString())
    post(client, "/v1/traces", request.SerializeToString())
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'switchyard_ingest_items_accepted_total{signal="traces"} 4.0' in text
    assert 'switchyard_ingest_items_duplicate_total{signal="traces"} 2.0' in text
    assert 'switchyard_ingest_items_rejected_total{signal="traces"} 2.0' in text
    assert 'switchyard_ingest_batch_seconds_count{signal="traces"} 2.0' in text


def test_an_unreachable_database_is_503_not_500() -> None:
    engine = make_engine(UNREACHABLE)
    try:
        settings = IngestSettings(database_url=UNREACHABLE, ingest_tokens=INGEST_TOKENS)
        with serve_in_thread(create_app(settings, engine, clock=lambda: INGESTED_AT)) as url, \
                httpx.Client(base_url=url, timeout=30, headers=PROXY_AUTH) as http:
            assert http.get("/healthz").status_code == 200
            ready = http.get("/readyz")
            assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
            response = post(http, "/v1/traces", request_of(2).SerializeToString())
            assert response.status_code == 503
            assert 'signal="traces",status="503"' in http.get("/metrics").text
    finally:
        engine.dispose()


def test_apps_have_separate_metric_registries() -> None:
    engine = make_engine("sqlite://")
    try:
        first = create_app(IngestSettings(), engine)
        second = create_app(IngestSettings(), engine)
        assert first is not second  # would raise "Duplicated timeseries" with the global registry
    finally:
        engine.dispose()
