"""The test IdP as an aiohttp application: OIDC discovery, JWKS, authorization code + PKCE, tokens.

What a relying party meets at a real IdP, kept strict where a lax IdP would hide a relying party's
bug: PKCE (S256) is required, codes are single-use, short-lived and bound to the client, the
redirect URI and the challenge; redirect URIs match exactly; ID tokens are signed (RS256 or ES256)
with a ``kid`` from a rotating JWKS and carry ``iss aud sub email groups nonce iat exp``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
import threading
import time
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote_plus, urlencode, urlsplit

from aiohttp import web

from sim.idp_config import IdpClient, IdpConfig, IdpUser
from sim.idp_keys import ALGORITHMS, IdpKeys

SCOPES = ("openid", "email", "profile", "groups", "offline_access")


@dataclass(frozen=True)
class Authorization:
    """An /authorize request waiting for the user to sign in, then a code waiting to be redeemed."""

    client_id: str
    redirect_uri: str
    scope: str
    state: str | None
    nonce: str | None
    code_challenge: str
    created: float
    username: str = ""


class IdpState:
    """Users (changeable while running: disable, regroup), pending logins, codes and tokens."""

    def __init__(self, config: IdpConfig) -> None:
        self.config = config
        self.keys = IdpKeys(config.alg, config.keep_keys)
        self._lock = threading.Lock()
        self._users = {u.username: u for u in config.users}
        self._disabled: set[str] = set()
        self.pending: dict[str, Authorization] = {}
        self.codes: dict[str, Authorization] = {}
        self.access_tokens: dict[str, tuple[str, float]] = {}  # token -> (username, expiry)
        self.refresh_tokens: dict[str, tuple[str, str]] = {}  # token -> (username, client_id)
        self.authorize_requests: list[dict[str, str]] = []  # what relying parties sent, for tests
        self.issuer = ""

    def user(self, username: str) -> IdpUser | None:
        with self._lock:
            return None if username in self._disabled else self._users.get(username)

    def disable(self, username: str) -> None:
        """Deprovision: the user can no longer sign in or refresh."""
        with self._lock:
            self._disabled.add(username)

    def enable(self, username: str) -> None:
        with self._lock:
            self._disabled.discard(username)

    def set_groups(self, username: str, groups: tuple[str, ...]) -> None:
        with self._lock:
            self._users[username] = replace(self._users[username], groups=groups)

    def client(self, client_id: str) -> IdpClient | None:
        return next((c for c in self.config.clients if c.client_id == client_id), None)

    def id_token(self, user: IdpUser, client_id: str, nonce: str | None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": client_id, "azp": client_id, "sub": user.subject,
            "email": user.email, "email_verified": True, "name": user.name or user.username,
            "preferred_username": user.username, self.config.groups_claim: list(user.groups),
            "iat": now, "auth_time": now, "exp": now + self.config.id_token_ttl_s,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        claims.update(self.config.extra_claims)
        return self.keys.sign(claims)


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def _redirect_allowed(client: IdpClient, uri: str) -> bool:
    if client.redirect_uris:
        return uri in client.redirect_uris
    parts = urlsplit(uri)
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")


def _page(title: str, body: str, status: int = 200) -> web.Response:
    text = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1>{body}</body></html>")
    return web.Response(text=text, status=status, content_type="text/html",
                        headers={"cache-control": "no-store"})


def _token_error(error: str, description: str, status: int = 400) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status,
                             headers={"cache-control": "no-store"})


class IdpService:
    def __init__(self, state: IdpState) -> None:
        self.state = state

    async def discovery(self, request: web.Request) -> web.Response:
        issuer = self.state.issuer
        return web.json_response({
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token",
            "userinfo_endpoint": f"{issuer}/userinfo",
            "jwks_uri": f"{issuer}/jwks",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": list(ALGORITHMS),
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "scopes_supported": list(SCOPES),
            "claims_supported": ["sub", "email", "email_verified", "name", "preferred_username",
                                 self.state.config.groups_claim, "nonce"],
        })

    async def jwks(self, request: web.Request) -> web.Response:
        return web.json_response(self.state.keys.jwks())

    async def authorize(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.state.authorize_requests.append(query)
        client = self.state.client(query.get("client_id", ""))
        redirect_uri = query.get("redirect_uri", "")
        # Never redirect to an unverified URI: an open redirector would hand codes to anyone.
        if client is None:
            return _page("Sign-in error", "<p>unknown client_id</p>", 400)
        if not _redirect_allowed(client, redirect_uri):
            return _page("Sign-in error", "<p>redirect_uri is not registered for this client</p>", 400)
        state = query.get("state")

        def back(error: str, description: str) -> web.Response:
            params = {"error": error, "error_description": description, "iss": self.state.issuer}
            if state is not None:
                params["state"] = state
            raise web.HTTPFound(f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{urlencode(params)}")

        if query.get("response_type") != "code":
            return back("unsupported_response_type", "only response_type=code")
        if "openid" not in query.get("scope", "").split():
            return back("invalid_scope", "scope must include openid")
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return back("invalid_request", "PKCE with code_challenge_method=S256 is required")
        tx = secrets.token_urlsafe(16)
        self.state.pending[tx] = Authorization(client.client_id, redirect_uri, query["scope"], state,
                                               query.get("nonce"), query["code_challenge"], time.time())
        return self._login_form(tx)

    def _login_form(self, tx: str, error: str = "", status: int = 200) -> web.Response:
        note = f"<p class='error'>{html.escape(error)}</p>" if error else ""
        return _page("Test IdP sign-in", f"""{note}
