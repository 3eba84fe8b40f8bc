"""Sign-in for the dashboard: a login form, a signed session cookie holding the user name, and a
gate in front of every route but ``/healthz`` and the login form itself.

Roles are read from the settings on every request (not from the cookie), so removing a user or
lowering a role takes effect at once. A logged-out browser asking for a page is sent to the login
form; anything else (Dash callbacks, the CSV) gets a 401.
"""

from __future__ import annotations

import html
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

from flask import Flask, Response, redirect, request, session
from werkzeug.wrappers import Response as BaseResponse

from dashboard.passwords import verify_password
from dashboard.settings import DashboardSettings, Role

log = logging.getLogger(__name__)

LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
HEALTH_PATH = "/healthz"
_SESSION_USER = "user"
_SESSION_CSRF = "login_csrf"
_PUBLIC = frozenset({LOGIN_PATH, HEALTH_PATH})


class AccessDeniedError(PermissionError):
    """The signed-in user's role does not allow the action."""


@dataclass(frozen=True, slots=True)
class SignedInUser:
    name: str
    role: Role

    def require(self, role: Role) -> None:
        if not self.role.at_least(role):
            raise AccessDeniedError(f"{self.name} is a {self.role.value}; this needs {role.value} or above")


def signed_in_user(settings: DashboardSettings) -> SignedInUser | None:
    """The user of the current request, or None (call inside a Flask request)."""
    name = session.get(_SESSION_USER)
    if not isinstance(name, str) or name not in settings.users:
        return None
    return SignedInUser(name, settings.users[name].role)


def install_auth(server: Flask, settings: DashboardSettings) -> None:
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
    )

    def gate() -> BaseResponse | None:
        if request.path in _PUBLIC or signed_in_user(settings) is not None:
            return None
        # A browser navigating (Accept: text/html) is sent to the form; favicons, scripts, Dash
        # callbacks and downloads get a plain 401.
        wants_page = request.method == "GET" and "text/html" in request.headers.get("Accept", "")
        if wants_page:
            return redirect(f"{LOGIN_PATH}?next={quote(request.full_path.rstrip('?'), safe='')}")
        return Response('{"error": "sign in first"}', status=401, mimetype="application/json")

    def login() -> BaseResponse:
        target = _safe_next(request.values.get("next", "/"))
        if request.method == "GET":
            return _login_form(target, error=None)
        expected = session.get(_SESSION_CSRF)
        sent = request.form.get("csrf", "")
        if not isinstance(expected, str) or not secrets.compare_digest(sent.encode(), expected.encode()):
            return _login_form(target, error="The form expired; try again.", status=400)
        name = request.form.get("username", "")
        user = settings.users.get(name)
        if not verify_password(request.form.get("password", ""), user.password_hash if user else None):
            log.info("dashboard sign-in refused for %r", name[:64])
            return _login_form(target, error="Wrong user name or password.", status=401)
        session.clear()
        session.permanent = True
        session[_SESSION_USER] = name
        log.info("dashboard sign-in: %s (%s)", name, user.role.value if user else "?")
        return redirect(target)

    def logout() -> BaseResponse:
        session.clear()
        return redirect(LOGIN_PATH)

    def protect(response: BaseResponse) -> BaseResponse:
        # Approving a policy is one click: no other site may frame the dashboard to steal it.
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    server.before_request(gate)
    server.after_request(protect)
    server.add_url_rule(LOGIN_PATH, "login", login, methods=["GET", "POST"])
    server.add_url_rule(LOGOUT_PATH, "logout", logout, methods=["POST"])


def _safe_next(target: str) -> str:
    # Only paths on this site: "//evil.example" and "https://…" would be open redirects.
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_form(target: str, *, error: str | None, status: int = 200) -> Response:
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
<button type="submit" id="sign-in">Sign in</button></form></body></html>"""
    return Response(page, status=status, mimetype="text/html")
