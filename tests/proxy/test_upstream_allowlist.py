"""Provider keys go only to SWITCHYARD_ALLOWED_UPSTREAMS (issue 15, item 3). On main, a policy
target aimed at a capture server received ``x-api-key: <the provider key>`` on the next turn; here
the policy is refused when it loads (the running one stays), and a table that somehow skipped that
check still sends nothing: the proxy refuses the target before a key is attached."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from pydantic import ValidationError

from core.policy.load import load_policy
from proxy.app import ProxyApp
from proxy.routing import RoutingError, load_routing_file, routing_for
from proxy.settings import ProxySettings
from proxy.snapshot import Snapshot
from sim.claude_shapes import build_headers, build_request_body, encode_body, make_session
from sim.upstream import FakeUpstream
from tests.gateway import PROVIDER_KEY, Gateway, make_gateway

# Every spelling the issue measured as accepted on main, and a few parser-confusion ones.
HOSTILE = [
    "http://169.254.169.254/latest/meta-data",
    "http://metadata.google.internal",
    "https://api.anthropic.com@evil.example",
    "http://user:pass@evil.example",
    "http://127.0.0.1:6379",
    "http://",
    "https://api.anthropic.com#@evil.example",
    "https://api.anthropic.com\\@evil.example",
    "http://[::ffff:169.254.169.254]",
    "https://evil.example",
]


class CaptureServer:
    """A TCP listener that keeps whatever bytes reach it: nothing must."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(0.05)
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.socket.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.socket.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(1)
                try:
                    self.received.append(connection.recv(65536))
                except OSError:
                    self.received.append(b"")

    def __enter__(self) -> CaptureServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.socket.close()


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    with CaptureServer() as server:
        yield server


def _policy(version: str, base_url: str) -> dict[str, object]:
    return {"version": version, "targets": [{"name": "main", "base_url": base_url}], "default": {"route": ["main"]}}


def _turn(gateway: Gateway, seed: int = 1) -> httpx.Response:
    session = make_session(seed)
    body = encode_body(build_request_body(seed, session=session, history_chars=0, model="claude-sonnet-4-5"))
    return httpx.post(gateway.url + "/v1/messages", headers=build_headers(session, api_key=gateway.key),
                      content=body, timeout=30)


@pytest.mark.parametrize("base_url", HOSTILE)
def test_every_hostile_spelling_is_refused_when_the_policy_loads(tmp_path: Path, base_url: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(_policy("evil", base_url)))
    settings = ProxySettings(upstream_url="http://127.0.0.1:8787", allowed_upstreams=None)
    with pytest.raises(ValueError, match="base_url"):
        load_routing_file(path, {"default": PROVIDER_KEY}, passthrough=False, allowlist=settings.allowlist())


def test_a_policy_file_aimed_at_a_capture_server_is_refused_and_nothing_leaves(
        tmp_path: Path, upstream: FakeUpstream, receiver, capture: CaptureServer,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="switchyard.proxy")
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(_policy("v1", upstream.base_url)))
    for gateway in make_gateway(tmp_path, upstream, receiver, policy_file=policy_file):
        assert _turn(gateway).status_code == 200
        policy_file.write_text(yaml.safe_dump(_policy("stolen", capture.url)))
        time.sleep(0.3)  # several reload intervals
        assert gateway.app.routing.version == "v1"
        assert _turn(gateway, 2).status_code == 200
    assert capture.received == []
    assert upstream.requests[-1].header("x-api-key") == PROVIDER_KEY
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert any("stolen" in line and "SWITCHYARD_ALLOWED_UPSTREAMS" in line and capture.url in line
               for line in refusals), refusals
    assert not any(PROVIDER_KEY in r.getMessage() for r in caplog.records)


