"""The request recorder keeps exactly what arrived, bounded, readable from the test thread."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from sim.request_recorder import RecordedRequest, RequestRecorder
from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from tests.sim.wire import exchange, http_request


def test_records_method_path_query_raw_headers_and_body(upstream: FakeUpstream) -> None:
    body = '{"model":"claude-opus-5-5","max_tokens":1,"messages":[],"note":"ü"}'.encode()
    headers = {"Content-Type": "application/json", "X-Claude-Code-Session-Id": "s-1", "anthropic-beta": "a,b"}
    before = time.time()
    exchange(upstream.port, http_request("/v1/messages?beta=true&x=1", body, headers))
    (recorded,) = upstream.requests
    assert (recorded.method, recorded.path, recorded.query_string) == ("POST", "/v1/messages", "beta=true&x=1")
    assert recorded.body == body and recorded.json()["note"] == "ü"
    assert ("X-Claude-Code-Session-Id", "s-1") in recorded.headers  # original case and order kept
    names = [name for name, _ in recorded.headers]
    assert names.index("Content-Type") < names.index("X-Claude-Code-Session-Id") < names.index("anthropic-beta")
    assert recorded.header("x-claude-code-session-id") == "s-1" and recorded.header("missing") is None
    assert before <= recorded.timestamp <= time.time()


def test_records_every_endpoint_and_clears(upstream: FakeUpstream) -> None:
    httpx.get(f"{upstream.base_url}/v1/models")
    httpx.get(f"{upstream.base_url}/nowhere")
    assert [r.path for r in upstream.requests] == ["/v1/models", "/nowhere"]
    upstream.inject("529")
    upstream.clear()
    assert upstream.requests == [] and len(upstream.faults) == 0


def test_recorder_is_bounded() -> None:
    with FakeUpstream(UpstreamConfig(recorded_requests_limit=3)) as fake:
        for index in range(5):
            httpx.get(f"{fake.base_url}/v1/models/claude-opus-{index}")
        assert [r.path[-1] for r in fake.requests] == ["2", "3", "4"]


def test_wait_for_blocks_until_requests_arrive() -> None:
    recorder = RequestRecorder()
    request = RecordedRequest("GET", "/", "", (), b"", 0.0)
    timer = threading.Timer(0.05, recorder.record, args=(request,))
    timer.start()
    try:
        assert recorder.wait_for(1, timeout_s=5) == [request]
    finally:
        timer.join()
    with pytest.raises(TimeoutError):
        recorder.wait_for(2, timeout_s=0.05)
