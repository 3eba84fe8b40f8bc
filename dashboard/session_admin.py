"""GET /admin/sessions: who is signed in (live sessions per user), for admins; POST
/admin/sessions/end with ``user=NAME`` ends every session of that user at once (a stolen laptop, a
leaver), audited as ``dashboard.sessions_ended``. Other roles get a 403.

Cross-site forms cannot post here with the admin's cookie: it is SameSite=Lax (as for /logout)."""

from __future__ import annotations

import html
import json

from flask import Flask, Response, redirect, request
from sqlalchemy import Engine
from werkzeug.wrappers import Response as BaseResponse

from dashboard.auth import AccessDeniedError, SignedInUser, session_registry, signed_in_user
from dashboard.refusals import refused
from dashboard.settings import DashboardSettings, Role
from dashboard.sign_in_audit import record

SESSIONS_PATH = "/admin/sessions"
END_PATH = "/admin/sessions/end"


def install_session_admin(server: Flask, settings: DashboardSettings, engine: Engine) -> None:
    def admin() -> SignedInUser | None:
        user = signed_in_user(settings)  # the gate has refused anyone signed out
        return user if user is not None and user.role.at_least(Role.admin) else None

    def listing() -> Response:
        if admin() is None:
            return _forbidden()
        active = session_registry().active()
        rows = "".join(
            f'<tr><td>{html.escape(name)}</td><td>{active.get(name, 0)}</td><td><form method="post" '
            f'action="{END_PATH}"><input type="hidden" name="user" value="{html.escape(name)}">'
            f'<button type="submit">End all</button></form></td></tr>'
            for name in sorted(settings.users))
        page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>switchyard · sessions</title>'
                f'</head><body><h1>Signed-in sessions</h1><table id="sessions"><tr><th>user</th><th>sessions</th>'
                f'<th></th></tr>{rows}</table><p><a href="/">back</a></p></body></html>')
        return Response(page, mimetype="text/html")

    def end() -> BaseResponse:
        user = signed_in_user(settings)  # the gate has refused anyone signed out
        if user is None:
            return _forbidden()
        try:
            user.require(Role.admin)
        except AccessDeniedError as error:
            refused(engine, user, "sessions.end", error, target=request.form.get("user", ""))
            return _forbidden()
        name = request.form.get("user", "")
        if name not in settings.users:
            return Response(json.dumps({"error": f"no dashboard user {name[:64]!r}"}), status=404,
                            mimetype="application/json")
        ended = session_registry().end_user(name)
        record(engine, "dashboard.sessions_ended", name, {"sessions": ended}, actor=user.name)
        return redirect(SESSIONS_PATH)

    server.add_url_rule(SESSIONS_PATH, "session_admin", listing, methods=["GET"])
    server.add_url_rule(END_PATH, "session_admin_end", end, methods=["POST"])


def _forbidden() -> Response:
    return Response('{"error": "only admins manage sessions"}', status=403, mimetype="application/json")
