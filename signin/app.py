"""The sign-in service as one ASGI app, served on the proxy's base URL (the proxy hands it the paths in
:data:`PATHS`), plus the background loop that keeps it current: revocations published to the proxy's
bearer check every few seconds, signing keys rotated, expired rows forgotten.

Paths are the ones Anthropic's own gateway serves (``claude gateway``, read off its ``/protocol`` and
discovery document), so a developer's ``/login`` finds them where it looks; ``/oauth/revoke`` and
``/device/approve`` are ours (that gateway has no revocation, and signs in without a separate approval).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import Engine

from core.identity.bearer import LEEWAY_S
from signin import oauth, pages, verification
from signin.context import SigninContext
from signin.http import BadRequest, Receive, Scope, Send, client_ip, oauth_error, read_form, respond
from signin.keys_file import load_or_create, rotate_if_due
from signin.oidc import OidcClient
from signin.settings import SigninSettings
from store.signin import forget_expired, utc

log = logging.getLogger("switchyard.signin")
DISCOVERY = "/.well-known/oauth-authorization-server"
_OAUTH_POST = frozenset({"/oauth/device_authorization", "/oauth/token", "/oauth/revoke"})
_PAGE_POST = frozenset({"/device", "/device/deny", "/device/approve"})
PATHS = frozenset({DISCOVERY, "/oauth/callback", *_OAUTH_POST, *_PAGE_POST})
REVOCATIONS_EVERY_S = 5.0
MAINTENANCE_EVERY_S = 600.0
IDP_TIMEOUT_S = 10.0


class SigninApp:
    def __init__(self, settings: SigninSettings, *, engine: Engine, http: httpx.AsyncClient | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if not settings.enabled:
            raise ValueError("sign-in is off: set SWITCHYARD_OIDC_ISSUER")
        assert settings.oidc_issuer is not None and settings.oidc_client_id is not None
        self.settings = settings
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(timeout=IDP_TIMEOUT_S, follow_redirects=False)
        secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None
        oidc = OidcClient(settings.oidc_issuer, settings.oidc_client_id, secret, settings.oidc_scopes, self._http)
        keys = load_or_create(settings.keys_file, settings.signin_key_alg, int(clock()))
        self.ctx = SigninContext(settings, engine, oidc, keys, clock)

    @property
    def keys_file(self) -> Path:
        return self.settings.keys_file

    def on_revocations(self, sink: Callable[[frozenset[str]], None]) -> None:
        """Where the set of revoked token and sign-in ids goes each time it is loaded (the proxy's
        bearer check)."""
        self.ctx.on_revocations = sink

    @staticmethod
    def serves(path: str) -> bool:
        return path in PATHS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        ctx = self.ctx
        try:
            if path == DISCOVERY and method in ("GET", "HEAD"):
                await oauth.discovery(ctx, send)
            elif path == "/device" and method == "GET":
                await verification.show_code_form(ctx, scope, send)
            elif path == "/oauth/callback" and method == "GET":
                await verification.callback(ctx, scope, send)
            elif method == "POST" and path in _OAUTH_POST:
                await self._oauth_post(path, scope, await read_form(scope, receive), send)
            elif method == "POST" and path in _PAGE_POST:
                await self._page_post(path, scope, await read_form(scope, receive), send)
            else:
                allowed = (b"GET, POST" if path == "/device" else
                           b"POST" if path in _OAUTH_POST or path in _PAGE_POST else b"GET")
                await respond(send, 405, b"method not allowed", b"text/plain", [(b"allow", allowed)])
        except BadRequest as bad:
            if path in _OAUTH_POST:
                await oauth_error(send, "invalid_request", bad.message, bad.status)
            else:
                await respond(send, bad.status, pages.failure("Bad request", bad.message), b"text/html; charset=utf-8")
        except Exception as error:  # the boundary: log it, answer 500 without details
            log.exception("sign-in endpoint %s %s failed: %s", method, path, type(error).__name__)
            if path in _OAUTH_POST or path == DISCOVERY:
                await oauth_error(send, "server_error", "the sign-in service failed; try again", 500)
            else:
                await respond(send, 500, pages.failure("Something went wrong", "Try again in a minute."),
                              b"text/html; charset=utf-8")

    async def _oauth_post(self, path: str, scope: Scope, form: dict[str, str], send: Send) -> None:
        if path == "/oauth/token":
            await oauth.token(self.ctx, form, send)
        elif path == "/oauth/device_authorization":
            await oauth.device_authorization(self.ctx, form, client_ip(scope), time.monotonic(), send)
        else:
            await oauth.revocation(self.ctx, form, send)

    async def _page_post(self, path: str, scope: Scope, form: dict[str, str], send: Send) -> None:
        handler = {"/device": verification.start_sign_in, "/device/deny": verification.deny_code,
                   "/device/approve": verification.approve}[path]
        await handler(self.ctx, scope, form, send, time.monotonic())

    # --- background ------------------------------------------------------------------------------
    def _maintain(self) -> None:
        """Rotate the signing keys when due (another process may have: re-read either way) and forget
        what has expired. Blocking: run in a thread."""
        settings, now = self.settings, self.ctx.now()
        self.ctx.keys = rotate_if_due(settings.keys_file, int(now),
                                      rotate_after_s=int(settings.signin_key_rotation_days * 86400),
                                      keep_retired_s=settings.signin_token_ttl_s + 2 * LEEWAY_S)
        forget_expired(self.ctx.engine, utc(now), grace=timedelta(days=1))

    async def run(self) -> None:
        """The background loop (the proxy runs it while it is up); closes what it opened when cancelled."""
        last_maintenance = -MAINTENANCE_EVERY_S
        try:
            while True:
                try:
                    if time.monotonic() - last_maintenance >= MAINTENANCE_EVERY_S:
                        await asyncio.to_thread(self._maintain)
                        last_maintenance = time.monotonic()
                    await self.ctx.publish_revocations()
                except Exception as error:  # a boundary: a database hiccup must not end the loop
                    log.exception("sign-in maintenance failed (%s); retrying", type(error).__name__)
                await asyncio.sleep(REVOCATIONS_EVERY_S)
        finally:
            if self._own_http:
                await self._http.aclose()
