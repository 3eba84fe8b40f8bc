"""A hardened sign-in over real HTTP on loopback: failures lock the name and the address (429 with
retry-after, even for the right password), every step is in the audit log, ``next`` never leaves
the site, sessions end server-side (logout, an admin, idle and absolute limits) and an old password
hash still signs in but asks for a new one in the log."""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from dashboard.app import create_app
from dashboard.settings import DashboardSettings, User
from store.audit import list_audit
from tests.dashboard.client import sign_in
from tests.dashboard.conftest import PASSWORDS
from tests.dashboard.serving import serve_wsgi


@contextmanager
def _served(settings: DashboardSettings, engine: Engine, **overrides: Any) -> Iterator[str]:
    with serve_wsgi(create_app(settings.model_copy(update=overrides), engine).server) as url:
        yield url


def _client(url: str, address: str = "127.0.0.1") -> httpx.Client:
    # other loopback addresses (127.0.0.2, …) stand for other clients
    return httpx.Client(base_url=url, transport=httpx.HTTPTransport(local_address=address), timeout=30)


def _actions(engine: Engine, action: str) -> list[Any]:
    return list_audit(engine, action=action)


def test_failures_lock_the_user_and_the_right_password_cannot_skip_the_lock(
        settings: DashboardSettings, db_engine: Engine) -> None:
    with _served(settings, db_engine, sign_in_free_failures_per_user=3, sign_in_backoff_seconds=2.0) as url, \
            _client(url) as client, _client(url, "127.0.0.2") as elsewhere:
        assert [sign_in(client, "victor", "wrong").status_code for _ in range(3)] == [401, 401, 401]
        locked = sign_in(client, "victor", "wrong")
        assert locked.status_code == 429 and locked.headers["retry-after"] == "2"
        right = sign_in(client, "victor", PASSWORDS["victor"])
        assert right.status_code == 429 and 1 <= int(right.headers["retry-after"]) <= 2
        assert "Too many failed sign-ins" in right.text and "set-cookie" not in right.headers
        assert sign_in(elsewhere, "victor", PASSWORDS["victor"]).status_code == 429  # the name, from anywhere
        assert sign_in(client, "alice", PASSWORDS["alice"]).status_code == 302  # others are not locked
        assert client.get("/_dash-layout").status_code == 200
        time.sleep(2.1)
        assert sign_in(elsewhere, "victor", PASSWORDS["victor"]).status_code == 302
    failed = _actions(db_engine, "dashboard.sign_in_failed")
    assert len(failed) == 4 and {entry.actor for entry in failed} == {"victor"}
    assert all(entry.detail["address"] == "127.0.0.1" and entry.subject == "user:victor" for entry in failed)
    [lockout] = _actions(db_engine, "dashboard.locked_out")
    assert lockout.detail == {"address": "127.0.0.1", "locked": "user", "failures": 4, "seconds": 2.0}
    signed_in = _actions(db_engine, "dashboard.sign_in")
    assert [(entry.actor, entry.detail["address"]) for entry in signed_in] == [("victor", "127.0.0.2"),
                                                                                ("alice", "127.0.0.1")]


def test_an_address_guessing_many_names_is_locked_and_unknown_names_count_like_known_ones(
        settings: DashboardSettings, db_engine: Engine) -> None:
    with _served(settings, db_engine, sign_in_free_failures_per_address=3, sign_in_backoff_seconds=30.0) as url, \
            _client(url) as client, _client(url, "127.0.0.3") as other:
        assert [sign_in(client, name, "guess").status_code for name in ("mallory", "trent", "victor")] == [401] * 3
        locked = sign_in(client, "nobody", "guess")
        assert locked.status_code == 429 and locked.headers["retry-after"] == "30"
        assert sign_in(client, "alice", PASSWORDS["alice"]).status_code == 429
        assert sign_in(other, "alice", PASSWORDS["alice"]).status_code == 302
    [lockout] = _actions(db_engine, "dashboard.locked_out")
    assert lockout.detail["locked"] == "address" and lockout.actor == "nobody"
    assert {entry.detail["known_user"] for entry in _actions(db_engine, "dashboard.sign_in_failed")} == {True, False}


@pytest.mark.parametrize("target", ["/\t/evil.example", "/\n/evil.example", "/%2f%2fevil.example", "%2f%2fevil.example",
                                    "/%5cevil.example", "https:evil.example"])
