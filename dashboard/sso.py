"""Dashboard sign-in through the company's IdP: OpenID Connect authorization code + PKCE, the same
relying party (``signin.oidc.OidcClient``: discovery, token request, ID-token checks) and the same
claims rules (``core.identity.claims``) as Claude Code's ``/login``; roles come from IdP groups.

``GET /sso/start?next=…`` keeps a fresh state, nonce and PKCE verifier in the signed session cookie
and sends the browser to the IdP; ``GET /sso/callback`` checks the state, redeems the code, verifies
the ID token (nonce included), reads the developer and groups, refuses anyone the admission rules
or the role map leave out, and starts a dashboard session carrying the role found at sign-in (a
change of groups takes effect at the next sign-in; sessions end after
SWITCHYARD_DASHBOARD_SESSION_HOURS at most). Local users (SWITCHYARD_DASHBOARD_USERS) keep signing
in with their passwords. Every outcome is audited like a password sign-in, with ``via: sso``.
"""

from __future__ import annotations

import asyncio
import html
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx
from flask import Flask, Response, redirect, request, session
from sqlalchemy import Engine
from werkzeug.wrappers import Response as BaseResponse

from core.identity.claims import Identity, IdentityProblem, admission_problem, identity_from_claims
from dashboard.next_path import safe_next
from dashboard.session_registry import SessionRegistry
from dashboard.settings import DashboardSettings, Role
from dashboard.sign_in_audit import record
from signin.oidc import IdpRefused, IdpUnavailable, IdTokenInvalid, OidcClient

log = logging.getLogger(__name__)

START_PATH = "/sso/start"
CALLBACK_PATH = "/sso/callback"
PUBLIC_PATHS = frozenset({START_PATH, CALLBACK_PATH})
_PENDING = "sso"  # the session cookie's key for a sign-in under way
PENDING_TTL_S = 600.0  # a sign-in left at the IdP longer than this starts again
IDP_TIMEOUT_S = 10.0


def best_role(groups: tuple[str, ...], roles: Mapping[str, Role]) -> Role | None:
    """The highest role any of ``groups`` is given (None: no group has one)."""
    return max((roles[group] for group in groups if group in roles), key=lambda role: role.rank, default=None)


def _run_at_idp(settings: DashboardSettings, work: Callable[[OidcClient], Any]) -> Any:
    """``work(client)`` on a client of its own: a sign-in is rare, and the dashboard's server threads
    have no event loop (this one is made and closed here)."""
    async def run() -> Any:
        async with httpx.AsyncClient(timeout=IDP_TIMEOUT_S, follow_redirects=False) as http:
            secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None
            assert settings.oidc_issuer is not None and settings.oidc_client_id is not None
            client = OidcClient(settings.oidc_issuer, settings.oidc_client_id, secret, settings.oidc_scopes, http)
            return await work(client)
    return asyncio.run(run())


