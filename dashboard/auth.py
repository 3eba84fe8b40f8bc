"""Sign-in for the dashboard: a login form, a signed session cookie holding a random session id
(dashboard.session_registry says whether it is still signed in), and a gate in front of every route
but ``/healthz`` and the login form itself.

Roles are read from the settings on every request (not from the cookie), so removing a user or
lowering a role takes effect at once. A logged-out browser asking for a page is sent to the login
form; anything else (Dash callbacks, the CSV) gets a 401. Failed sign-ins are throttled
(dashboard.throttle); sign-ins, failures, lockouts and sign-outs are written to the audit log.
"""

from __future__ import annotations

import html
import logging
import math
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from flask import Flask, Response, current_app, redirect, request, session
from sqlalchemy import Engine
from werkzeug.wrappers import Response as BaseResponse

from dashboard.next_path import safe_next
from dashboard.passwords import needs_rehash, verify_password
from dashboard.session_registry import SessionRegistry
from dashboard.settings import DashboardSettings, Role
from dashboard.sign_in_audit import record
from dashboard.sso import PUBLIC_PATHS, install_sso, sso_link
from dashboard.throttle import SignInThrottle
from store.refusal_audit import AggregatedRefusals

log = logging.getLogger(__name__)

LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
HEALTH_PATH = "/healthz"
FAVICON_PATH = "/favicon.ico"  # browsers ask for it on every page, the sign-in form too: public, no data
REGISTRY = "switchyard.sessions"  # key of the SessionRegistry in Flask's app.extensions
_SESSION_ID = "sid"
_SESSION_CSRF = "login_csrf"
_PUBLIC = frozenset({LOGIN_PATH, HEALTH_PATH, FAVICON_PATH})
# A sign-in post without the form's token (a cross-site form, a stale tab) comes from nobody known:
# audited as one entry a minute at most, with the count and addresses (store.refusal_audit).
FORM_REFUSED = "dashboard.form_refused"
_FORM_REFUSAL_INTERVAL = timedelta(seconds=60)


class AccessDeniedError(PermissionError):
    """The signed-in user's role does not allow the action."""


@dataclass(frozen=True, slots=True)
class SignedInUser:
    name: str
    role: Role

    def require(self, role: Role) -> None:
        if not self.role.at_least(role):
            raise AccessDeniedError(f"{self.name} is a {self.role.value}; this needs {role.value} or above")


def session_registry() -> SessionRegistry:
    """The running app's session registry (call inside a Flask request)."""
    registry: SessionRegistry = current_app.extensions[REGISTRY]
    return registry


def signed_in_user(settings: DashboardSettings) -> SignedInUser | None:
    """The user of the current request, or None (call inside a Flask request). A local user's role
    is the settings' (removing the user ends the session at once); an IdP user's, the one their
    groups gave at sign-in, while SSO stays configured."""
    session_id = session.get(_SESSION_ID)
    found = session_registry().session_of(session_id) if isinstance(session_id, str) else None
    if found is None:
        return None
    name, role = found
    if role is not None:
        return SignedInUser(name, Role(role)) if settings.sso_enabled else None
    if name not in settings.users:
        return None
    return SignedInUser(name, settings.users[name].role)