def test_a_snapshot_policy_outside_the_allowlist_is_refused(tmp_path: Path, upstream: FakeUpstream, receiver,
                                                             capture: CaptureServer,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    """What ingest serves is checked again: a tampered snapshot (or an ingest with a wider
    allowlist) does not move this proxy's keys."""
    caplog.set_level(logging.ERROR, logger="switchyard.proxy")
    for gateway in make_gateway(tmp_path, upstream, receiver):
        ledger = gateway.app.ledger
        gateway.app.control.apply_snapshot(Snapshot(
            generated_at=time.time(), policy=load_policy(yaml.safe_dump(_policy("stolen", capture.url))),
            keys=(), month=ledger.month, balances={}))
        assert gateway.app.routing.version == "builtin"
        assert _turn(gateway).status_code == 200
    assert capture.received == []
    assert any("snapshot policy stolen was refused" in r.getMessage() and "not in SWITCHYARD_ALLOWED_UPSTREAMS"
               in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("passthrough", [False, True])
def test_a_table_that_skipped_the_check_sends_no_key(tmp_path: Path, upstream: FakeUpstream, receiver,
                                                     capture: CaptureServer, caplog: pytest.LogCaptureFixture,
                                                     passthrough: bool) -> None:
    """Defence in depth: install a routing table built without the allowlist (as a future code
    path might): the proxy refuses the target before any key is attached, in Anthropic's shape."""
    caplog.set_level(logging.INFO, logger="switchyard.proxy")
    own = {"passthrough": True, "upstream_api_key": None} if passthrough else {}
    for gateway in make_gateway(tmp_path, upstream, receiver, **own):
        unchecked = routing_for(load_policy(yaml.safe_dump(_policy("unchecked", capture.url))),
                                gateway.app.provider_keys, passthrough=passthrough)
        gateway.app.control.install(unchecked)
        session = make_session(3)
        body = encode_body(build_request_body(3, session=session, history_chars=0, model="claude-sonnet-4-5"))
        key = "sk-ant-api03-DEVELOPERS-OWN-key" if passthrough else gateway.key
        response = httpx.post(gateway.url + "/v1/messages", headers=build_headers(session, api_key=key),
                              content=body, timeout=30)
        assert response.status_code == 502
        error = response.json()
        assert error["type"] == "error" and error["error"]["type"] == "api_error"
        assert "outside SWITCHYARD_ALLOWED_UPSTREAMS" in error["error"]["message"]
    assert capture.received == []
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "not checked against the upstream allowlist" in logged
    assert PROVIDER_KEY not in logged and "DEVELOPERS-OWN" not in logged


def test_the_proxy_does_not_start_on_a_policy_outside_the_allowlist(tmp_path: Path) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(_policy("v1", "http://127.0.0.1:6379")))
    settings = ProxySettings(upstream_url="http://127.0.0.1:8787", upstream_api_key=PROVIDER_KEY,
                             policy_file=policy_file, keys_file=tmp_path / "keys.json", spool_dir=None)
    with pytest.raises(RoutingError, match=r"target 'main': 'http://127.0.0.1:6379' is not in"):
        ProxyApp(settings)


def test_listing_an_upstream_allows_it(tmp_path: Path) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(_policy("v1", "https://eu.gateway.example/anthropic")))
    settings = ProxySettings(upstream_url="http://127.0.0.1:8787", upstream_api_key=PROVIDER_KEY,
                             policy_file=policy_file, keys_file=tmp_path / "keys.json", spool_dir=None,
                             allowed_upstreams=["https://eu.gateway.example/anthropic"])
    assert ProxyApp(settings).routing.version == "v1"


@pytest.mark.parametrize(("entries", "why"), [
    (["http://gateway.example"], "https is required"),
    (["https://user:pw@gateway.example"], "userinfo"),
    (["https://169.254.169.254"], "metadata"),
    ([{"url": "https://gateway.example", "private": "yes"}], "expected a base URL"),
])
def test_a_bad_allowlist_stops_the_proxy_at_start(entries: list[object], why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        ProxySettings(allowed_upstreams=entries)


def test_an_http_upstream_url_off_loopback_is_refused() -> None:
    with pytest.raises(ValidationError, match="https is required"):
        ProxySettings(upstream_url="http://gateway.example:8080")


def _name_for_loopback() -> str | None:
    """A host name (not "localhost", not an address) that resolves to 127.0.0.1 here, if any."""
    for name in (socket.gethostname(), "localhost.localdomain"):
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(name, 443, socket.AF_INET)}
        except OSError:
            continue
        if name != "localhost" and addresses == {"127.0.0.1"}:
            return name
    return None


def test_a_listed_name_that_resolves_inside_is_refused_at_connect_time(
        tmp_path: Path, upstream: FakeUpstream, receiver, capture: CaptureServer) -> None:
    """DNS rebinding: the policy's name passed the allowlist when it loaded (the proxy does not resolve
    then), but at connect time it resolves to an internal address: the proxy's resolver refuses it,
    so not even a TLS hello reaches the address (without the resolver the capture server gets one)."""
    name = _name_for_loopback()
    if name is None:
        pytest.skip("no host name here resolves to 127.0.0.1 alone")
    target = f"https://{name}:{capture.socket.getsockname()[1]}"
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(_policy("rebound", target)))
    for gateway in make_gateway(tmp_path, upstream, receiver, policy_file=policy_file,
                                allowed_upstreams=[upstream.base_url, target]):
        assert gateway.app.routing.version == "rebound"
        response = _turn(gateway)
        assert response.status_code in (502, 529), response.text
    assert capture.received == []
