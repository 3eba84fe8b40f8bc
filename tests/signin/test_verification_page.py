"""The verification page against the attacks it is built for: forged cross-site posts, guessed codes,
auto-submission, a callback replayed or finished in another browser, an approval without its token,
an IdP that vouches for nobody usable."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sim.idp_config import DEMO_CLIENT, IdpConfig, IdpUser
from store.testing import migrated_sqlite_url
from tests.signin.harness import SigninGateway, page_fields, signin_gateway

USERS = (IdpUser("alice", "alice-password", "alice@example.com", ("platform",)),
         IdpUser("ctrl", "ctrl-password", "bad\nname@example.com"))


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[SigninGateway]:
    config = IdpConfig(users=USERS, clients=(DEMO_CLIENT,))
    with signin_gateway(tmp_path, migrated_sqlite_url(tmp_path), idp_config=config,
                        signin_verify_rate_per_minute=5, signin_device_rate_per_minute=3) as running:
        yield running


def test_the_page_fills_in_the_code_but_never_submits_it(gateway: SigninGateway) -> None:
    code = gateway.client().ask()
    page = httpx.get(code["verification_uri_complete"])
    assert page.status_code == 200
    parsed = page_fields(page.text)
    assert parsed.fields["user_code"] == code["user_code"] and parsed.scripts == 0
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert f"form-action 'self' {gateway.idp.issuer}" in policy  # the sign-in redirect goes to the IdP
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    # A code in the link that is not a code is not echoed into the form.
    assert 'value=""' in httpx.get(gateway.url + '/device?user_code="><script>x</script>').text


@pytest.mark.parametrize("origin", [None, "https://evil.example"])
def test_a_post_from_another_site_is_refused(gateway: SigninGateway, origin: str | None) -> None:
    code = gateway.client().ask()
    browser = gateway.browser()
    refused = browser.post("/device", {"user_code": code["user_code"]}, origin=origin)
    assert refused.status_code == 403 and "another site" in refused.text
    cross = browser.http.post(gateway.url + "/device", data={"user_code": code["user_code"]},
                              headers={"sec-fetch-site": "cross-site", "origin": gateway.url})
    assert cross.status_code == 403  # Sec-Fetch-Site is believed over Origin
    assert gateway.client().poll(code["device_code"]).json()["error"] == "authorization_pending"


def test_guessing_codes_is_rate_limited_per_address(gateway: SigninGateway) -> None:
    browser = gateway.browser()
    answers = [browser.enter_code("BCDF-GHJK").status_code for _ in range(7)]
    assert answers[:5] == [400] * 5 and answers[5:] == [429, 429]
    limited = browser.enter_code("BCDF-GHJK")
    assert "Too many attempts" in limited.text and int(limited.headers["retry-after"]) >= 1


def test_asking_for_codes_is_rate_limited_per_address(gateway: SigninGateway) -> None:
    client = gateway.client()
    answers = [client.http.post(gateway.url + "/oauth/device_authorization", data={}) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].json()["error"] == "slow_down"


def test_a_callback_finished_in_another_browser_or_replayed_is_refused(gateway: SigninGateway) -> None:
    client, browser, other = gateway.client(), gateway.browser(), gateway.browser()
    code = client.ask()
    start = browser.enter_code(code["user_code"])
    form = browser.http.get(start.headers["location"])
    tx = re.search(r'name="tx" value="([^"]+)"', form.text)
    assert tx is not None
    back = browser.http.post(str(form.url.copy_with(path="/login", query=None)),
                             data={"tx": tx.group(1), "username": "alice", "password": "alice-password"})
    callback = back.headers["location"]
    stolen = other.http.get(callback)  # the link, opened by someone else
    assert stolen.status_code == 400 and "another browser" in stolen.text
    assert browser.http.get(callback).status_code == 200  # the right browser
    replayed = browser.http.get(callback)
    assert replayed.status_code == 400 and "expired" in replayed.text


def test_an_approval_needs_its_token_and_its_browser(gateway: SigninGateway) -> None:
    client, browser, other = gateway.client(), gateway.browser(), gateway.browser()
    code = client.ask()
    approval = browser.sign_in(code["user_code"], "alice", "alice-password")
    fields = page_fields(approval.text).fields
    forged = browser.post("/device/approve", {"user_code": fields["user_code"], "approval": "guess",
                                              "decision": "approve"})
    assert forged.status_code == 400
    elsewhere = other.post("/device/approve", {**fields, "decision": "approve"})
    assert elsewhere.status_code == 400
    assert client.poll(code["device_code"]).json()["error"] in ("authorization_pending", "slow_down")
    assert browser.decide(approval).status_code == 200
    assert client.poll(code["device_code"]).status_code == 200


def test_an_idp_answer_that_names_no_usable_developer_is_refused(gateway: SigninGateway) -> None:
    client, browser = gateway.client(), gateway.browser()
    code = client.ask()
    page = browser.sign_in(code["user_code"], "ctrl", "ctrl-password")
    assert page.status_code == 403 and "control character" in page.text
    assert client.poll(code["device_code"]).json()["error"] in ("authorization_pending", "slow_down")


def test_an_idp_error_is_shown(gateway: SigninGateway) -> None:
    page = httpx.get(gateway.url + "/oauth/callback?error=access_denied&error_description=MFA+required&state=x")
    assert page.status_code == 400 and "access_denied: MFA required" in page.text


def test_wrong_methods_and_unknown_forms(gateway: SigninGateway) -> None:
    assert httpx.get(gateway.url + "/oauth/token").status_code == 405
    assert httpx.put(gateway.url + "/device").headers["allow"] == "GET, POST"
    typed = gateway.browser().http.post(gateway.url + "/device", content=b'{"user_code": "x"}',
                                         headers={"content-type": "application/json", "origin": gateway.url})
    assert typed.status_code == 415


def test_only_allowed_groups_and_domains_may_sign_in(tmp_path: Path) -> None:
    with signin_gateway(tmp_path, migrated_sqlite_url(tmp_path), oidc_allowed_groups=("platform",)) as gateway:
        client, browser = gateway.client(), gateway.browser()
        code = client.ask()
        refused = browser.sign_in(code["user_code"], "bob", "bob-password")  # payments, claude-users
        assert refused.status_code == 403 and "not in a group allowed" in refused.text
        assert browser.sign_in(client.ask()["user_code"], "alice", "alice-password").status_code == 200
    with signin_gateway(tmp_path / "2", migrated_sqlite_url(tmp_path / "2"),
                        oidc_allowed_email_domains=("corp.example",)) as gateway:
        page = gateway.browser().sign_in(gateway.client().ask()["user_code"], "alice", "alice-password")
        assert page.status_code == 403 and "not in an email domain allowed" in page.text
