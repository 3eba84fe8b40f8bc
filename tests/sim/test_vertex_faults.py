"""Every fault the fake Vertex AI can inject, by header or by queue: Google's errors before the answer,
Claude's error event inside it, silence, drops; and pacing a streaming client can see."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from core.sse import SSEParser
from sim.fake_credentials import TEST_VERTEX_ACCESS_TOKEN
from sim.upstream_config import UpstreamConfig
from sim.vertex import FakeVertex
from sim.vertex_config import VertexConfig
from tests.sim.wire import exchange, http_request, parse_sse, simple_body

MODEL = "claude-haiku-4-5@20251001"
AUTH = {"authorization": f"Bearer {TEST_VERTEX_ACCESS_TOKEN}"}
BODY: dict[str, Any] = {**{k: v for k, v in simple_body("hello").items() if k != "model"},
                        "anthropic_version": "vertex-2023-10-16"}

Ask = Callable[[FakeVertex, str], httpx.Response]


def by_header(vertex: FakeVertex, spec: str) -> httpx.Response:
    return httpx.post(vertex.predict_url(MODEL), json=BODY, headers={**AUTH, "x-sim-fault": spec}, timeout=10)


def by_queue(vertex: FakeVertex, spec: str) -> httpx.Response:
    vertex.inject(spec)
    return httpx.post(vertex.predict_url(MODEL), json=BODY, headers=AUTH, timeout=10)


ASKS = pytest.mark.parametrize("ask", [by_header, by_queue], ids=["header", "queue"])


@ASKS
@pytest.mark.parametrize(
    ("spec", "status", "google_status", "message"),
    [
        ("429", 429, "RESOURCE_EXHAUSTED", "Quota exceeded for aiplatform.googleapis.com/"
                                           "online_prediction_requests_per_base_model with base model: "
                                           "anthropic-claude-haiku-4-5. Please submit a quota increase request."),
        ("503", 503, "UNAVAILABLE", "The service is currently unavailable."),
        ("500", 500, "INTERNAL", "Internal error encountered."),
    ],
)
def test_googles_errors_before_the_answer(
    vertex: FakeVertex, ask: Ask, spec: str, status: int, google_status: str, message: str
) -> None:
    response = ask(vertex, spec)
    assert response.status_code == status
    document = response.json()
    assert isinstance(document, list)  # streamRawPredict wraps Google errors in an array
    assert document[0]["error"]["status"] == google_status
    assert document[0]["error"]["message"].startswith(message)


def test_raw_predict_errors_are_a_plain_object(vertex: FakeVertex) -> None:
    vertex.inject("429")
    response = httpx.post(vertex.predict_url(MODEL, stream=False), json=BODY, headers=AUTH)
    assert response.status_code == 429 and response.json()["error"]["status"] == "RESOURCE_EXHAUSTED"


@ASKS
def test_an_overload_is_claudes_529(vertex: FakeVertex, ask: Ask) -> None:
    response = ask(vertex, "529")
    assert response.status_code == 529
    assert response.json()["error"] == {"type": "overloaded_error", "message": "Overloaded"}


@ASKS
def test_prompt_too_long(vertex: FakeVertex, ask: Ask) -> None:
    response = ask(vertex, "too-long")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("prompt is too long: ")


@ASKS
def test_an_error_event_mid_stream(vertex: FakeVertex, ask: Ask) -> None:
    response = ask(vertex, "error-event:2")
    assert response.status_code == 200
    events = parse_sse(response.content)
    assert [name for name, _ in events] == ["message_start", "content_block_start", "error"]
    error = events[-1][1]
    assert error["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert error["request_id"].startswith("req_vrtx_")


def _arrivals(vertex: FakeVertex, headers: dict[str, str]) -> list[tuple[float, str]]:
    arrivals = []
    parser = SSEParser()
    with httpx.stream("POST", vertex.predict_url(MODEL), json=BODY, headers={**AUTH, **headers}, timeout=10) as answer:
        for chunk in answer.iter_raw():
            arrivals += [(time.monotonic(), event.event or "") for event in parser.feed(chunk)]
    return arrivals


def test_a_silent_pause_mid_stream(vertex: FakeVertex) -> None:
    arrivals = _arrivals(vertex, {"x-sim-fault": "pause:0.5:4"})
    gaps = [later[0] - earlier[0] for earlier, later in itertools.pairwise(arrivals)]
    assert gaps.index(max(gaps)) == 3 and max(gaps) >= 0.4  # 0.5 s on the server, read on the client
    assert arrivals[-1][1] == "message_stop"


def test_a_streaming_client_sees_the_first_event_long_before_the_last() -> None:
    interval = 0.05
    with FakeVertex(VertexConfig(pacing=UpstreamConfig(event_interval_s=interval, text_deltas=10))) as vertex:
        arrivals = _arrivals(vertex, {})
    assert len(arrivals) >= 15
    assert arrivals[-1][0] - arrivals[0][0] >= (len(arrivals) - 1) * interval * 0.8


def test_disconnects_and_slow_first_byte(vertex: FakeVertex) -> None:
    import orjson

    raw = orjson.dumps(BODY)
    path = vertex.predict_url(MODEL).removeprefix(vertex.base_url)
    cut = exchange(vertex.port, http_request(path, raw, {**AUTH, "x-sim-fault": "disconnect-mid-stream:1"}))
    assert cut.status == 200 and not cut.finished and [n for n, _ in parse_sse(cut.body)] == ["message_start"]
    dropped = exchange(vertex.port, http_request(path, raw, {**AUTH, "x-sim-fault": "disconnect-before-response"}))
    assert dropped.recvs == []
    started = time.monotonic()
    assert by_header(vertex, "slow-first-byte:0.3").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_bad_specs_and_bedrock_only_faults_are_refused(vertex: FakeVertex) -> None:
    response = by_header(vertex, "exception")
    assert response.status_code == 400 and "does not do" in response.json()[0]["error"]["message"]
    with pytest.raises(ValueError):
        vertex.inject("exception:throttlingException")
