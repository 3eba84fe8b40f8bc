"""A gateway with /login on loopback: the test IdP, the fake upstream, an OTLP receiver, and the proxy
with the sign-in service mounted (built by switchyard.proxy_process.build_proxy, as in production).
Plus the two other parties of a device flow: the client (what Claude Code sends) and the browser
(what the human does), both plain HTTP against the real servers."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx

from proxy.app import ProxyApp
from proxy.settings import ProxySettings
from signin.app import SigninApp
from signin.settings import SigninSettings
from sim.idp import TestIdP
from sim.idp_config import IdpConfig
from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from store.engine import make_engine
from store.testing import empty_all_tables
from switchyard.keys_cli import create_key
from switchyard.proxy_process import build_proxy
from tests.gateway import INGEST_TOKEN, PROVIDER_KEY
from tests.loopback import serve_in_thread
from tests.otlp_receiver import OtlpReceiver

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
CLIENT_HEADERS = {"user-agent": "claude-code/2.1.330"}


@dataclass
class Clock:
    """The sign-in service's wall clock; a test moves it forward instead of sleeping."""

    offset: float = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class SigninGateway:
    url: str
    idp: TestIdP
    upstream: FakeUpstream
    receiver: OtlpReceiver
    app: ProxyApp
    clock: Clock
    virtual_key: str
    keys_file: Path
    opened: list[httpx.Client] = field(default_factory=list)

    @property
    def signin(self) -> SigninApp:
        assert isinstance(self.app.signin, SigninApp)
        return self.app.signin

    def client(self) -> DeviceClient:
        client = DeviceClient(self.url)
        self.opened.append(client.http)
        return client

    def browser(self) -> Browser:
        browser = Browser(self.url)
        self.opened.append(browser.http)
        return browser

    def messages(self, bearer: str, model: str = "claude-sonnet-4-5") -> httpx.Response:
        return httpx.post(self.url + "/v1/messages", headers={"authorization": f"Bearer {bearer}"}, timeout=10,
                          json={"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]})

    def sign_in(self, username: str = "alice", password: str | None = None) -> dict[str, Any]:
        """A whole /login: the client's code, the browser's sign-in and approval, the client's token."""
        client, browser = self.client(), self.browser()
        code = client.ask()
        approval = browser.sign_in(code["user_code"], username, password or f"{username}-password")
        assert approval.status_code == 200, approval.text
        done = browser.decide(approval)
        assert done.status_code == 200, done.text
        answer = client.poll(code["device_code"])
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


@contextmanager
def signin_gateway(tmp_path: Path, db_url: str, *, idp_config: IdpConfig | None = None,
                   proxy: dict[str, Any] | Callable[[FakeUpstream], dict[str, Any]] | None = None,
                   **signin: Any) -> Iterator[SigninGateway]:
    """``proxy``: more ProxySettings over the defaults (another OTLP endpoint…), or a function of
    the fake upstream that makes them (a policy file naming it, say); ``signin``: SigninSettings."""
    engine = make_engine(db_url)
    empty_all_tables(engine)
    engine.dispose()
    receiver = OtlpReceiver()
    clock = Clock()
    with TestIdP(idp_config) as idp, FakeUpstream(UpstreamConfig(expected_api_key=PROVIDER_KEY)) as upstream, \
            serve_in_thread(receiver, lifespan="off") as receiver_url:
        keys_file = tmp_path / "keys.json"
        virtual_key = create_key(keys_file, "ci-bot", "platform")
        port = free_port()
        extra = proxy(upstream) if callable(proxy) else (proxy or {})
        proxy_values: dict[str, Any] = {
            "upstream_url": upstream.base_url, "upstream_api_key": PROVIDER_KEY, "keys_file": keys_file,
            "otlp_endpoint": receiver_url + "/v1/traces", "otlp_token": INGEST_TOKEN, "export_interval_s": 0.05,
            "spool_dir": tmp_path / "spool", **extra}
        settings = ProxySettings(**proxy_values)
        values: dict[str, Any] = {
            "oidc_issuer": idp.issuer, "oidc_client_id": "switchyard", "oidc_client_secret": "switchyard-secret",
            "public_url": f"http://127.0.0.1:{port}", "database_url": db_url, "data_dir": tmp_path / "signin",
            **signin}
        app = build_proxy(settings, SigninSettings(**values), clock=clock)
        with serve_in_thread(app, port=port) as url:
            gateway = SigninGateway(url, idp, upstream, receiver, app, clock, virtual_key,
                                    tmp_path / "signin" / "signin-keys.json")
            try:
                yield gateway
            finally:
                for http in gateway.opened:
                    http.close()


class DeviceClient:
    """What Claude Code sends during /login (form-encoded, no client_id, surface=claude_code)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = httpx.Client(timeout=10, headers=CLIENT_HEADERS)

    def ask(self, **extra: str) -> dict[str, Any]:
        response = self.http.post(self.base + "/oauth/device_authorization", data={"surface": "claude_code", **extra})
        assert response.status_code == 200, response.text
        return dict(response.json())

    def poll(self, device_code: str) -> httpx.Response:
        return self.http.post(self.base + "/oauth/token", data={"grant_type": DEVICE_GRANT, "device_code": device_code})

    def refresh(self, refresh_token: str) -> httpx.Response:
        return self.http.post(self.base + "/oauth/token",
                              data={"grant_type": "refresh_token", "refresh_token": refresh_token})

    def revoke(self, token: str, hint: str | None = None) -> httpx.Response:
        data = {"token": token, **({"token_type_hint": hint} if hint else {})}
        return self.http.post(self.base + "/oauth/revoke", data=data)


class _Forms(HTMLParser):
    """The hidden inputs of a page's forms (the approval page's user_code and approval token)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "input" and values.get("name"):
            self.fields[str(values["name"])] = values.get("value") or ""


def page_fields(html: str) -> _Forms:
    parser = _Forms()
    parser.feed(html)
    return parser


@dataclass
class Browser:
    """The human's browser: keeps cookies, sends Origin on POST (as browsers do), follows nothing
    on its own so each hop can be looked at."""

    base: str
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(timeout=10, follow_redirects=False)

    def post(self, path: str, data: dict[str, str], origin: str | None = "self") -> httpx.Response:
        headers = {} if origin is None else {"origin": self.base if origin == "self" else origin}
        return self.http.post(self.base + path, data=data, headers=headers)

    def enter_code(self, user_code: str) -> httpx.Response:
        return self.post("/device", {"user_code": user_code})

    def at_idp(self, start: httpx.Response, username: str, password: str) -> httpx.Response:
        """From the verification page's redirect to the IdP, through its login form, back to the
        callback; the callback's answer."""
        assert start.status_code == 302, start.text
        form = self.http.get(start.headers["location"])
        assert form.status_code == 200, form.text
        tx = re.search(r'name="tx" value="([^"]+)"', form.text)
        assert tx is not None
        back = self.http.post(str(form.url.copy_with(path="/login", query=None)),
                              data={"tx": tx.group(1), "username": username, "password": password})
        assert back.status_code == 302, back.text
        return self.http.get(back.headers["location"])

    def sign_in(self, user_code: str, username: str, password: str) -> httpx.Response:
        return self.at_idp(self.enter_code(user_code), username, password)

    def decide(self, approval_page: httpx.Response, decision: str = "approve") -> httpx.Response:
        fields = page_fields(approval_page.text).fields
        return self.post("/device/approve", {"user_code": fields["user_code"], "approval": fields["approval"],
                                             "decision": decision})
