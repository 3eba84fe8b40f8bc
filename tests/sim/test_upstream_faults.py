"""Every injectable fault does what it says, whether asked by header or queued from the test thread."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from sim.faults import FaultKind, FaultQueue, parse_faults
from sim.upstream import FakeUpstream
from tests.sim.wire import RawExchange, check_anthropic_order, parse_sse, post_messages, simple_body

Ask = Callable[[FakeUpstream, str], RawExchange]


def by_header(upstream: FakeUpstream, spec: str) -> RawExchange:
    return post_messages(upstream.port, simple_body(), {"x-sim-fault": spec})


def by_queue(upstream: FakeUpstream, spec: str) -> RawExchange:
    upstream.inject(spec)
    return post_messages(upstream.port, simple_body())


ASKS = pytest.mark.parametrize("ask", [by_header, by_queue], ids=["header", "queue"])


@ASKS
@pytest.mark.parametrize(
    ("spec", "status", "error_type", "retry_after"),
    [
        ("429", 429, "rate_limit_error", "1"),
        ("429:7", 429, "rate_limit_error", "7"),
        ("529", 529, "overloaded_error", None),
        ("500", 500, "api_error", None),
    ],
)
def test_http_errors_have_anthropic_shape_and_headers(
    upstream: FakeUpstream, ask: Ask, spec: str, status: int, error_type: str, retry_after: str | None
) -> None:
    answer = ask(upstream, spec)
    assert answer.status == status and answer.finished
    body = json.loads(answer.body)
    assert set(body) == {"type", "error", "request_id"} and body["type"] == "error"
    assert body["error"]["type"] == error_type and body["error"]["message"]
    assert body["request_id"] == answer.header("request-id") and body["request_id"].startswith("req_")
    assert answer.header("x-should-retry") == "true"
    assert answer.header("retry-after") == retry_after


@ASKS
def test_disconnect_before_response_sends_nothing(upstream: FakeUpstream, ask: Ask) -> None:
    answer = ask(upstream, "disconnect-before-response")
    assert answer.recvs == [] and answer.status == 0
    assert len(upstream.requests) == 1  # the request did arrive


@ASKS
def test_disconnect_mid_stream_cuts_after_some_events(upstream: FakeUpstream, ask: Ask) -> None:
    answer = ask(upstream, "disconnect-mid-stream")
    assert answer.status == 200 and not answer.finished  # no terminating chunk: the connection just dropped
    names = [name for name, _ in parse_sse(answer.body)]
    assert names == ["message_start", "content_block_start", "ping", "content_block_delta"]


def test_disconnect_mid_stream_takes_an_event_count(upstream: FakeUpstream) -> None:
    answer = by_header(upstream, "disconnect-mid-stream:1")
    assert [name for name, _ in parse_sse(answer.body)] == ["message_start"] and not answer.finished


@ASKS
def test_error_event_mid_stream(upstream: FakeUpstream, ask: Ask) -> None:
    answer = ask(upstream, "error-event:2")
    assert answer.status == 200 and answer.finished
    events = parse_sse(answer.body)
    assert [name for name, _ in events] == ["message_start", "content_block_start", "error"]
    error = events[-1][1]
    assert error["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert error["request_id"] == answer.header("request-id")


@ASKS
def test_slow_first_byte_delays_then_answers_normally(upstream: FakeUpstream, ask: Ask) -> None:
    started = time.monotonic()
    answer = ask(upstream, "slow-first-byte:0.3")
    assert time.monotonic() - started >= 0.3
    assert answer.status == 200 and answer.finished
    check_anthropic_order(parse_sse(answer.body))


def test_faults_combine_in_one_spec(upstream: FakeUpstream) -> None:
    started = time.monotonic()
    answer = by_header(upstream, "slow-first-byte:0.2, 529")
    assert time.monotonic() - started >= 0.2 and answer.status == 529


def test_queued_faults_are_consumed_in_order_then_requests_succeed(upstream: FakeUpstream) -> None:
    upstream.inject("529", times=2)
    upstream.inject("500")
    statuses = [post_messages(upstream.port, simple_body()).status for _ in range(4)]
    assert statuses == [529, 529, 500, 200]
    assert len(upstream.faults) == 0


def test_queue_is_not_consumed_by_side_endpoints(upstream: FakeUpstream) -> None:
    upstream.inject("529")
    assert httpx.get(f"{upstream.base_url}/v1/models").status_code == 200
    assert httpx.post(f"{upstream.base_url}/v1/messages/count_tokens", json=simple_body()).status_code == 200
    assert post_messages(upstream.port, simple_body()).status == 529


def test_header_takes_precedence_and_leaves_the_queue_alone(upstream: FakeUpstream) -> None:
    upstream.inject("500")
    assert by_header(upstream, "529").status == 529
    assert post_messages(upstream.port, simple_body()).status == 500


def test_a_bad_fault_header_is_a_400_that_says_why(upstream: FakeUpstream) -> None:
    answer = by_header(upstream, "explode")
    assert answer.status == 400 and "unknown fault" in json.loads(answer.body)["error"]["message"]


@pytest.mark.parametrize("spec", ["explode", "200", "slow-first-byte", "slow-first-byte:-1", "http-error", "429:x"])
def test_parse_faults_rejects_nonsense(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_faults(spec)


def test_parse_faults_reads_arguments() -> None:
    slow, cut = parse_faults("slow-first-byte:1.5,disconnect-mid-stream:3")
    assert (slow.kind, slow.value) == (FaultKind.SLOW_FIRST_BYTE, 1.5)
    assert (cut.kind, cut.value) == (FaultKind.DISCONNECT_MID_STREAM, 3.0)
    (limited,) = parse_faults("429:30")
    assert (limited.kind, limited.value, limited.retry_after_s) == (FaultKind.HTTP_ERROR, 429.0, 30)


def test_fault_queue_is_thread_safe() -> None:
    queue = FaultQueue()
    popped: list[int] = []

    def push_many() -> None:
        for _ in range(500):
            queue.push("529")

    def pop_some() -> None:
        count = sum(1 for _ in range(700) if queue.pop())
        popped.append(count)

    threads = [threading.Thread(target=push_many) for _ in range(4)]
    threads += [threading.Thread(target=pop_some) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(popped) + len(queue) == 2000


def test_an_overloaded_share_answers_that_share_of_turns_529() -> None:
    import httpx

    from sim.upstream import FakeUpstream
    from sim.upstream_config import UpstreamConfig

    with FakeUpstream(UpstreamConfig(overloaded_share=0.5, instant=True)) as fake:
        statuses = [httpx.post(fake.base_url + "/v1/messages", timeout=10, json={
            "model": "claude-haiku-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]},
        ).status_code for _ in range(60)]
    assert set(statuses) == {200, 529} and 15 <= statuses.count(529) <= 45
    with pytest.raises(ValueError, match="between 0 and 1"):
        UpstreamConfig(overloaded_share=1.5)