<form method="post" action="/login">
  <input type="hidden" name="tx" value="{html.escape(tx)}">
  <label>Username <input name="username" autocomplete="username"></label>
  <label>Password <input name="password" type="password" autocomplete="current-password"></label>
  <button type="submit">Sign in</button>
</form>""", status)

    async def login(self, request: web.Request) -> web.Response:
        form = await request.post()
        tx = str(form.get("tx", ""))
        pending = self.state.pending.get(tx)
        if pending is None or time.time() - pending.created > 600:
            return _page("Sign-in error", "<p>this sign-in expired; start again</p>", 400)
        user = self.state.user(str(form.get("username", "")))
        if user is None or not hmac.compare_digest(user.password, str(form.get("password", ""))):
            return self._login_form(tx, "wrong username or password", 401)
        del self.state.pending[tx]
        code = secrets.token_urlsafe(24)
        self.state.codes[code] = replace(pending, username=user.username, created=time.time())
        params = {"code": code, "iss": self.state.issuer}
        if pending.state is not None:
            params["state"] = pending.state
        sep = "&" if "?" in pending.redirect_uri else "?"
        raise web.HTTPFound(f"{pending.redirect_uri}{sep}{urlencode(params)}")

    def _client_auth(self, request: web.Request, form: Any) -> IdpClient | None:
        client_id, secret = str(form.get("client_id", "")), form.get("client_secret")
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:]).decode()
            except ValueError:
                return None
            raw_id, _, raw_secret = decoded.partition(":")
            client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        client = self.state.client(client_id)
        if client is None:
            return None
        if client.client_secret is None:
            return client
        return client if secret is not None and hmac.compare_digest(client.client_secret, str(secret)) else None

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        client = self._client_auth(request, form)
        if client is None:
            return _token_error("invalid_client", "client authentication failed", 401)
        grant = form.get("grant_type")
        if grant == "authorization_code":
            return self._redeem_code(client, form)
        if grant == "refresh_token":
            return self._refresh(client, str(form.get("refresh_token", "")))
        return _token_error("unsupported_grant_type", f"grant_type {grant!r} is not supported")

    def _redeem_code(self, client: IdpClient, form: Any) -> web.Response:
        auth = self.state.codes.pop(str(form.get("code", "")), None)  # single use, whatever happens next
        if auth is None or time.time() - auth.created > self.state.config.code_ttl_s:
            return _token_error("invalid_grant", "unknown, used or expired code")
        if auth.client_id != client.client_id or auth.redirect_uri != form.get("redirect_uri"):
            return _token_error("invalid_grant", "code was issued to another client or redirect_uri")
        verifier = str(form.get("code_verifier", ""))
        if not verifier or not hmac.compare_digest(_s256(verifier), auth.code_challenge):
            return _token_error("invalid_grant", "PKCE verification failed")
        user = self.state.user(auth.username)
        if user is None:
            return _token_error("invalid_grant", "the user is disabled")
        return self._tokens(user, client, auth.nonce, "offline_access" in auth.scope.split(), auth.scope)

    def _refresh(self, client: IdpClient, token: str) -> web.Response:
        found = self.state.refresh_tokens.pop(token, None)
        if found is None or found[1] != client.client_id:
            return _token_error("invalid_grant", "unknown refresh token")
        user = self.state.user(found[0])
        if user is None:
            return _token_error("invalid_grant", "the user is disabled")
        return self._tokens(user, client, None, True, "openid email profile groups offline_access")

    def _tokens(self, user: IdpUser, client: IdpClient, nonce: str | None, offline: bool,
                scope: str) -> web.Response:
        access = secrets.token_urlsafe(24)
        ttl = self.state.config.id_token_ttl_s
        self.state.access_tokens[access] = (user.username, time.time() + ttl)
        body: dict[str, Any] = {"access_token": access, "token_type": "Bearer", "expires_in": ttl,
                                "scope": scope, "id_token": self.state.id_token(user, client.client_id, nonce)}
        if offline:
            refresh = secrets.token_urlsafe(24)
            self.state.refresh_tokens[refresh] = (user.username, client.client_id)
            body["refresh_token"] = refresh
        return web.json_response(body, headers={"cache-control": "no-store"})

    async def userinfo(self, request: web.Request) -> web.Response:
        header = request.headers.get("authorization", "")
        found = self.state.access_tokens.get(header[7:]) if header.lower().startswith("bearer ") else None
        user = self.state.user(found[0]) if found is not None and found[1] > time.time() else None
        if user is None:
            return web.json_response({"error": "invalid_token"}, status=401,
                                     headers={"www-authenticate": 'Bearer error="invalid_token"'})
        return web.json_response({"sub": user.subject, "email": user.email, "name": user.name,
                                  self.state.config.groups_claim: list(user.groups)})


def create_idp_app(state: IdpState) -> web.Application:
    service = IdpService(state)
    app = web.Application()
    app.router.add_get("/.well-known/openid-configuration", service.discovery)
    app.router.add_get("/jwks", service.jwks)
    app.router.add_get("/authorize", service.authorize)
    app.router.add_post("/login", service.login)
    app.router.add_post("/token", service.token)
    app.router.add_get("/userinfo", service.userinfo)
    return app
