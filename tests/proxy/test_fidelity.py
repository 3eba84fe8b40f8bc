"""The data path is faithful: what Claude Code sends reaches the upstream unchanged, and what the
upstream answers reaches Claude Code unchanged, as it arrives."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest

from core.sse import SSEParser
from sim.claude_shapes import build_headers, build_request_body, encode_body, make_session
from tests.gateway import PROVIDER_KEY, Gateway


def _claude_request(gateway: Gateway, seed: int = 1, **body_args: object) -> tuple[dict[str, str], bytes]:
    session = make_session(seed)
    headers = build_headers(session, auth_token=gateway.key, hint_headers=True)
    headers["x-switchyard-repo"] = "payments-api"
    return headers, encode_body(build_request_body(seed, session=session, **body_args))  # type: ignore[arg-type]


def test_request_reaches_upstream_verbatim_with_the_provider_key(gateway: Gateway) -> None:
    headers, body = _claude_request(gateway)
    response = httpx.post(gateway.url + "/v1/messages?beta=true", headers=headers, content=body, timeout=30)
    assert response.status_code == 200
    seen = gateway.upstream.requests[-1]
    assert seen.body == body  # byte for byte
    assert seen.query_string == "beta=true"
    not_forwarded = {"authorization", "accept-encoding", "x-switchyard-repo"}
    forwarded = {name: value for name, value in headers.items() if name not in not_forwarded}
    assert {"anthropic-beta", "anthropic-version", "x-claude-code-session-id", "x-app"} <= forwarded.keys()
    for name, value in forwarded.items():
        assert seen.header(name) == value, name
    assert seen.header("x-api-key") == PROVIDER_KEY
    assert seen.header("authorization") is None  # the virtual key never leaves the gateway
    assert gateway.key not in str(seen.headers)
    assert seen.header("x-switchyard-repo") is None
    assert seen.header("accept-encoding") == "identity"


def test_stream_reaches_client_byte_for_byte(gateway: Gateway) -> None:
    headers, body = _claude_request(gateway)
    via_proxy = httpx.post(gateway.url + "/v1/messages", headers=headers, content=body, timeout=30)
    direct_headers = dict(headers, **{"x-api-key": PROVIDER_KEY})
    direct_headers.pop("authorization")
    direct = httpx.post(gateway.upstream.base_url + "/v1/messages", headers=direct_headers, content=body, timeout=30)
    # The fake is deterministic except for ids; compare the event structure and the text exactly.
    proxied_events = SSEParser().feed(via_proxy.content)
    direct_events = SSEParser().feed(direct.content)
    assert [e.event for e in proxied_events] == [e.event for e in direct_events]
    assert via_proxy.headers["content-type"].startswith("text/event-stream")
    assert via_proxy.headers["request-id"].startswith("req_")  # the upstream's own id, relayed
    text = "".join(orjson.loads(e.data)["delta"].get("text", "") for e in proxied_events
                   if e.event == "content_block_delta")
    direct_text = "".join(orjson.loads(e.data)["delta"].get("text", "") for e in direct_events
                          if e.event == "content_block_delta")
    assert text == direct_text and text


def test_bytes_are_relayed_as_they_arrive(tmp_path, receiver) -> None:
    from sim.upstream import FakeUpstream
    from sim.upstream_config import UpstreamConfig
    from tests.gateway import make_gateway

    with FakeUpstream(UpstreamConfig(expected_api_key=PROVIDER_KEY, event_interval_s=0.05, text_deltas=10)) as fake:
        for gateway in make_gateway(tmp_path, fake, receiver):
            headers, body = _claude_request(gateway, thinking=False)
            arrivals: list[tuple[float, bytes]] = []
            start = time.perf_counter()
            with httpx.stream("POST", gateway.url + "/v1/messages", headers=headers, content=body,
                              timeout=30) as response:
                for chunk in response.iter_raw():
                    arrivals.append((time.perf_counter() - start, chunk))
            total = arrivals[-1][0]
            first_event_at = next(t for t, c in arrivals if b"message_start" in c)
            ping_at = next(t for t, c in arrivals if b"event: ping" in c)
            # ~16 events 50 ms apart: the stream lasts ≥ 0.7 s; the first event and the (small)
            # ping must arrive long before the end, not held back for a chunk size.
            assert total > 0.7
            assert first_event_at < 0.3
            assert ping_at < total - 0.3
            assert len(arrivals) >= 10


@pytest.mark.parametrize("path", ["/v1/messages/count_tokens", "/v1/models", "/v1/models/claude-opus-5-5",
                                  "/v1/files/nope", "/v1/messages/batches"])
def test_every_v1_path_passes_through(gateway: Gateway, path: str) -> None:
    headers = {"x-api-key": gateway.key, "anthropic-version": "2023-06-01", "content-type": "application/json"}
    method = "POST" if path.endswith(("count_tokens", "batches")) else "GET"
    body = orjson.dumps({"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "hi"}]})
    response = httpx.request(method, gateway.url + path, headers=headers,
                             content=body if method == "POST" else None, timeout=10)
    seen = gateway.upstream.requests[-1]
    assert (seen.method, seen.path) == (method, path)
    direct = httpx.request(method, gateway.upstream.base_url + path,
                           headers=dict(headers, **{"x-api-key": PROVIDER_KEY}),
                           content=body if method == "POST" else None, timeout=10)
    assert response.status_code == direct.status_code
    if path == "/v1/messages/count_tokens":
        assert response.json() == direct.json()


def test_delete_and_other_methods_pass_through(gateway: Gateway) -> None:
    response = httpx.delete(gateway.url + "/v1/files/file_123", headers={"x-api-key": gateway.key}, timeout=10)
    seen = gateway.upstream.requests[-1]
    assert (seen.method, seen.path) == ("DELETE", "/v1/files/file_123")
    assert response.status_code == 404
    assert response.json()["type"] == "error"


def test_large_body_passes(gateway: Gateway) -> None:
    headers, _ = _claude_request(gateway)
    body = orjson.dumps({"model": "claude-sonnet-4-5", "max_tokens": 10, "stream": False,
                         "messages": [{"role": "user", "content": "x" * (33 * 1024 * 1024)}]})
    response = httpx.post(gateway.url + "/v1/messages", headers=headers, content=body, timeout=60)
    assert response.status_code == 200
    assert len(gateway.upstream.requests[-1].body) == len(body)
