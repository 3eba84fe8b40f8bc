"""Claude Code's own telemetry on the gateway's base URL (/v1/metrics|logs|traces with the bearer), into
a real ingest on loopback: stored as telemetry attributed to the bearer's developer whatever the rows
claim, never as spend, 200 whether kept or dropped; nothing read before authentication; bounded."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from sqlalchemy import Engine, func, select

from core.spans import any_value
from ingest.app import create_app
from ingest.settings import IngestSettings
from sim.upstream import FakeUpstream
from store.engine import make_engine
from store.schema import logs, turns
from store.testing import migrated_sqlite_url
from tests.gateway import INGEST_TOKEN, INGEST_TOKENS, Gateway, make_gateway
from tests.loopback import serve_in_thread
from tests.otlp_receiver import OtlpReceiver
from tests.proxy.protocol import ALICE, Signer

PROTOBUF = "application/x-protobuf"
# What a caller claims about itself in its telemetry: none of it may survive.
CLAIMS = {"service.name": "claude-code", "switchyard.developer": "mallory", "switchyard.team": "finance",
          "switchyard.key_id": "k-mallory", "user.email": "mallory@example.com", "session.id": "s-1"}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(migrated_sqlite_url(tmp_path))
    yield engine
    engine.dispose()


@pytest.fixture
def ingest_url(engine: Engine, tmp_path: Path) -> Iterator[str]:
    settings = IngestSettings(database_url=str(engine.url), ingest_tokens=INGEST_TOKENS, keys_file=None,
                              data_dir=tmp_path / "ingest")
    with serve_in_thread(create_app(settings, engine)) as url:
        yield url


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    return Signer(tmp_path)


@pytest.fixture
def gateway(tmp_path: Path, upstream: FakeUpstream, receiver: tuple[OtlpReceiver, str], ingest_url: str,
            signer: Signer) -> Iterator[Gateway]:
    # the proxy exports to the real ingest (its own turns too), with the proxy's ingest token
    yield from make_gateway(tmp_path, upstream, receiver, bearer=signer.verifier(),
                            otlp_endpoint=ingest_url + "/v1/traces", otlp_token=INGEST_TOKEN,
                            telemetry_max_body_bytes=64 * 1024)


def _attributes(values: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in values.items()]


def logs_body(event: str = "tool_result") -> bytes:
    record = LogRecord(time_unix_nano=time.time_ns(), severity_number=9,
                       body=AnyValue(string_value=f"claude_code.{event}"),
                       attributes=_attributes({"event.name": event, "session.id": "s-1", "tool_name": "Bash"}))
    return ExportLogsServiceRequest(resource_logs=[ResourceLogs(
        resource=Resource(attributes=_attributes(CLAIMS)), scope_logs=[ScopeLogs(log_records=[record])])]
    ).SerializeToString()


def metrics_body() -> bytes:
    point = NumberDataPoint(time_unix_nano=time.time_ns(), as_double=0.42,
                            attributes=_attributes({"model": "claude-sonnet-4-5", "session.id": "s-1"}))
    metric = Metric(name="claude_code.cost.usage", unit="USD",
                    sum=Sum(data_points=[point], aggregation_temporality=1, is_monotonic=True))
    return ExportMetricsServiceRequest(resource_metrics=[ResourceMetrics(
        resource=Resource(attributes=_attributes(CLAIMS)), scope_metrics=[ScopeMetrics(metrics=[metric])])]
    ).SerializeToString()


def traces_body() -> bytes:
    span = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="claude_code.llm_request",
                start_time_unix_nano=time.time_ns(), end_time_unix_nano=time.time_ns() + 1000,
                attributes=_attributes({"gen_ai.request.model": "claude-opus-4-5", "gen_ai.usage.input_tokens": 10**6}))
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=Resource(attributes=_attributes(CLAIMS)), scope_spans=[ScopeSpans(spans=[span])])]
    ).SerializeToString()


def _post(gateway: Gateway, path: str, body: bytes, credential: str) -> httpx.Response:
    return httpx.post(gateway.url + path, content=body, timeout=10,
                      headers={"content-type": PROTOBUF, "authorization": f"Bearer {credential}"})


def _rows(engine: Engine, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 15
    while True:
        with engine.connect() as connection:
            rows = [dict(row._mapping) for row in connection.execute(select(logs))]
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def _turn_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(turns)).scalar_one())


def _outcome(gateway: Gateway, signal: str, outcome: str) -> float:
    value = gateway.app.metrics.registry.get_sample_value(
        "switchyard_client_telemetry_total", {"signal": signal, "outcome": outcome})
    return value or 0.0


def test_logs_and_metrics_belong_to_the_bearers_developer_whatever_they_claim(
        gateway: Gateway, engine: Engine, signer: Signer) -> None:
    token = signer.token(ALICE)
    for path, body in (("/v1/logs", logs_body()), ("/v1/metrics", metrics_body())):
        answer = _post(gateway, path, body, token)
        assert answer.status_code == 200 and answer.content == b""
    rows = _rows(engine, 2)
    assert {row["event_name"] for row in rows} == {"claude_code.tool_result", "claude_code.cost.usage"}
    for row in rows:
        attributes = row["attributes"]
        assert attributes["switchyard.developer"] == "alice@example.com"
        assert attributes["switchyard.team"] == "eng"
        assert attributes["switchyard.key_id"] == "bearer:u-alice"
        assert attributes["switchyard.attribution"] == "bearer"
        assert attributes["user.email"] == "alice@example.com"
    assert _turn_count(engine) == 0  # telemetry, never spend (a cost metric included)


def test_a_virtual_keys_telemetry_is_its_developers(gateway: Gateway, engine: Engine) -> None:
    assert _post(gateway, "/v1/logs", logs_body(), gateway.key).status_code == 200
    (row,) = _rows(engine, 1)
    assert row["attributes"]["switchyard.developer"] == "alice"
    assert row["attributes"]["switchyard.attribution"] == "virtual_key"
    assert "user.email" not in row["attributes"]  # the claimed one is not kept: a key has no verified email


def test_client_traces_are_answered_200_and_never_become_turns(gateway: Gateway, engine: Engine,
                                                               signer: Signer) -> None:
    answer = _post(gateway, "/v1/traces", traces_body(), signer.token(ALICE))
    assert answer.status_code == 200
    assert _outcome(gateway, "traces", "dropped_not_stored") == 1
    # a real turn through the same gateway still reaches ingest: spans are the proxy's own
    turn = httpx.post(gateway.url + "/v1/messages", headers={"x-api-key": gateway.key}, timeout=10, json={
        "model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]})
    assert turn.status_code == 200
    deadline = time.monotonic() + 15
    while _turn_count(engine) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    with engine.connect() as connection:
        stored = connection.execute(select(turns.c.developer, turns.c.requested_model)).all()
    assert [tuple(row) for row in stored] == [("alice", "claude-sonnet-4-5")]


def test_json_gets_a_json_answer(gateway: Gateway, signer: Signer) -> None:
    answer = httpx.post(gateway.url + "/v1/logs", content=b'{"resourceLogs": []}', timeout=10, headers={
        "content-type": "application/json", "authorization": f"Bearer {signer.token(ALICE)}"})
    assert answer.status_code == 200 and answer.json() == {}


@pytest.mark.parametrize("credential", ["", "Bearer sk-sy-nope.nope", "Bearer eyJhbGciOiJub25lIn0.eyJ9.x"])
def test_an_unauthenticated_body_is_never_read(gateway: Gateway, credential: str) -> None:
    """Headers that announce 50 MB, then nothing: the answer comes at once, from the headers alone
    (a proxy that read the body first would wait for bytes that never come)."""
    parts = urlsplit(gateway.url)
    auth = f"authorization: {credential}\r\n" if credential else ""
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as connection:
        connection.sendall((f"POST /v1/logs HTTP/1.1\r\nhost: {parts.netloc}\r\n{auth}"
                            f"content-type: {PROTOBUF}\r\ncontent-length: 52428800\r\n\r\n").encode() + b"\x0a" * 10)
        answer = connection.recv(65536).decode("latin-1")
    assert answer.startswith("HTTP/1.1 401"), answer[:200]
    assert "x-should-retry: false" in answer.lower() and "connection: close" in answer.lower()


def test_a_body_over_the_limit_is_413(gateway: Gateway, engine: Engine, signer: Signer) -> None:
    answer = _post(gateway, "/v1/logs", b"\x00" * (64 * 1024 + 1), signer.token(ALICE))
    assert answer.status_code == 413
    assert _rows(engine, 0) == []


def test_only_post(gateway: Gateway, signer: Signer) -> None:
    answer = httpx.get(gateway.url + "/v1/metrics", headers={"authorization": f"Bearer {signer.token(ALICE)}"})
    assert answer.status_code == 405


def test_ingest_down_still_answers_200_and_counts_the_drop(
        tmp_path: Path, upstream: FakeUpstream, receiver: tuple[OtlpReceiver, str], signer: Signer) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{unused.getsockname()[1]}"
    for gateway in make_gateway(tmp_path, upstream, receiver, bearer=signer.verifier(),
                                otlp_endpoint=dead + "/v1/traces", export_timeout_s=1):
        assert _post(gateway, "/v1/logs", logs_body(), signer.token(ALICE)).status_code == 200
        deadline = time.monotonic() + 10
        while _outcome(gateway, "logs", "dropped_ingest_failed") < 1:
            assert time.monotonic() < deadline, "the failed hand-off was not counted"
            time.sleep(0.05)


def test_telemetry_does_not_use_up_a_keys_requests_a_minute(gateway: Gateway) -> None:
    from switchyard.keys_cli import create_key
    from tests.gateway import wait_for_key

    key = create_key(gateway.keys_file, "bob", "eng", rate_limit_rpm=2)
    wait_for_key(gateway, key)  # (one request of the two)
    for _ in range(5):
        assert _post(gateway, "/v1/logs", logs_body(), key).status_code == 200
    assert httpx.get(gateway.url + "/managed/settings", headers={"x-api-key": key}, timeout=10).status_code == 200
    turn = httpx.post(gateway.url + "/v1/messages", headers={"x-api-key": key}, timeout=10, json={
        "model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]})
    assert turn.status_code == 200, turn.text
