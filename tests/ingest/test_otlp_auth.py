"""Who may write what through OTLP: spans (spend) only with a proxy token; Claude Code's telemetry
with a telemetry token, a proxy token or a developer's virtual key — then attributed to that key's
developer whatever it claims. Without a valid credential nothing is read and nothing is stored."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from sqlalchemy import Engine, select

from core.spans import turns_to_request
from ingest.app import create_app
from ingest.settings import IngestSettings
from ingest.wire import build_wire_classes
from store.engine import make_engine
from store.keys import create_key, revoke_key
from store.queries import turns_frame
from store.schema import logs
from store.testing import sample_turn
from switchyard.keys_cli import create_key as create_file_key
from tests.ingest.conftest import INGEST_TOKENS, INGESTED_AT, PROXY_TOKEN, TELEMETRY_TOKEN
from tests.ingest.otlp import JSON, PROTOBUF, otlp_json, post
from tests.ingest.test_logs import event, logs_request
from tests.loopback import serve_in_thread

SECOND_PROXY_TOKEN = "a-second-proxy-token-for-rotation-0123"


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def forged_spend() -> bytes:
    """The attack: one span that bills bob $25 000 on opus."""
    turn = sample_turn(0, developer="bob", served_model="claude-opus-4-1", requested_model="claude-opus-4-1",
                       output_tokens=10**9 // 2)
    return turns_to_request([turn]).SerializeToString()


@contextmanager
def serving(directory: Path, db_url: str, clock: Callable[[], datetime]) -> Iterator[tuple[str, Path]]:
    """Ingest with two proxy tokens, a telemetry token, the store's keys and a keys file, re-read at once."""
    keys_file = directory / "keys.json"
    settings = IngestSettings(database_url=db_url, ingest_tokens={**INGEST_TOKENS, SECOND_PROXY_TOKEN: "proxy"},
                              keys_file=keys_file, lookup_refresh_s=0.001, require_gen_ai=True, redact=True)
    engine = make_engine(db_url)
    with serve_in_thread(create_app(settings, engine, clock=clock)) as url:
        yield url, keys_file
    engine.dispose()


@pytest.fixture
def server(tmp_path: Path, db_url: str, db_engine: Engine) -> Iterator[tuple[str, Path]]:
    """On the ingest tests' fixed clock (the sample turns' dates)."""
    with serving(tmp_path, db_url, lambda: INGESTED_AT) as served:
        yield served


@pytest.fixture
def server_now(tmp_path: Path, db_url: str, db_engine: Engine) -> Iterator[tuple[str, Path]]:
    """On the real clock (what the OpenTelemetry SDK stamps its data points with)."""
    with serving(tmp_path, db_url, lambda: datetime.now(UTC).replace(tzinfo=None)) as served:
        yield served


def stored_turns(db_engine: Engine) -> int:
    return turns_frame(db_engine).height


def stored_logs(db_engine: Engine) -> list[dict[str, object]]:
    with db_engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(select(logs))]


@pytest.mark.parametrize("headers", [{}, bearer("not-a-token-anyone-issued-0000"), {"authorization": PROXY_TOKEN},
                                     {"authorization": f"Basic {PROXY_TOKEN}"}, bearer(TELEMETRY_TOKEN)],
                         ids=["none", "wrong", "no-scheme", "basic", "telemetry-token"])
@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
def test_forged_spend_without_a_proxy_token_stores_nothing(server: tuple[str, Path], db_engine: Engine,
                                                           headers: dict[str, str], content_type: str) -> None:
    url, _ = server
    body = forged_spend()
    if content_type == JSON:
        body = json.dumps(otlp_json(turns_to_request([sample_turn(0, developer="bob")]))).encode()
    with httpx.Client(base_url=url, timeout=10) as http:
        response = post(http, "/v1/traces", body, content_type, headers=headers)
    expected = 403 if headers == bearer(TELEMETRY_TOKEN) else 401
    assert response.status_code == expected
    # the OTLP error body, in the request's encoding
    status_class = build_wire_classes().status  # wire-compatible with google.rpc.Status
    if content_type == JSON:
        status = json_format.Parse(response.content, status_class())
    else:
        status = status_class.FromString(response.content)
    assert status.code == (7 if expected == 403 else 16) and status.message
    assert stored_turns(db_engine) == 0


