"""Hostile /v1/messages bodies always get a clear 4xx (from the gateway, or relayed from the
upstream), never a 5xx made by the gateway, and the proxy keeps serving afterwards."""

from __future__ import annotations

import string

import httpx
import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sim.claude_shapes import build_headers, build_request_body, encode_body, make_session
from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from tests.gateway import PROVIDER_KEY, running_gateway

_ints = st.integers(-(2**63), 2**63 - 1)  # JSON numbers orjson can write
_json_leaf = st.one_of(st.none(), st.booleans(), _ints, st.floats(allow_nan=False, allow_infinity=False),
                       st.text(max_size=50))
_json = st.recursive(_json_leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(string.ascii_letters, max_size=8), inner, max_size=4), max_leaves=20)
_wrong_types = st.fixed_dictionaries({
    "model": st.one_of(_ints, st.lists(st.text()), st.none(), st.text(max_size=30)),
    "messages": st.one_of(st.text(), st.dictionaries(st.text(max_size=5), _json), st.lists(_json, max_size=3)),
    "max_tokens": _json, "stream": st.one_of(st.booleans(), st.text(max_size=5), _ints),
}, optional={"tools": _json, "metadata": _json, "thinking": _json, "system": _json})
_raw_bodies = st.one_of(
    st.binary(max_size=200),  # random bytes, mostly invalid UTF-8 / not JSON
    _wrong_types.map(orjson.dumps),
    st.integers(1, 3000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.integers(1, 3000).map(lambda depth: b'{"a":' * depth + b"1" + b"}" * depth),
    st.text(max_size=30).map(lambda t: b'{"model": "a", "model": ' + orjson.dumps(t) + b"}"),  # duplicate keys
)


def _healthy(gateway) -> None:
    session = make_session(1)
    response = httpx.post(gateway.url + "/v1/messages", headers=build_headers(session, api_key=gateway.key),
                          content=encode_body(build_request_body(1, session=session, history_chars=500)), timeout=30)
    assert response.status_code == 200


def test_hostile_bodies_get_clear_client_errors(tmp_path, receiver) -> None:
    with FakeUpstream(UpstreamConfig(expected_api_key=PROVIDER_KEY)) as upstream, \
            running_gateway(tmp_path, upstream, receiver) as gateway:
        client = httpx.Client(timeout=30)
        headers = {"x-api-key": gateway.key, "content-type": "application/json"}

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        @given(_raw_bodies)
        # well-formed enough for the fake upstream, which (unlike Anthropic's API) streams an answer to
        # it: a 200 relayed as a stream, not a JSON body (found by this test on a loaded machine)
        @example(b'{"max_tokens":0,"messages":[],"model":"\\u0017","stream":true}')
        def check(body: bytes) -> None:
            response = client.post(gateway.url + "/v1/messages", headers=headers, content=body)
            assert response.status_code < 500, (body[:200], response.status_code, response.text[:300])
            if response.status_code < 400 and response.headers["content-type"].startswith("text/event-stream"):
                assert response.text.startswith("event: message_start") and "event: message_stop" in response.text
                return
            payload = response.json()
            if response.status_code >= 400:
                assert payload["type"] == "error" and payload["error"]["message"]

        try:
            check()
            # 30 MB strings and invalid UTF-8 inside an otherwise valid document
            huge = orjson.dumps({"model": "claude-haiku-4-5", "max_tokens": 5, "stream": False,
                                 "messages": [{"role": "user", "content": "x" * (30 * 1024 * 1024)}]})
            assert client.post(gateway.url + "/v1/messages", headers=headers, content=huge).status_code == 200
            broken_utf8 = b'{"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "\xff\xfe"}]}'
            response = client.post(gateway.url + "/v1/messages", headers=headers, content=broken_utf8)
            assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"
            _healthy(gateway)  # still serving
        finally:
            client.close()
