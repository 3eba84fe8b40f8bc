"""Bad input and upstream failures: always a clear, Anthropic-shaped answer, never a stack trace,
never a hang; upstream errors are relayed exactly as the upstream sent them."""

from __future__ import annotations

import socket

import httpx
import orjson
import pytest

from core.sse import SSEParser
from sim.claude_shapes import build_headers, build_request_body, encode_body, make_session
from tests.gateway import Gateway, make_gateway


def _headers(gateway: Gateway) -> dict[str, str]:
    return build_headers(make_session(3), api_key=gateway.key)


def _body(**extra: object) -> bytes:
    return encode_body(build_request_body(3, history_chars=2_000, **extra))  # type: ignore[arg-type]


def _assert_anthropic_error(response: httpx.Response, status: int, error_type: str) -> dict:
    assert response.status_code == status
    payload = response.json()
    assert payload["type"] == "error"
    assert payload["error"]["type"] == error_type
    assert payload["error"]["message"]
    assert payload["request_id"]
    return payload


@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe{}", b"[1, 2]", b'"text"', b"{" * 5000])
def test_invalid_json_is_a_400(gateway: Gateway, body: bytes) -> None:
    response = httpx.post(gateway.url + "/v1/messages", headers=_headers(gateway), content=body, timeout=10)
    _assert_anthropic_error(response, 400, "invalid_request_error")
    assert not gateway.upstream.requests  # nothing reached the upstream


def test_body_over_the_limit_is_a_413(tmp_path, upstream, receiver) -> None:
    for gateway in make_gateway(tmp_path, upstream, receiver, max_body_bytes=100_000):
        response = httpx.post(gateway.url + "/v1/messages", headers=_headers(gateway),
                              content=b"{" + b" " * 200_000 + b"}", timeout=10)
        _assert_anthropic_error(response, 413, "request_too_large")

        def chunks():
            for _ in range(30):
                yield b" " * 10_000
        # without a content-length (chunked upload) the limit holds too
        response = httpx.post(gateway.url + "/v1/messages", headers=_headers(gateway), content=chunks(), timeout=10)
        _assert_anthropic_error(response, 413, "request_too_large")


@pytest.mark.parametrize("credential", [
    {"x-api-key": "sk-sy-unknown.secret"},
    {"authorization": "Bearer sk-ant-api03-someones-real-key"},
    {"authorization": "Basic Zm9vOmJhcg=="},
    {},
])
def test_unknown_or_missing_key_is_a_401(gateway: Gateway, credential: dict[str, str]) -> None:
    response = httpx.post(gateway.url + "/v1/messages", headers=credential, content=_body(), timeout=10)
    _assert_anthropic_error(response, 401, "authentication_error")
    assert response.headers.get_list("x-should-retry") == ["false"]  # the CLI stops instead of retrying
    assert not gateway.upstream.requests


def test_upstream_unreachable_is_an_api_error(tmp_path, upstream, receiver) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: connection refused
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    for gateway in make_gateway(tmp_path, upstream, receiver, upstream_url=f"http://127.0.0.1:{dead}"):
        response = httpx.post(gateway.url + "/v1/messages", headers=_headers(gateway), content=_body(), timeout=10)
        payload = _assert_anthropic_error(response, 502, "api_error")
        assert "unreachable" in payload["error"]["message"]
        (turn,) = gateway.receiver.wait_for_turns(1)
        assert turn.status_code == 502 and turn.error_type == "api_error"


def test_upstream_closing_without_answer_is_an_api_error(gateway: Gateway) -> None:
    gateway.upstream.inject("disconnect-before-response")
    response = httpx.post(gateway.url + "/v1/messages", headers=_headers(gateway), content=_body(), timeout=10)
    _assert_anthropic_error(response, 502, "api_error")


def test_slow_first_byte_beyond_the_read_timeout_is_a_504(tmp_path, upstream, receiver) -> None:
    for gateway in make_gateway(tmp_path, upstream, receiver, read_timeout_s=0.3):
        gateway.upstream.inject("slow-first-byte:2")
        response = httpx.post(gateway.url + "/v1/messages", headers=_headers(gateway), content=_body(), timeout=10)
        _assert_anthropic_error(response, 504, "api_error")


@pytest.mark.parametrize(("fault", "status", "error_type"), [
    ("429:7", 429, "rate_limit_error"), ("529", 529, "overloaded_error"), ("500", 500, "api_error"),
])
def test_upstream_errors_are_relayed_unmodified(gateway: Gateway, fault: str, status: int, error_type: str) -> None:
    headers = _headers(gateway)
    headers["x-sim-fault"] = fault
    via_proxy = httpx.post(gateway.url + "/v1/messages", headers=headers, content=_body(), timeout=10)
    assert via_proxy.status_code == status
    assert via_proxy.json()["error"]["type"] == error_type
    assert via_proxy.headers["x-should-retry"] == "true"
    assert via_proxy.headers["request-id"] == via_proxy.json()["request_id"]
    if status == 429:
        assert via_proxy.headers["retry-after"] == "7"
        assert via_proxy.headers["anthropic-ratelimit-unified-status"] == "rejected"
    direct_headers = dict(headers, **{"x-api-key": "sk-ant-api03-PROVIDER-SECRET-never-leaks-0123456789"})
    direct = httpx.post(gateway.upstream.base_url + "/v1/messages", headers=direct_headers, content=_body(),
                        timeout=10)
    strip = lambda raw: {k: v for k, v in orjson.loads(raw).items() if k != "request_id"}  # noqa: E731
    assert strip(via_proxy.content) == strip(direct.content)  # same wording, same shape: not re-wrapped
    (turn,) = gateway.receiver.wait_for_turns(1)
    assert turn.status_code == status and turn.error_type == error_type


def test_mid_stream_disconnect_becomes_an_error_event_and_an_error_span(gateway: Gateway) -> None:
    headers = _headers(gateway)
    headers["x-sim-fault"] = "disconnect-mid-stream:3"
    response = httpx.post(gateway.url + "/v1/messages", headers=headers, content=_body(), timeout=10)
    assert response.status_code == 200
    events = SSEParser().feed(response.content)
    assert events[0].event == "message_start"
    assert events[-1].event == "error"
    assert orjson.loads(events[-1].data)["error"]["type"] == "api_error"
    (turn,) = gateway.receiver.wait_for_turns(1)
    assert turn.error_type == "upstream_disconnected"
    assert turn.status_code == 200


def test_upstream_error_event_is_relayed_and_recorded(gateway: Gateway) -> None:
    headers = _headers(gateway)
    headers["x-sim-fault"] = "error-event:3"
    response = httpx.post(gateway.url + "/v1/messages", headers=headers, content=_body(), timeout=10)
    events = SSEParser().feed(response.content)
    assert [e.event for e in events].count("error") == 1
    (turn,) = gateway.receiver.wait_for_turns(1)
    assert turn.error_type == "overloaded_error"


def test_unknown_path_outside_v1_is_a_404(gateway: Gateway) -> None:
    response = httpx.get(gateway.url + "/admin", timeout=10)
    _assert_anthropic_error(response, 404, "not_found_error")
