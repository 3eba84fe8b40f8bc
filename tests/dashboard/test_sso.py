"""Dashboard sign-in through the company's IdP (the test IdP on loopback, real signed ID tokens):
the whole authorization-code + PKCE round trip, roles from groups (the highest wins), refusals
(no role-bearing group, an admission rule, a forged state, an ID token for another audience, an IdP
that is down), the audit trail, local users unchanged, and the settings' own checks. The last test
does it in headless Chromium, as a person clicks through it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import expect
from pydantic import SecretStr, ValidationError
from sqlalchemy import Engine, select

from dashboard.app import create_app
from dashboard.settings import DashboardSettings, Role
from sim.idp import TestIdP
from sim.idp_config import IdpConfig
from store.schema import audit_log
from tests.dashboard.browser import chromium
from tests.dashboard.client import sign_in
from tests.dashboard.conftest import PASSWORDS
from tests.dashboard.serving import serve_wsgi

ROLES = {"platform": Role.approver, "claude-users": Role.viewer, "claude-admins": Role.admin}


class _Later:
    """A WSGI app whose real app is made once its own URL is known (the IdP's redirect URI)."""

    app: Callable[..., Any] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        assert self.app is not None
        return self.app(environ, start_response)


@dataclass
class Sso:
    url: str
    idp: TestIdP
    engine: Engine


@contextmanager
def _sso(engine: Engine, settings: DashboardSettings, idp_config: IdpConfig | None = None,
         **overrides: Any) -> Iterator[Sso]:
    with TestIdP(idp_config or IdpConfig()) as idp:
        later = _Later()
        with serve_wsgi(later) as url:
            configured = settings.model_copy(update={
                "public_url": url, "sso_roles": ROLES, "oidc_issuer": idp.issuer, "oidc_client_id": "switchyard",
                "oidc_client_secret": SecretStr("switchyard-secret"),
                **overrides})
            configured = DashboardSettings.model_validate(configured.model_dump())  # the validators run
            later.app = create_app(configured, engine).server
            yield Sso(url, idp, engine)


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hidden: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "input" and named.get("type") == "hidden" and named.get("name"):
            self.hidden[str(named["name"])] = named.get("value") or ""


@contextmanager
def _sign_in(sso: Sso, user: str, password: str, *,
             next_path: str = "/routes") -> Iterator[tuple[httpx.Client, httpx.Response]]:
    """A browser's round trip, by hand: the dashboard → the IdP's form → back with a code."""
    with httpx.Client(timeout=20) as browser:
        yield browser, _round_trip(browser, sso, user, password, next_path)


def _round_trip(browser: httpx.Client, sso: Sso, user: str, password: str, next_path: str) -> httpx.Response:
    start = browser.get(f"{sso.url}/sso/start", params={"next": next_path})
    assert start.status_code == 302, start.text
    authorize = start.headers["location"]
    assert authorize.startswith(sso.idp.issuer)
    asked = parse_qs(urlsplit(authorize).query)
    assert asked["code_challenge_method"] == ["S256"] and asked["redirect_uri"] == [f"{sso.url}/sso/callback"]
    form = _Form()
    form.feed(browser.get(authorize).text)
    answer = browser.post(f"{sso.idp.issuer}/login", data={**form.hidden, "username": user, "password": password})
    assert answer.status_code == 302
    return browser.get(answer.headers["location"])


def _whoami(browser: httpx.Client, url: str) -> str:
    layout = browser.get(f"{url}/_dash-layout")
    assert layout.status_code == 200, layout.text
    return layout.text


def _audit(engine: Engine, action: str) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(select(audit_log.c.subject, audit_log.c.detail)
                                  .where(audit_log.c.action == action).order_by(audit_log.c.seq)).all()
    return [{"subject": subject, **detail} for subject, detail in rows]


def test_a_developer_signs_in_through_the_idp_with_the_role_of_their_best_group(
        db_engine: Engine, settings: DashboardSettings) -> None:
    with _sso(db_engine, settings) as sso:
        assert 'id="sign-in-sso"' in httpx.get(f"{sso.url}/login").text  # offered beside the password form
        with _sign_in(sso, "alice", "alice-password") as (browser, back):  # groups: platform, claude-users
            assert back.status_code == 302 and back.headers["location"] == "/routes"
            assert "alice@example.com (approver)" in _whoami(browser, sso.url)  # approver beats viewer
        with _sign_in(sso, "bob", "bob-password") as (bob, _):  # payments, claude-users
            assert "bob@example.com (viewer)" in _whoami(bob, sso.url)
            assert "nav-keys" not in _whoami(bob, sso.url)  # a viewer's navigation has no admin page
            assert bob.post(f"{sso.url}/logout").status_code == 302
            assert bob.get(f"{sso.url}/_dash-layout").status_code == 401  # signed out: the session is gone
    signed = _audit(db_engine, "dashboard.sign_in")
    assert [(s["subject"], s["role"], s["via"]) for s in signed] == [
        ("user:alice@example.com", "approver", "sso"), ("user:bob@example.com", "viewer", "sso")]


def test_no_role_bearing_group_no_admission_no_dashboard(db_engine: Engine, settings: DashboardSettings) -> None:
    with _sso(db_engine, settings) as sso:
        with _sign_in(sso, "carol", "carol-password") as (browser, back):  # no groups at all
            assert back.status_code == 403 and "none of your groups has a dashboard role" in back.text
            assert browser.get(f"{sso.url}/_dash-layout").status_code == 401
    with _sso(db_engine, settings, oidc_allowed_email_domains=("corp.example",)) as sso, \
            _sign_in(sso, "alice", "alice-password") as (browser, back):
        assert back.status_code == 403 and "not in an email domain allowed" in back.text
        assert browser.get(f"{sso.url}/_dash-layout").status_code == 401
    refused = _audit(db_engine, "dashboard.sign_in_failed")
    assert [r["subject"] for r in refused] == ["user:carol@example.com", "user:alice@example.com"]
    assert all(r["via"] == "sso" for r in refused)


def test_an_answer_for_another_browser_or_audience_is_refused(db_engine: Engine, settings: DashboardSettings) -> None:
    with _sso(db_engine, settings) as sso, httpx.Client(timeout=20) as browser:
        assert browser.get(f"{sso.url}/sso/start").status_code == 302
        forged = browser.get(f"{sso.url}/sso/callback", params={"code": "stolen", "state": "not-the-one"})
        assert forged.status_code == 400 and "does not belong to this browser" in forged.text
        # a callback with nothing started in this browser (a link sent to a victim)
        lured = httpx.get(f"{sso.url}/sso/callback", params={"code": "x", "state": "y"})
        assert lured.status_code == 400 and "expired or was started in another browser" in lured.text
    with _sso(db_engine, settings, IdpConfig(extra_claims={"aud": "some-other-app"})) as sso, \
            _sign_in(sso, "alice", "alice-password") as (browser, back):
        assert back.status_code == 403 and "ID token does not verify" in back.text
        assert browser.get(f"{sso.url}/_dash-layout").status_code == 401


def test_an_idp_that_is_down_is_said_and_local_users_still_sign_in(db_engine: Engine,
                                                                   settings: DashboardSettings) -> None:
    with _sso(db_engine, settings) as sso:
        sso.idp.go_down()
        started = httpx.get(f"{sso.url}/sso/start")
        assert started.status_code == 503 and "company sign-in is unavailable" in started.text
        with httpx.Client(base_url=sso.url, timeout=20) as local:  # the password form, as before
            assert sign_in(local, "alice", PASSWORDS["alice"]).status_code == 302
            assert "alice (approver)" in _whoami(local, sso.url)


def test_sso_settings_are_all_or_nothing_and_https(settings: DashboardSettings, db_engine: Engine) -> None:
    base = settings.model_dump()
    with pytest.raises(ValidationError, match="needs SWITCHYARD_OIDC_ISSUER, SWITCHYARD_DASHBOARD_SSO_ROLES"):
        DashboardSettings.model_validate({**base, "public_url": "https://dash.corp.example"})
    with pytest.raises(ValidationError, match="must be https"):
        DashboardSettings.model_validate({**base, "public_url": "http://dash.corp.example", "sso_roles": ROLES,
                                          "oidc_issuer": "https://idp.example", "oidc_client_id": "c"})
    with pytest.raises(ValidationError, match="SWITCHYARD_OIDC_CLIENT_ID"):
        DashboardSettings.model_validate({**base, "public_url": "https://d.example", "sso_roles": ROLES,
                                          "oidc_issuer": "https://idp.example"})
    assert not DashboardSettings.model_validate(base).sso_enabled
    # without SSO configured the two paths are not public: the gate answers as for any page
    with serve_wsgi(create_app(settings, db_engine).server) as url:
        assert httpx.get(f"{url}/sso/start").status_code == 401




def test_signing_in_through_the_idp_in_a_browser(db_engine: Engine, settings: DashboardSettings) -> None:
    with _sso(db_engine, settings) as sso, chromium() as browser:
        page = browser.new_context().new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{sso.url}/routes")
        page.click("#sign-in-sso")
        page.fill("input[name=username]", "alice")
        page.fill("input[name=password]", "alice-password")
        page.click("button[type=submit]")
        expect(page.locator("#nav-user")).to_have_text("alice@example.com (approver)", timeout=15_000)
        assert urlsplit(page.url).path == "/routes"
