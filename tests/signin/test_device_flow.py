"""The whole /login over loopback, on SQLite and PostgreSQL: discovery → a device code → the human signs
in at the IdP and approves on the verification page → the client's poll gets a bearer → the proxy
accepts it on /v1/messages, attributes the turn to the developer, and never forwards the bearer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from store.testing import migrated_sqlite_url
from tests.signin.harness import DEVICE_GRANT, SigninGateway, signin_gateway

POLL_S = 2  # the poll interval handed out (the default, 5, would make these tests wait)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return migrated_sqlite_url(tmp_path_factory.mktemp("db"))
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def gateway(tmp_path: Path, db_url: str) -> Iterator[SigninGateway]:
    with signin_gateway(tmp_path, db_url, signin_poll_interval_s=POLL_S) as running:
        yield running


def test_discovery_names_the_endpoints_on_the_same_origin(gateway: SigninGateway) -> None:
    document = httpx.get(gateway.url + "/.well-known/oauth-authorization-server").json()
    assert document["issuer"] == gateway.url
    assert document["device_authorization_endpoint"] == gateway.url + "/oauth/device_authorization"
    assert document["token_endpoint"] == gateway.url + "/oauth/token"
    assert document["revocation_endpoint"] == gateway.url + "/oauth/revoke"
    assert DEVICE_GRANT in document["grant_types_supported"] and "refresh_token" in document["grant_types_supported"]
    assert "authorization_endpoint" not in document  # the protocol leaves it out on purpose


def test_a_developer_signs_in_and_the_proxy_takes_the_bearer(gateway: SigninGateway) -> None:
    client, browser = gateway.client(), gateway.browser()
    # Claude Code's form plus parameters this server has never heard of: ignored, not refused.
    code = client.ask(client_id="ignored", scope="whatever", brand_new_parameter="1")
    assert code["verification_uri"] == gateway.url + "/device"
    assert code["verification_uri_complete"] == f"{gateway.url}/device?user_code={code['user_code']}"
    assert code["interval"] == POLL_S and code["expires_in"] == 600 and len(code["device_code"]) >= 43

    first = client.poll(code["device_code"])
    assert (first.status_code, first.json()["error"]) == (400, "authorization_pending")
    early = client.poll(code["device_code"])  # at once, not `interval` later
    assert (early.status_code, early.json()["error"]) == (400, "slow_down")

    approval = browser.sign_in(code["user_code"], "alice", "alice-password")
    assert approval.status_code == 200 and "alice@example.com" in approval.text
    sent = gateway.idp.state.authorize_requests[-1]  # what switchyard sent the IdP
    assert sent["code_challenge_method"] == "S256" and sent["code_challenge"] and sent["nonce"]
    assert sent["redirect_uri"] == gateway.url + "/oauth/callback"
    still = client.poll(code["device_code"])  # signed in, not yet approved
    assert still.json()["error"] in ("authorization_pending", "slow_down")
    assert browser.decide(approval).status_code == 200

    answer = client.poll(code["device_code"])
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    assert tokens["email"] == "alice@example.com" and tokens["refresh_token"]
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["developer"] == "alice@example.com" and claims["groups"] == ["platform", "claude-users"]
    assert jwt.get_unverified_header(tokens["access_token"])["alg"] == "ES256"

    again = client.poll(code["device_code"])  # a device code works once
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")

    reply = gateway.messages(tokens["access_token"])
    assert reply.status_code == 200, reply.text
    forwarded = gateway.upstream.requests[-1]
    assert forwarded.header("authorization") is None  # the bearer stays at the gateway
    turn = gateway.receiver.wait_for_turns(1)[0]
    assert (turn.developer, turn.team) == ("alice@example.com", "platform")
    # Virtual keys keep working beside bearers (CI, service accounts).
    assert httpx.post(gateway.url + "/v1/messages", headers={"x-api-key": gateway.virtual_key}, timeout=10,
                      json={"model": "claude-sonnet-4-5", "max_tokens": 8,
                            "messages": [{"role": "user", "content": "hi"}]}).status_code == 200


def test_denied_on_the_verification_page_is_access_denied(gateway: SigninGateway) -> None:
    client, browser = gateway.client(), gateway.browser()
    code = client.ask()
    approval = browser.sign_in(code["user_code"], "bob", "bob-password")
    assert browser.decide(approval, "deny").status_code == 200
    answer = client.poll(code["device_code"])
    assert (answer.status_code, answer.json()["error"]) == (400, "access_denied")


def test_this_was_not_me_denies_before_any_sign_in(gateway: SigninGateway) -> None:
    client, browser = gateway.client(), gateway.browser()
    code = client.ask()
    assert browser.post("/device/deny", {"user_code": code["user_code"].lower()}).status_code == 200
    assert client.poll(code["device_code"]).json()["error"] == "access_denied"


def test_an_unknown_device_code_is_expired_and_bad_requests_are_named(gateway: SigninGateway) -> None:
    client = gateway.client()
    assert client.poll("no-such-code").json()["error"] == "expired_token"
    missing = client.http.post(gateway.url + "/oauth/token", data={"grant_type": DEVICE_GRANT})
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")
    other = client.http.post(gateway.url + "/oauth/token", data={"grant_type": "password"})
    assert other.json()["error"] == "unsupported_grant_type"
    huge = client.http.post(gateway.url + "/oauth/token", content=b"a=" + b"x" * 20000,
                            headers={"content-type": "application/x-www-form-urlencoded"})
    assert (huge.status_code, huge.json()["error"]) == (413, "invalid_request")
