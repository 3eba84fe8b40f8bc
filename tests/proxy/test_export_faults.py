"""The exporter against an ingest that refuses one developer's spans in each way ingest can: a 4xx
for the whole batch (400, 413), a partial_success naming it or not, a 5xx. Whatever the way, the
other developer's turns all arrive, once; a refused span ends in the dead letters (file, index line,
counter, a log line naming the turn but no key), a 5xx one keeps waiting. The proxy's credential goes
along as a bearer token; a wrong one makes turns wait, never dead-letters them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from core.spans import span_to_turn, turns_in_request
from sim.claude_shapes import build_headers, build_request_body, encode_body, make_session
from sim.upstream import FakeUpstream
from switchyard.keys_cli import create_key
from tests.gateway import Gateway, make_gateway
from tests.loopback import read_body, serve_in_thread, wait_until

TOKEN = "proxy-token-0123456789abcdef"


class ScriptedIngest:
    """Stores spans once by span id; spans of developer ``mallory`` are refused the way ``mode`` says."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.token = TOKEN
        self.stored: dict[bytes, str | None] = {}
        self.statuses: list[int] = []
        self._lock = threading.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        status, payload = self._answer(dict(scope["headers"]), body)
        with self._lock:
            self.statuses.append(status)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/x-protobuf")]})
        await send({"type": "http.response.body", "body": payload})

    def _answer(self, headers: dict[bytes, bytes], body: bytes) -> tuple[int, bytes]:
        if headers.get(b"authorization") != f"Bearer {self.token}".encode():
            return 401, b""
        spans = turns_in_request(ExportTraceServiceRequest.FromString(body))
        turns = [span_to_turn(span) for span in spans]
        bad = [i for i, turn in enumerate(turns) if turn.developer == "mallory" and self.mode != "fixed"]
        if bad and self.mode in ("400", "413", "500"):
            return int(self.mode), b"refused"
        with self._lock:
            for i, turn in enumerate(turns):
                if i not in bad:
                    self.stored.setdefault(turn.span_id, turn.developer)
        response = ExportTraceServiceResponse()
        if bad:
            response.partial_success.rejected_spans = len(bad)
            named = "; ".join(f"#{i} (span {spans[i].span_id.hex()}): developer is not allowed" for i in bad)
            response.partial_success.error_message = (
                f"rejected {len(bad)} of {len(spans)} spans: " + (named if self.mode == "partial" else "and 1 more"))
        return 200, response.SerializeToString()


@pytest.fixture
def ingest_for(tmp_path: Path, upstream: FakeUpstream, request: pytest.FixtureRequest) -> Iterator[Any]:
    def start(mode: str, **settings: object) -> Gateway:
        scripted = ScriptedIngest(mode)
        server = serve_in_thread(scripted, lifespan="off")
        url = server.__enter__()
        request.addfinalizer(lambda: server.__exit__(None, None, None))
        values: dict[str, object] = {"otlp_token": TOKEN, "export_interval_s": 0.3}
        values.update(settings)
        gateways = make_gateway(tmp_path, upstream, (scripted, url), **values)  # type: ignore[arg-type]
        gateway = next(gateways)
        request.addfinalizer(lambda: next(gateways, None))
        return gateway
    yield start


def _turns(gateway: Gateway, key: str, seeds: range) -> None:
    with httpx.Client(timeout=30) as client:
        for seed in seeds:
            response = client.post(gateway.url + "/v1/messages", headers=build_headers(make_session(seed), api_key=key),
                                    content=encode_body(build_request_body(seed, history_chars=300)))
            assert response.status_code == 200


def _mallory_then_alice(gateway: Gateway, alice_turns: int = 12) -> str:
    mallory = create_key(gateway.keys_file, "mallory", "red-team")
    from tests.gateway import wait_for_key
    wait_for_key(gateway, mallory)
    _turns(gateway, mallory, range(1))
    _turns(gateway, gateway.key, range(100, 100 + alice_turns))  # alice's, most in the same batch
    return mallory


@pytest.mark.parametrize("mode", ["400", "413", "partial", "partial-unnamed"])
def test_a_refused_span_is_isolated_and_dead_lettered(ingest_for: Any, mode: str, tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    gateway = ingest_for(mode)
    ingest: ScriptedIngest = gateway.receiver  # type: ignore[assignment]
    caplog.set_level(logging.ERROR, logger="switchyard.proxy.dead_letters")
    mallory = _mallory_then_alice(gateway)
    stats = gateway.app.exporter.stats
    wait_until(lambda: len(ingest.stored) == 12 and stats.dead_lettered == 1, timeout=15,
               what="alice's 12 turns stored, mallory's dead-lettered")
    assert set(ingest.stored.values()) == {"alice"}
    index = (tmp_path / "spool" / "dead-letters" / "index.jsonl").read_bytes().splitlines()
    (entry,) = [orjson.loads(line) for line in index]
    assert "'mallory'" in entry["turn"] and entry["reason"]
    kept = ExportTraceServiceRequest.FromString((tmp_path / "spool" / "dead-letters" / entry["file"]).read_bytes())
    (span,) = turns_in_request(kept)
    assert span_to_turn(span).developer == "mallory" and span.span_id.hex() in entry["turn"]
    (line,) = [r.getMessage() for r in caplog.records if "dead-lettered" in r.getMessage()]
    assert "mallory" in line and span.span_id.hex() in line and mallory not in line and gateway.key not in line
    metrics = httpx.get(gateway.url + "/metrics", timeout=5).text
    assert "switchyard_spans_dead_lettered_total 1.0" in metrics
    wait_until(lambda: gateway.app.exporter.pending == 0, timeout=5, what="nothing left to deliver")


def test_a_span_that_makes_ingest_fail_keeps_waiting_while_the_rest_flows(ingest_for: Any) -> None:
    gateway = ingest_for("500", export_interval_s=0.1)
    ingest: ScriptedIngest = gateway.receiver  # type: ignore[assignment]
    _mallory_then_alice(gateway)
    stats = gateway.app.exporter.stats
    wait_until(lambda: len(ingest.stored) == 12, timeout=15, what="alice's 12 turns stored")
    assert stats.dead_lettered == 0 and stats.failed_batches >= 1
    # mallory's is kept (retried with backoff); the others are acked in the journal
    wait_until(lambda: gateway.app.exporter.pending == 1, timeout=5, what="only mallory's turn waiting")
    ingest.mode = "fixed"  # whatever made ingest fail is fixed: it arrives too
    wait_until(lambda: len(ingest.stored) == 13, timeout=40, what="mallory's turn delivered after the fix")


def test_a_wrong_credential_makes_turns_wait_not_dead_letters(ingest_for: Any,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    gateway = ingest_for("partial", otlp_token="not-the-token-0123456789")
    ingest: ScriptedIngest = gateway.receiver  # type: ignore[assignment]
    _turns(gateway, gateway.key, range(3))
    stats = gateway.app.exporter.stats
    wait_until(lambda: stats.failed_batches >= 1, timeout=10, what="a refused export")
    assert ingest.stored == {} and stats.dead_lettered == 0 and 401 in ingest.statuses
    assert any("SWITCHYARD_OTLP_TOKEN" in r.getMessage() for r in caplog.records)
    assert all("not-the-token" not in r.getMessage() for r in caplog.records)
    assert "not-the-token" not in repr(gateway.app.settings)
    ingest.token = "not-the-token-0123456789"  # ingest now accepts it (a rotation)
    wait_until(lambda: len(ingest.stored) == 3, timeout=40, what="the waiting turns delivered")