def install_sso(server: Flask, settings: DashboardSettings, engine: Engine, registry: SessionRegistry,
                session_key: str, refused_page: Callable[[str, str, int], Response]) -> None:
    """Add /sso/start and /sso/callback to ``server``; ``session_key`` is where the gate looks for
    the session id, ``refused_page(message, next, status)`` the sign-in form with an error."""
    redirect_uri = f"{settings.public_url}{CALLBACK_PATH}"

    def start() -> BaseResponse:
        target = safe_next(request.args.get("next", "/"))
        pending = {"state": secrets.token_urlsafe(24), "nonce": secrets.token_urlsafe(24),
                   "verifier": secrets.token_urlsafe(48), "next": target, "at": time.time()}
        try:
            url = _run_at_idp(settings, lambda client: client.authorization_url(
                redirect_uri=redirect_uri, state=pending["state"], nonce=pending["nonce"],
                verifier=pending["verifier"]))
        except IdpUnavailable as error:
            log.warning("dashboard SSO: the IdP is unavailable: %s", error)
            return refused_page(f"The company sign-in is unavailable ({error}); try again later, or sign in with "
                                "a dashboard password.", target, 503)
        session[_PENDING] = pending
        return redirect(url)

    def callback() -> BaseResponse:
        pending = session.pop(_PENDING, None)
        address = request.remote_addr or "unknown"
        if not isinstance(pending, dict) or time.time() - float(pending.get("at", 0)) > PENDING_TTL_S:
            return refused_page("That sign-in expired or was started in another browser; start again.", "/", 400)
        target = safe_next(str(pending.get("next", "/")))
        state = request.args.get("state", "")
        if not secrets.compare_digest(state.encode(), str(pending["state"]).encode()):
            record(engine, "dashboard.sign_in_failed", "(sso)", {"address": address, "via": "sso",
                                                                 "reason": "state does not match"})
            return refused_page("That sign-in answer does not belong to this browser; start again.", target, 400)
        if "error" in request.args:
            said = request.args.get("error", "")[:64]
            return refused_page(f"The company sign-in said no ({html.escape(said)}).", target, 403)
        code = request.args.get("code", "")
        if not code or len(code) > 4096:
            return refused_page("The company sign-in sent no code back; start again.", target, 400)

        async def redeem(client: OidcClient) -> dict[str, Any]:
            tokens = await client.exchange_code(code=code, verifier=str(pending["verifier"]), redirect_uri=redirect_uri)
            id_token = tokens.get("id_token")
            if not isinstance(id_token, str):
                raise IdTokenInvalid("the IdP answered without an ID token")
            return await client.verify_id_token(id_token, nonce=str(pending["nonce"]))

        try:
            claims = _run_at_idp(settings, redeem)
            identity = identity_from_claims(claims, developer_claim=settings.oidc_developer_claim,
                                            groups_claim=settings.oidc_groups_claim)
        except IdpUnavailable as error:
            log.warning("dashboard SSO: the IdP is unavailable: %s", error)
            return refused_page(f"The company sign-in is unavailable ({error}); try again later.", target, 503)
        except (IdpRefused, IdTokenInvalid, IdentityProblem) as error:
            log.info("dashboard SSO refused from %s: %s", address, error)
            record(engine, "dashboard.sign_in_failed", "(sso)", {"address": address, "via": "sso",
                                                                 "reason": str(error)[:200]})
            return refused_page(f"The sign-in could not be completed: {error}.", target, 403)
        return _admit(identity, target, address)

    def _admit(identity: Identity, target: str, address: str) -> BaseResponse:
        problem = admission_problem(identity, allowed_domains=settings.oidc_allowed_email_domains,
                                    allowed_groups=settings.oidc_allowed_groups)
        role = best_role(identity.groups, settings.sso_roles)
        if problem is None and role is None:
            problem = "none of your groups has a dashboard role (SWITCHYARD_DASHBOARD_SSO_ROLES)"
        if problem is not None or role is None:
            record(engine, "dashboard.sign_in_failed", identity.developer,
                   {"address": address, "via": "sso", "reason": problem, "groups": list(identity.groups)})
            return refused_page(f"{identity.developer} may not use the dashboard: {problem}.", target, 403)
        if not record(engine, "dashboard.sign_in", identity.developer,
                      {"address": address, "role": role.value, "via": "sso", "groups": list(identity.groups)}):
            return refused_page("The sign-in could not be recorded; try again later.", target, 503)
        session.clear()
        session.permanent = True
        session[session_key] = registry.start(identity.developer, role=role.value)
        log.info("dashboard sign-in through the IdP: %s (%s) from %s", identity.developer, role.value, address)
        return redirect(target)

    server.add_url_rule(START_PATH, "sso_start", start, methods=["GET"])
    server.add_url_rule(CALLBACK_PATH, "sso_callback", callback, methods=["GET"])


def sso_link(target: str) -> str:
    return f"{START_PATH}?next={quote(target, safe='')}"
