"""The SigV4 signer against botocore's (the oracle): the same headers, byte for byte, for random
requests; and the proxy's use of it verified by botocore the way the fake Bedrock verifies it."""

from __future__ import annotations

from datetime import UTC, datetime

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

from core.providers.sigv4 import sign
from proxy.providers.aws import sigv4_headers

_NOW = datetime(2026, 12, 3, 21, 45, 7, tzinfo=UTC)
_TOKEN_CHARS = st.characters(min_codepoint=33, max_codepoint=126)
_NAMES = st.sampled_from(["content-type", "accept", "x-amzn-bedrock-accept", "User-Agent", "X-Custom", "expect",
                          "anthropic-version", "x-amz-target", "Content-Type", "traceparent", "te",
                          "Connection"])
_VALUES = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
_SEGMENT = st.text(st.sampled_from("abcXYZ019-._~:%3A@"), min_size=1, max_size=12)


def _botocore(monkeypatch: pytest.MonkeyPatch, url: str, headers: list[tuple[str, str]], body: bytes,
              access_key: str, secret_key: str, token: str | None, service: str, region: str) -> dict[str, str]:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: _NOW.replace(tzinfo=None))
    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    SigV4Auth(Credentials(access_key, secret_key, token), service, region).add_auth(request)
    return {name.lower(): value for name, value in request.headers.items()}


@settings(max_examples=300, deadline=None)
@given(headers=st.lists(st.tuples(_NAMES, _VALUES), max_size=6, unique_by=lambda h: h[0].lower()),
       body=st.binary(max_size=2000),
       segments=st.lists(_SEGMENT, min_size=1, max_size=4),
       query=st.lists(st.tuples(st.sampled_from(["a", "b", "X-Id"]), st.text("xyz12", max_size=3)), max_size=3),
       host=st.sampled_from(["bedrock-runtime.us-east-1.amazonaws.com", "127.0.0.1:8123", "localhost:443"]),
       token=st.none() | st.text(_TOKEN_CHARS, min_size=1, max_size=60),
       region=st.sampled_from(["us-east-1", "eu-central-1", "ap-northeast-1"]),
       service=st.sampled_from(["bedrock", "bedrock-mantle"]))
def test_the_same_signature_as_botocore(monkeypatch_module, headers, body, segments, query, host, token, region,
                                        service) -> None:
    path = "/" + "/".join(segments)
    query_string = "&".join(f"{k}={v}" for k, v in query)
    url = f"https://{host}{path}" + (f"?{query_string}" if query_string else "")
    expected = _botocore(monkeypatch_module, url, headers, body, "AKIDEXAMPLE", "secret/key+X", token, service,
                         region)
    ours = sign(method="POST", host=host.removesuffix(":443"), path=path, query=query_string, headers=headers,
                body=body, access_key="AKIDEXAMPLE", secret_key="secret/key+X", token=token, service=service,
                region=region, now=_NOW)
    assert {name.lower(): value for name, value in ours} == expected


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9123/model/us.anthropic.claude-haiku-4-5-20251001-v1%3A0/invoke-with-response-stream",
    "https://bedrock-runtime.eu-west-1.amazonaws.com/model/global.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke",
    "https://[::1]:8443/v1/messages",
])
def test_what_the_proxy_sends_verifies_with_botocore(monkeypatch, url) -> None:
    """The host as aiohttp will send it (port only when not the default; IPv6 in brackets) is the one
    signed: botocore recomputes the signature from the URL and finds the same."""
    credentials = ReadOnlyCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token")
    monkeypatch.setattr("proxy.providers.aws.datetime", type("Clock", (), {"now": staticmethod(lambda tz: _NOW)}))
    headers = [("content-type", "application/json"), ("accept", "application/vnd.amazon.eventstream")]
    ours = dict(sigv4_headers(credentials, "bedrock", "us-east-1", URL(url, encoded=True), headers, b'{"a":1}'))
    expected = _botocore(monkeypatch, url, headers, b'{"a":1}', credentials.access_key,
                         credentials.secret_key, credentials.token, "bedrock", "us-east-1")
    assert ours["Authorization"] == expected["authorization"]
    assert ours["X-Amz-Security-Token"] == "session-token"


def test_a_changed_body_changes_the_signature() -> None:
    def authorization(body: bytes) -> str:
        return dict(sign(method="POST", host="h", path="/", query="", headers=[], body=body, access_key="A",
                         secret_key="S", token=None, service="bedrock", region="us-east-1", now=_NOW))["Authorization"]
    assert authorization(b"{}") != authorization(b"{ }")