def test_a_proxy_token_writes_spend_and_either_rotated_token_works(server: tuple[str, Path],
                                                                   db_engine: Engine) -> None:
    url, _ = server
    with httpx.Client(base_url=url, timeout=10) as http:
        for index, token in enumerate((PROXY_TOKEN, SECOND_PROXY_TOKEN)):
            body = turns_to_request([sample_turn(index)]).SerializeToString()
            assert post(http, "/v1/traces", body, headers=bearer(token)).status_code == 200
    assert stored_turns(db_engine) == 2


def test_nothing_is_read_before_authentication(server: tuple[str, Path]) -> None:
    """A declared 1 GB body is refused for its credential (401), not for its size (413): the check
    comes before the first byte of the body is read. With the token, the size limit answers."""
    url, _ = server
    host, port = url.removeprefix("http://").split(":")

    def status_of(*extra: str) -> int:
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            head = ["POST /v1/traces HTTP/1.1", f"host: {host}", f"content-type: {PROTOBUF}",
                    f"content-length: {10**9}", *extra]
            raw.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + b"\x00" * 1024)  # the rest never comes
            return int(raw.recv(4096).split(b" ", 2)[1])

    assert status_of() == 401
    assert status_of(f"authorization: Bearer {PROXY_TOKEN}") == 413


def test_a_virtual_key_sends_telemetry_attributed_to_its_developer(server: tuple[str, Path],
                                                                   db_engine: Engine) -> None:
    url, keys_file = server
    store_key, _ = create_key(db_engine, developer="alice", team="payments", actor="test")
    file_key = create_file_key(keys_file, "carol", "search")
    claims = {"switchyard.developer": "bob", "switchyard.team": "finance"}  # what the sender says
    with httpx.Client(base_url=url, timeout=10) as http:
        for index, key in enumerate((store_key, file_key)):
            body = logs_request([event("tool_result", f"session-{index}", index, success="true", **claims)])
            assert post(http, "/v1/logs", body.SerializeToString(), headers=bearer(key)).status_code == 200
        # a virtual key never writes spend
        spans = turns_to_request([sample_turn(0, developer="alice")]).SerializeToString()
        assert post(http, "/v1/traces", spans, headers=bearer(store_key)).status_code == 403
    rows = {row["session_id"]: row["attributes"] for row in stored_logs(db_engine)}
    assert rows["session-0"]["switchyard.developer"] == "alice"  # type: ignore[index]
    assert rows["session-0"]["switchyard.team"] == "payments"  # type: ignore[index]
    assert rows["session-0"]["switchyard.attribution"] == "virtual_key"  # type: ignore[index]
    assert rows["session-1"]["switchyard.developer"] == "carol"  # type: ignore[index]
    assert stored_turns(db_engine) == 0


def test_a_revoked_or_unknown_virtual_key_is_refused(server: tuple[str, Path], db_engine: Engine) -> None:
    url, _ = server
    key, stored = create_key(db_engine, developer="alice", team=None, actor="test")
    body = logs_request([event("tool_result", "session-0", 1, success="true")]).SerializeToString()
    with httpx.Client(base_url=url, timeout=10) as http:
        assert post(http, "/v1/logs", body, headers=bearer(key)).status_code == 200
        revoke_key(db_engine, stored.record.key_id, actor="test")
        assert post(http, "/v1/logs", body, headers=bearer(key)).status_code == 401
        assert post(http, "/v1/logs", body, headers=bearer(key[:-4] + "AAAA")).status_code == 401


def test_a_telemetry_token_sends_events_marked_as_the_senders_word(server: tuple[str, Path],
                                                                   db_engine: Engine) -> None:
    url, _ = server
    body = logs_request([event("tool_result", "session-0", 1, success="true", **{"switchyard.developer": "bob"})])
    with httpx.Client(base_url=url, timeout=10) as http:
        assert post(http, "/v1/logs", body.SerializeToString(), headers=bearer(TELEMETRY_TOKEN)).status_code == 200
    [row] = stored_logs(db_engine)
    assert row["attributes"]["switchyard.attribution"] == "telemetry_token"  # type: ignore[index]


