"""Only canonical paths are forwarded (issue 15, item 1): every other spelling of a path, the ones an
upstream or a CDN could normalise into /v1/messages or out of /v1/, is refused with an
Anthropic-shaped 400 before authentication, budgets or routing, and nothing reaches an upstream."""

from __future__ import annotations

import http.client
import posixpath
import re
from urllib.parse import unquote, urlsplit

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.paths import path_problem
from sim.claude_shapes import build_headers, build_request_body, encode_body, make_session
from tests.gateway import Gateway

KNOWN = frozenset({"/v1/messages", "/v1/messages/count_tokens"})

# Measured on main before this change: each was forwarded (with the provider key) and made no span.
SPELLINGS = [
    "/v1/./messages", "/v1//messages", "/v1/messages/", "/v1/messages;x", "/v1/../admin/keys",
    "/v1/%2e%2e/%2e%2e/secret", "/v1/x/..%2f..%2fadmin", "/v1/Messages", "/v1/mess%61ges",
    "/v1/messages%2f", "/v1/messages%3bx", "/v1/a%5c..%5cadmin", "/v1/messages/count_tokens/",
    "/v1/%2E/messages", "/v1/messages%00", "/v1/messages\\", "/v1/a%zz",
]


def _send(gateway: Gateway, method: str, path: str, body: bytes = b"{}") -> tuple[int, dict, dict]:
    """A request with ``path`` exactly as written (httpx would normalise it first)."""
    conn = http.client.HTTPConnection(urlsplit(gateway.url).netloc, timeout=10)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in {"x-api-key": gateway.key, "content-type": "application/json",
                            "content-length": str(len(body))}.items():
            conn.putheader(name, value)
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), orjson.loads(response.read())
    finally:
        conn.close()


@pytest.mark.parametrize("path", SPELLINGS)
def test_every_other_spelling_is_refused_before_any_upstream(gateway: Gateway, path: str) -> None:
    status, _headers, payload = _send(gateway, "POST", path)
    assert status == 400, (path, payload)
    assert payload["type"] == "error" and payload["error"]["type"] == "invalid_request_error"
    assert "refused" in payload["error"]["message"] and "canonical" in payload["error"]["message"]
    assert gateway.upstream.requests == []
    assert gateway.app.metrics.requests.labels(code="400", origin="proxy")._value.get() >= 1


def test_the_refusal_names_the_path_printably(gateway: Gateway) -> None:
    _, _, payload = _send(gateway, "POST", "/v1/./messages")
    assert "/v1/./messages" in payload["error"]["message"]
    _, _, payload = _send(gateway, "POST", "/v1/" + "a/" * 200)
    assert len(payload["error"]["message"]) < 400  # bounded, whatever was sent


def test_the_canonical_path_is_forwarded_exactly_and_is_a_turn(gateway: Gateway) -> None:
    session = make_session(3)
    body = encode_body(build_request_body(3, session=session, history_chars=300))
    conn = http.client.HTTPConnection(urlsplit(gateway.url).netloc, timeout=30)
    conn.request("POST", "/v1/messages?beta=true", body=body, headers=build_headers(session, api_key=gateway.key))
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 200
    (seen,) = gateway.upstream.requests
    assert (seen.path, seen.query_string) == ("/v1/messages", "beta=true")
    assert len(gateway.receiver.wait_for_turns(1)) == 1


def test_routed_endpoints_take_only_post(gateway: Gateway) -> None:
    status, headers, payload = _send(gateway, "GET", "/v1/messages", b"")
    assert status == 405 and headers.get("allow") == "POST"
    assert payload["error"]["type"] == "invalid_request_error"
    assert gateway.upstream.requests == []


def test_side_endpoints_in_canonical_form_still_pass(gateway: Gateway) -> None:
    status, _, _ = _send(gateway, "GET", "/v1/models", b"")
    assert status == 200
    assert [r.path for r in gateway.upstream.requests] == ["/v1/models"]


# --- the rule itself, against what normalisers do -------------------------------------------------
_segment = st.one_of(
    st.sampled_from(["v1", "messages", "Messages", "count_tokens", "models", "admin", ".", "..", "", "%2e",
                     "%2E%2e", "%2f", "%5C", "%3b", ";x", "mess%61ges", "a%20b", "caf%C3%A9", "%25", "%zz", "%00",
                     "\\", "~x", "a.b", "..%2f"]),
    st.text(alphabet="abcmesgv1._-~%2eEfF;/\\", min_size=1, max_size=8),
)
_paths = st.lists(_segment, min_size=1, max_size=5).map(lambda segments: "/" + "/".join(segments))
_UNRESERVED_ESCAPE = re.compile(r"%(?:[46][1-9a-fA-F]|[57][0-9aA]|3[0-9]|2[dDeE]|5[fF]|7[eE])")


def _as_a_normaliser_reads_it(path: str) -> str:
    """The most aggressive reading a CDN or framework applies: decode escapes, drop path parameters,
    treat backslashes as slashes, resolve dot segments, drop empty segments and case."""
    decoded = unquote(path).replace("\\", "/")
    decoded = "/".join(segment.split(";")[0] for segment in decoded.split("/"))
    normal = posixpath.normpath(decoded)
    return re.sub("/+", "/", normal).rstrip("/").lower() or "/"


@settings(max_examples=3000, deadline=None)
@given(_paths)
def test_an_accepted_path_means_the_same_to_every_reader(path: str) -> None:
    if path_problem(path, KNOWN) is not None:
        return
    read = _as_a_normaliser_reads_it(path)
    # nothing accepted reads as a different path once normalised (case aside, escapes of
    # non-structural bytes aside), so nothing accepted can become a turn or leave /v1/
    assert posixpath.normpath(unquote(path)) == unquote(path)
    assert not _UNRESERVED_ESCAPE.search(path)
    if read in KNOWN:
        assert path == read
    if path.startswith("/v1/"):
        assert read.startswith("/v1/")
