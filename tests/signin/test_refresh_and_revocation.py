"""After /login: the refresh grant (rotation, reuse, the IdP re-check that deprovisions, an IdP that is
down), revocation (RFC 7009), and what the proxy does with the bearers of each outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from core.identity.refresh import REUSE_GRACE_S
from proxy.bearer import BearerVerifier
from proxy.errors import ProxyError
from signin.app import SigninApp
from store.engine import make_engine
from store.testing import migrated_sqlite_url
from tests.signin.harness import SigninGateway, signin_gateway


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return migrated_sqlite_url(tmp_path_factory.mktemp("db"))
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def gateway(tmp_path: Path, db_url: str) -> Iterator[SigninGateway]:
    with signin_gateway(tmp_path, db_url) as running:
        yield running


def refused_by_proxy(gateway: SigninGateway, bearer: str) -> httpx.Response:
    reply = gateway.messages(bearer)
    assert reply.status_code == 401, reply.text
    assert reply.headers["x-should-retry"] == "false"
    assert reply.json()["error"]["type"] == "authentication_error"
    assert bearer not in reply.text
    return reply


def test_refresh_rotates_and_a_reused_refresh_token_ends_the_sign_in(gateway: SigninGateway) -> None:
    client = gateway.client()
    first = gateway.sign_in()
    renewed = client.refresh(first["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    second = renewed.json()
    assert second["refresh_token"] != first["refresh_token"] and second["access_token"] != first["access_token"]
    assert gateway.messages(second["access_token"]).status_code == 200
    # Two Claude Code processes sharing one credentials file may refresh at the same moment: tolerated.
    assert client.refresh(first["refresh_token"]).status_code == 200
    # Later, the same old token again is a stolen copy: the whole sign-in ends, its bearers with it.
    gateway.clock.offset += REUSE_GRACE_S + 1
    reused = client.refresh(first["refresh_token"])
    assert (reused.status_code, reused.json()["error"]) == (401, "invalid_grant")
    assert "already used" in reused.json()["error_description"]
    assert client.refresh(second["refresh_token"]).status_code == 401
    assert "revoked" in refused_by_proxy(gateway, second["access_token"]).json()["error"]["message"]


def test_a_developer_deprovisioned_at_the_idp_cannot_refresh_and_is_locked_out(gateway: SigninGateway) -> None:
    tokens = gateway.sign_in("bob")
    assert gateway.messages(tokens["access_token"]).status_code == 200
    gateway.idp.state.disable("bob")
    answer = gateway.client().refresh(tokens["refresh_token"])
    assert (answer.status_code, answer.json()["error"]) == (401, "invalid_grant")
    assert "no longer signs this developer in" in answer.json()["error_description"]
    # The sign-in is revoked, so the bearer still in bob's hands stops working now, not in an hour.
    refused_by_proxy(gateway, tokens["access_token"])


def test_a_refresh_carries_the_groups_the_idp_has_now(gateway: SigninGateway) -> None:
    tokens = gateway.sign_in("alice")
    gateway.idp.state.set_groups("alice", ("payments",))
    renewed = gateway.client().refresh(tokens["refresh_token"]).json()
    assert jwt.decode(renewed["access_token"], options={"verify_signature": False})["groups"] == ["payments"]
    gateway.messages(renewed["access_token"])
    assert gateway.receiver.wait_for_turns(1)[-1].team == "payments"


def test_an_idp_that_is_down_leaves_signed_in_developers_working(gateway: SigninGateway) -> None:
    client, browser = gateway.client(), gateway.browser()
    tokens = gateway.sign_in()
    gateway.idp.go_down()
    try:
        assert gateway.messages(tokens["access_token"]).status_code == 200
        postponed = client.refresh(tokens["refresh_token"])
        assert (postponed.status_code, postponed.json()["error"]) == (503, "temporarily_unavailable")
        code = client.ask()
        page = browser.enter_code(code["user_code"])
        assert page.status_code == 503
        assert "cannot be reached" in page.text and f"127.0.0.1:{gateway.idp.port}" in page.text
        assert "stays valid until" in page.text and "already signed in keep working" in page.text
    finally:
        gateway.idp.come_back()
    # The refresh token was not spent by the failed attempt.
    assert client.refresh(tokens["refresh_token"]).status_code == 200


def test_without_the_idps_refresh_token_a_sign_in_lasts_its_session(tmp_path: Path, db_url: str) -> None:
    with signin_gateway(tmp_path, db_url, oidc_scopes="openid email profile", signin_session_hours=1) as gateway:
        tokens = gateway.sign_in("bob")
        gateway.idp.state.disable("bob")  # unknown to switchyard: the IdP gave no refresh token to ask with
        renewed = gateway.client().refresh(tokens["refresh_token"])
        assert renewed.status_code == 200
        gateway.clock.offset += 3600
        ended = gateway.client().refresh(renewed.json()["refresh_token"])
        assert (ended.status_code, ended.json()["error"]) == (401, "invalid_grant")
        assert "maximum age" in ended.json()["error_description"]


def test_revocation_of_a_bearer_and_of_a_refresh_token(gateway: SigninGateway) -> None:
    client = gateway.client()
    tokens = gateway.sign_in()
    assert client.revoke(tokens["access_token"]).status_code == 200
    assert "revoked" in refused_by_proxy(gateway, tokens["access_token"]).json()["error"]["message"]
    renewed = client.refresh(tokens["refresh_token"]).json()  # one bearer revoked, the sign-in goes on
    assert gateway.messages(renewed["access_token"]).status_code == 200
    assert client.revoke(renewed["refresh_token"], "refresh_token").status_code == 200  # sign-out
    assert client.refresh(renewed["refresh_token"]).status_code == 401
    refused_by_proxy(gateway, renewed["access_token"])  # every bearer of the sign-in


def test_revocation_answers_200_for_anything_and_400_without_a_token(gateway: SigninGateway) -> None:
    client = gateway.client()
    assert client.revoke("not-a-token").status_code == 200
    assert client.revoke("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.").status_code == 200
    missing = client.http.post(gateway.url + "/oauth/revoke", data={})
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")


def test_revocations_reach_a_second_proxy_through_the_database(tmp_path: Path, db_url: str) -> None:
    """Two proxies on one database and one key file: a sign-out at one is refused at the other, once
    the other's background loop has loaded the revocations (every few seconds)."""
    with signin_gateway(tmp_path, db_url) as first:
        tokens = first.sign_in()
        settings = first.signin.settings
        engine = make_engine(db_url)
        other = SigninApp(settings, engine=engine, http=httpx.AsyncClient())
        verifier = BearerVerifier(other.keys_file, issuer=settings.base, audience=settings.base)
        other.on_revocations(verifier.set_revoked)
        try:
            assert verifier.authenticate(tokens["access_token"]).developer == "alice@example.com"
            assert first.client().revoke(tokens["refresh_token"]).status_code == 200
            asyncio.run(other.ctx.publish_revocations())  # one round of the other's background loop
            with pytest.raises(ProxyError, match="revoked"):
                verifier.authenticate(tokens["access_token"])
        finally:
            engine.dispose()