def test_claude_code_metrics_from_the_real_sdk_exporter_land_as_telemetry(server_now: tuple[str, Path],
                                                                          db_engine: Engine) -> None:
    """The OpenTelemetry SDK's OTLP/HTTP metric exporter (what Claude Code uses) with a virtual key in
    OTEL_EXPORTER_OTLP_HEADERS: cost and token counters are stored per data point, attributed."""
    url, _ = server_now
    key, _ = create_key(db_engine, developer="alice", team="payments", actor="test")
    reader = InMemoryMetricReader()
    provider = MeterProvider(resource=Resource.create({"service.name": "claude-code"}), metric_readers=[reader])
    meter = provider.get_meter("com.anthropic.claude_code")
    cost = meter.create_counter("claude_code.cost.usage", unit="USD")
    tokens = meter.create_counter("claude_code.token.usage", unit="tokens")
    cost.add(0.25, {"session.id": "s-1", "model": "claude-sonnet-4-5"})
    tokens.add(1200, {"session.id": "s-1", "type": "input"})
    tokens.add(300, {"session.id": "s-1", "type": "output"})
    data = reader.get_metrics_data()
    provider.shutdown()
    exporter = OTLPMetricExporter(endpoint=f"{url}/v1/metrics", headers=bearer(key), timeout=10)
    try:
        assert exporter.export(data).name == "SUCCESS"
        refused = OTLPMetricExporter(endpoint=f"{url}/v1/metrics", headers=bearer("wrong-token-0000000000"), timeout=10)
        assert refused.export(data).name == "FAILURE"
    finally:
        exporter.shutdown()
    rows = stored_logs(db_engine)
    by_kind = {(row["event_name"], row["attributes"].get("type")): row for row in rows}  # type: ignore[union-attr]
    assert set(by_kind) == {("claude_code.cost.usage", None), ("claude_code.token.usage", "input"),
                            ("claude_code.token.usage", "output")}
    cost_row = by_kind[("claude_code.cost.usage", None)]
    assert Decimal(str(cost_row["attributes"]["metric.value"])) == Decimal("0.25")  # type: ignore[index]
    assert cost_row["attributes"]["metric.unit"] == "USD"  # type: ignore[index]
    assert cost_row["session_id"] == "s-1"
    assert all(row["attributes"]["switchyard.developer"] == "alice" for row in rows)  # type: ignore[index]
    assert stored_turns(db_engine) == 0  # telemetry never creates spend


def test_an_unsupported_metric_is_rejected_alone(server_now: tuple[str, Path], db_engine: Engine) -> None:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
        ExportMetricsServiceResponse,
    )
    from opentelemetry.proto.metrics.v1.metrics_pb2 import (
        ExponentialHistogram,
        Gauge,
        Metric,
        NumberDataPoint,
        ResourceMetrics,
        ScopeMetrics,
    )
    now = int(datetime.now(UTC).timestamp() * 1e9)
    good = Metric(name="claude_code.session.count", gauge=Gauge(data_points=[NumberDataPoint(time_unix_nano=now,
                                                                                            as_int=3)]))
    odd = Metric(name="odd", exponential_histogram=ExponentialHistogram())
    body = ExportMetricsServiceRequest(resource_metrics=[ResourceMetrics(
        scope_metrics=[ScopeMetrics(metrics=[odd, good])])]).SerializeToString()
    with httpx.Client(base_url=server_now[0], timeout=10) as http:
        response = post(http, "/v1/metrics", body, headers=bearer(TELEMETRY_TOKEN))
    assert response.status_code == 200
    answer = ExportMetricsServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_data_points == 1
    assert "exponential_histogram" in answer.partial_success.error_message
    [row] = stored_logs(db_engine)
    assert row["event_name"] == "claude_code.session.count"
    assert row["attributes"]["metric.value"] == 3  # type: ignore[index]


@pytest.mark.parametrize(("tokens", "problem"), [
    ({"short": "proxy"}, "shorter than 16"),
    ({"a-long-enough-token-0123": "admin"}, "unknown role 'admin'"),
])
def test_bad_token_settings_stop_ingest_from_starting(db_url: str, tokens: dict[str, str], problem: str) -> None:
    engine = make_engine(db_url)
    try:
        with pytest.raises(ValueError, match=problem):
            create_app(IngestSettings(database_url=db_url, ingest_tokens=tokens), engine)
    finally:
        engine.dispose()