def test_next_never_leads_off_site_nor_fails(served: str, target: str) -> None:
    with httpx.Client(base_url=served) as client:
        response = sign_in(client, "victor", PASSWORDS["victor"], next_path=target)
        assert response.status_code == 302 and response.headers["location"] == "/"
        kept = sign_in(client, "victor", PASSWORDS["victor"], next_path="/chargeback?month=2026-11&by=team")
        assert kept.headers["location"] == "/chargeback?month=2026-11&by=team"


def test_logout_ends_the_session_for_every_copy_of_the_cookie(served: str, db_engine: Engine) -> None:
    with httpx.Client(base_url=served) as client:
        sign_in(client, "victor", PASSWORDS["victor"])
        copied = dict(client.cookies)
        assert client.post("/logout").status_code == 302
    with httpx.Client(base_url=served, cookies=copied) as thief:
        assert thief.get("/_dash-layout").status_code == 401
    assert [entry.actor for entry in _actions(db_engine, "dashboard.sign_out")] == ["victor"]


def test_an_admin_ends_all_of_a_users_sessions_and_nobody_else_can(served: str, db_engine: Engine) -> None:
    with httpx.Client(base_url=served) as laptop, httpx.Client(base_url=served) as phone, \
            httpx.Client(base_url=served) as admin, httpx.Client(base_url=served) as alice:
        for client in (laptop, phone):
            sign_in(client, "victor", PASSWORDS["victor"])
        sign_in(admin, "ada", PASSWORDS["ada"])
        sign_in(alice, "alice", PASSWORDS["alice"])
        assert alice.post("/admin/sessions/end", data={"user": "victor"}).status_code == 403
        assert alice.get("/admin/sessions").status_code == 403
        assert laptop.get("/_dash-layout").status_code == 200
        listing = admin.get("/admin/sessions")
        assert listing.status_code == 200 and "<td>victor</td><td>2</td>" in listing.text
        assert admin.post("/admin/sessions/end", data={"user": "nobody"}).status_code == 404
        assert admin.post("/admin/sessions/end", data={"user": "victor"}).status_code == 302
        assert laptop.get("/_dash-layout").status_code == 401 and phone.get("/_dash-layout").status_code == 401
        assert alice.get("/_dash-layout").status_code == 200 and admin.get("/_dash-layout").status_code == 200
    [ended] = _actions(db_engine, "dashboard.sessions_ended")
    assert ended.actor == "ada" and ended.subject == "user:victor" and ended.detail == {"sessions": 2}


def test_a_session_ends_when_idle_and_at_its_absolute_limit_and_its_cookie_never_slides(
        settings: DashboardSettings, db_engine: Engine) -> None:
    with _served(settings, db_engine, session_idle_minutes=1 / 60) as url, httpx.Client(base_url=url) as client:
        sign_in(client, "victor", PASSWORDS["victor"])
        assert client.get("/_dash-layout").status_code == 200
        time.sleep(1.2)
        assert client.get("/_dash-layout").status_code == 401
    with _served(settings, db_engine, session_hours=3 / 3600) as url, httpx.Client(base_url=url) as client:
        sign_in(client, "victor", PASSWORDS["victor"])
        signed_in = time.monotonic()  # the session began a moment before
        while time.monotonic() < signed_in + 1.8:  # busy all along: only the absolute limit can end it
            response = client.get("/_dash-layout")
            assert response.status_code == 200 and "set-cookie" not in response.headers
            time.sleep(0.3)
        time.sleep(signed_in + 3.1 - time.monotonic())
        assert client.get("/_dash-layout").status_code == 401


def test_an_old_hash_signs_in_and_the_log_asks_for_a_new_one(settings: DashboardSettings, db_engine: Engine,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(b"old-password", salt=salt, n=2**14, r=8, p=1, dklen=32)
    old = f"scrypt${2**14}$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    users = {**settings.users, "olga": User(password_hash=old)}
    with caplog.at_level(logging.WARNING, logger="dashboard.auth"), _served(settings, db_engine, users=users) as url, \
            httpx.Client(base_url=url) as client:
        assert sign_in(client, "olga", "old-password").status_code == 302
        assert sign_in(client, "victor", PASSWORDS["victor"]).status_code == 302
    warnings = [record.getMessage() for record in caplog.records if record.name == "dashboard.auth"]
    assert len(warnings) == 1 and "olga" in warnings[0] and "switchyard dashboard hash-password" in warnings[0]