def install_auth(server: Flask, settings: DashboardSettings, engine: Engine) -> None:
    """Configure the session cookie and add the gate, /login and /logout to ``server``."""
    secret = settings.secret_key.get_secret_value() if settings.secret_key is not None else None
    if not secret:
        log.warning("no SWITCHYARD_DASHBOARD_SECRET_KEY: using a random one (sessions end at restart)")
        secret = secrets.token_urlsafe(32)
    server.config.update(
        SECRET_KEY=secret,
        SESSION_COOKIE_NAME="switchyard_dashboard",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",  # other sites' forms and scripts do not carry it
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_hours),
        SESSION_REFRESH_EACH_REQUEST=False,  # the cookie's expiry is the absolute limit: it does not slide
    )
    registry = SessionRegistry(idle_seconds=settings.session_idle_minutes * 60,
                               absolute_seconds=settings.session_hours * 3600)
    server.extensions[REGISTRY] = registry
    throttle = SignInThrottle(free_per_user=settings.sign_in_free_failures_per_user,
                              free_per_address=settings.sign_in_free_failures_per_address,
                              backoff_seconds=settings.sign_in_backoff_seconds,
                              lockout_seconds=settings.sign_in_lockout_seconds)
    # Each check costs 128 MiB and a few hundred ms of scrypt: a flood must queue, not exhaust memory.
    checks = threading.BoundedSemaphore(settings.password_checks_at_once)
    forged = AggregatedRefusals(engine, lambda: datetime.now(UTC).replace(tzinfo=None), _FORM_REFUSAL_INTERVAL,
                                action=FORM_REFUSED)

    public = _PUBLIC | (PUBLIC_PATHS if settings.sso_enabled else frozenset())

    def gate() -> BaseResponse | None:
        if request.path in public or signed_in_user(settings) is not None:
            return None
        # A browser navigating (Accept: text/html) is sent to the form; favicons, scripts, Dash
        # callbacks and downloads get a plain 401.
        wants_page = request.method == "GET" and "text/html" in request.headers.get("Accept", "")
        if wants_page:
            return redirect(f"{LOGIN_PATH}?next={quote(request.full_path.rstrip('?'), safe='')}")
        return Response('{"error": "sign in first"}', status=401, mimetype="application/json")

    def login() -> BaseResponse:
        target = safe_next(request.values.get("next", "/"))
        if request.method == "GET":
            return _login_form(target, error=None, sso=settings.sso_enabled)
        expected = session.get(_SESSION_CSRF)
        sent = request.form.get("csrf", "")
        if not isinstance(expected, str) or not secrets.compare_digest(sent.encode(), expected.encode()):
            forged.refused("sign-in form", request.remote_addr, {"reason": "missing or wrong form token"})
            return _login_form(target, error="The form expired; try again.", status=400, sso=settings.sso_enabled)
        name = request.form.get("username", "")[:256]
        address = request.remote_addr or "unknown"
        wait = throttle.retry_after(name, address)
        if wait > 0:  # refused before the password is looked at: the right one cannot end a lock early
            log.info("dashboard sign-in for %r from %s refused: locked for %.0f s", name[:64], address, wait)
            return _too_many(target, wait)
        user = settings.users.get(name)
        with checks:
            matched = verify_password(request.form.get("password", ""), user.password_hash if user else None)
        if not matched or user is None:
            locks = throttle.failed(name, address)
            log.info("dashboard sign-in refused for %r from %s", name[:64], address)
            record(engine, "dashboard.sign_in_failed", name, {"address": address, "known_user": user is not None})
            for lock in locks:
                record(engine, "dashboard.locked_out", name, {"address": address, "locked": lock.kind,
                                                             "failures": lock.failures, "seconds": lock.seconds})
            if locks:
                return _too_many(target, max(lock.seconds for lock in locks))
            return _login_form(target, error="Wrong user name or password.", status=401, sso=settings.sso_enabled)
        throttle.succeeded(name, address)
        if needs_rehash(user.password_hash):
            log.warning("dashboard user %s has a password hash weaker than today's parameters: make a new one "
                        "with `switchyard dashboard hash-password` and put it in SWITCHYARD_DASHBOARD_USERS", name)
        if not record(engine, "dashboard.sign_in", name, {"address": address, "role": user.role.value}):
            return _login_form(target, error="The sign-in could not be recorded; try again later.", status=503,
                               sso=settings.sso_enabled)
        session.clear()
        session.permanent = True
        session[_SESSION_ID] = registry.start(name)
        log.info("dashboard sign-in: %s (%s) from %s", name, user.role.value, address)
        return redirect(target)

    def logout() -> BaseResponse:
        session_id = session.get(_SESSION_ID)
        user = signed_in_user(settings)
        if isinstance(session_id, str):
            registry.end(session_id)  # a copy of the cookie is dead too
        if user is not None:
            record(engine, "dashboard.sign_out", user.name, {"address": request.remote_addr or "unknown"})
        session.clear()
        return redirect(LOGIN_PATH)

    def protect(response: BaseResponse) -> BaseResponse:
        # Approving a policy is one click: no other site may frame the dashboard to steal it.
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if request.path == "/_dash-update-component":  # callback answers hold data (a new key, once): never cached
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    if settings.sso_enabled:
        install_sso(server, settings, engine, registry, _SESSION_ID,
                    lambda message, target, status: _login_form(target, error=message, status=status, sso=True))
    server.before_request(gate)
    server.after_request(protect)
    server.add_url_rule(LOGIN_PATH, "login", login, methods=["GET", "POST"])
    server.add_url_rule(LOGOUT_PATH, "logout", logout, methods=["POST"])


def _too_many(target: str, seconds: float) -> Response:
    wait = max(1, math.ceil(seconds))
    response = _login_form(target, error=f"Too many failed sign-ins: try again in {wait} s.", status=429)
    response.headers["Retry-After"] = str(wait)
    return response


def _sso_button(target: str) -> str:
    return (f'<p style="margin:.4rem 0 0;text-align:center;color:#666">or</p>'
            f'<a id="sign-in-sso" href="{html.escape(sso_link(target))}" style="text-align:center">'
            "Sign in with your company account</a>")


def _login_form(target: str, *, error: str | None, status: int = 200, sso: bool = False) -> Response:
    # One token per browser session: a second tab (or a favicon fetch) must not void the first form.
    token = session.get(_SESSION_CSRF)
    if not isinstance(token, str):
        token = session[_SESSION_CSRF] = secrets.token_urlsafe(24)
    message = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>switchyard · sign in</title>
<style>body{{font-family:system-ui,sans-serif;background:#f4f5f7;display:grid;place-items:center;height:100vh;margin:0}}
form{{background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002;display:grid;gap:.7rem;width:18rem}}
input,button{{font-size:1rem;padding:.45rem}} .error{{color:#b00020;margin:0}}</style></head>
<body><form method="post" action="{LOGIN_PATH}">
<h1 style="margin:0;font-size:1.3rem">switchyard</h1>{message}
<input type="hidden" name="csrf" value="{html.escape(token)}">
<input type="hidden" name="next" value="{html.escape(target)}">
<label>User <input name="username" id="username" autocomplete="username" required></label>
<label>Password <input name="password" id="password" type="password" autocomplete="current-password" required></label>
<button type="submit" id="sign-in">Sign in</button>{_sso_button(target) if sso else ""}</form></body></html>"""
    return Response(page, status=status, mimetype="text/html")
