"""The verification page, where the human finishes a ``/login`` in their browser: enter the code, sign in
at the company's IdP (authorization code + PKCE), approve.

Defences, each against a named attack:
* cross-site forgery: every POST must come from this site (``Sec-Fetch-Site``, else ``Origin``; neither
  is refused), and the approval also needs a one-time token bound to the browser that signed in;
* code guessing (RFC 8628 §5.1): submissions are rate-limited per client IP;
* a phished code (§5.4): nothing is submitted for the human (no script), the approval page shows when
  and from where the code was asked for, and "This was not me" denies it;
* a stolen callback URL: the sign-in state is single-use and bound to the browser's cookie.
An IdP that cannot be reached is said so, with how long the code stays valid; nothing else breaks.
"""

from __future__ import annotations

import hmac
import secrets

from core.identity.claims import IdentityProblem
from core.identity.device import GrantStatus, normalize_user_code, secret_hash
from core.identity.sealed import seal
from core.ratelimit import retry_after_header
from signin import pages
from signin.context import SigninContext, log
from signin.http import Scope, Send, client_ip, cookie, headers_of, query, respond
from signin.oidc import IdpRefused, IdpUnavailable, IdTokenInvalid
from store.signin import (
    StoredGrant,
    begin_login,
    decide,
    deny,
    grant_by_state,
    grant_by_user_code,
    record_sign_in,
    utc,
)

COOKIE = "sy_signin"
LIVE = (GrantStatus.PENDING, GrantStatus.SIGNED_IN)


async def _html(ctx: SigninContext, send: Send, status: int, body: bytes,
                extra: list[tuple[bytes, bytes]] | None = None) -> None:
    await respond(send, status, body, b"text/html; charset=utf-8",
                  pages.security_headers(ctx.idp_origin) + (extra or []))


def _cookie_header(ctx: SigninContext, value: str, max_age: int) -> tuple[bytes, bytes]:
    secure = "; Secure" if ctx.base.startswith("https://") else ""
    return b"set-cookie", f"{COOKIE}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax{secure}".encode()


def _same_site(ctx: SigninContext, headers: dict[str, str]) -> bool:
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = headers.get("origin")
    return origin is not None and origin.rstrip("/") == ctx.public_origin


def _browser_matches(headers: dict[str, str], grant: StoredGrant) -> bool:
    presented = cookie(headers, COOKIE)
    return (presented is not None and grant.browser_hash is not None
            and hmac.compare_digest(secret_hash(presented), grant.browser_hash))


async def _guard(ctx: SigninContext, scope: Scope, send: Send, monotonic: float) -> bool:
    """The checks every POST passes first; False when it was refused (and answered)."""
    if not _same_site(ctx, headers_of(scope)):
        log.info("verification POST from another site refused (%s)", client_ip(scope))
        await _html(ctx, send, 403, pages.failure(
            "Blocked", "This request came from another site and was blocked. Open the verification link directly."))
        return False
    wait = ctx.verify_throttle.take(client_ip(scope), monotonic)
    if wait:
        await _html(ctx, send, 429, pages.failure(
            "Too many attempts", "Too many attempts came from your network, which other people may share. "
                                 "Wait a minute and try again."),
            [(b"retry-after", retry_after_header(wait).encode())])
        return False
    return True


async def _live_grant(ctx: SigninContext, raw_code: str) -> StoredGrant | None:
    code = normalize_user_code(raw_code)
    grant = await ctx.db(grant_by_user_code, code) if code is not None else None
    if grant is None or grant.grant.status not in LIVE or ctx.now() >= grant.grant.expires_at:
        return None
    return grant


_UNKNOWN = "That code was not recognized: it may have expired or been used. Check your terminal and try again."


def _unreachable(ctx: SigninContext, grant: StoredGrant | None) -> bytes:
    until = ""
    if grant is not None:
        until = f" Your code stays valid until {utc(grant.grant.expires_at).strftime('%H:%M UTC')}."
    return pages.failure("Sign-in is unavailable right now",
                         f"The company sign-in service ({ctx.oidc.where}) cannot be reached.{until} Try again in a "
                         "minute. Developers who are already signed in keep working.", retry=True)


async def show_code_form(ctx: SigninContext, scope: Scope, send: Send) -> None:
    prefill = normalize_user_code(query(scope).get("user_code", "")) or ""
    await _html(ctx, send, 200, pages.enter_code(prefill))


async def start_sign_in(ctx: SigninContext, scope: Scope, form: dict[str, str], send: Send, monotonic: float) -> None:
    if not await _guard(ctx, scope, send, monotonic):
        return
    grant = await _live_grant(ctx, form.get("user_code", ""))
    if grant is None:
        await _html(ctx, send, 400, pages.enter_code(form.get("user_code", "")[:16], _UNKNOWN))
        return
    state, nonce, verifier, browser = (secrets.token_urlsafe(32) for _ in range(4))
    try:
        url = await ctx.oidc.authorization_url(redirect_uri=f"{ctx.base}/oauth/callback", state=state, nonce=nonce,
                                               verifier=verifier)
    except IdpUnavailable as unavailable:
        log.warning("verification page: the IdP is unavailable: %s", unavailable)
        await _html(ctx, send, 503, _unreachable(ctx, grant))
        return
    started = await ctx.db(begin_login, grant.device_code_hash, state_hash=secret_hash(state), nonce=nonce,
                           verifier=verifier, browser_hash=secret_hash(browser))
    if not started:
        await _html(ctx, send, 400, pages.enter_code("", _UNKNOWN))
        return
    ttl = max(1, int(grant.grant.expires_at - ctx.now()))
    await respond(send, 302, b"", b"text/plain", [(b"location", url.encode()), _cookie_header(ctx, browser, ttl),
                                                  *pages.security_headers(ctx.idp_origin)])


async def deny_code(ctx: SigninContext, scope: Scope, form: dict[str, str], send: Send, monotonic: float) -> None:
    if not await _guard(ctx, scope, send, monotonic):
        return
    grant = await _live_grant(ctx, form.get("user_code", ""))
    if grant is None or not await ctx.db(deny, grant.device_code_hash):
        await _html(ctx, send, 400, pages.enter_code(form.get("user_code", "")[:16], _UNKNOWN))
        return
    log.info("sign-in denied on the verification page (code asked for from %s)", grant.client_ip)
    await _html(ctx, send, 200, pages.outcome("Sign-in denied", "Nobody gets signed in with this code; the terminal "
                                                                "that asked for it stops waiting."))


async def callback(ctx: SigninContext, scope: Scope, send: Send) -> None:
    """The IdP sends the browser back here with a code (or an error)."""
    params, headers = query(scope), headers_of(scope)
    state = params.get("state", "")
    grant = await ctx.db(grant_by_state, secret_hash(state)) if state else None
    if params.get("error"):
        described = f"{params['error'][:64]}: {params.get('error_description', '')[:200]}".rstrip(": ")
        await _html(ctx, send, 400, pages.failure("The sign-in did not complete",
                                                  f"The identity provider answered: {described}", retry=True))
        return
    if grant is None or ctx.now() >= grant.grant.expires_at or grant.login_verifier is None:
        await _html(ctx, send, 400, pages.failure("This sign-in link has expired",
                                                  "It was already used, or the code expired.", retry=True))
        return
    if not _browser_matches(headers, grant):
        await _html(ctx, send, 400, pages.failure(
            "Different browser", "This sign-in was started in another browser. Open the verification link in the "
                                 "browser where you entered the code."))
        return
    try:
        answer = await ctx.oidc.exchange_code(code=params.get("code", ""), verifier=grant.login_verifier,
                                              redirect_uri=f"{ctx.base}/oauth/callback")
        id_token = answer.get("id_token")
        if not isinstance(id_token, str):
            raise IdTokenInvalid("the IdP sent no ID token (is the openid scope allowed for this client?)")
        claims = await ctx.oidc.verify_id_token(id_token, nonce=grant.login_nonce)
        identity = ctx.identity_of(claims)
    except IdpUnavailable as unavailable:
        log.warning("verification callback: the IdP is unavailable: %s", unavailable)
        await _html(ctx, send, 503, _unreachable(ctx, grant))
        return
    except IdpRefused as refused:
        await _html(ctx, send, 400, pages.failure("The identity provider refused the sign-in", str(refused),
                                                  retry=True))
        return
    except (IdTokenInvalid, IdentityProblem) as problem:
        log.warning("verification callback refused: %s", problem)
        await _html(ctx, send, 403, pages.failure("You cannot sign in here", str(problem)))
        return
    approval = secrets.token_urlsafe(32)
    idp_refresh = answer.get("refresh_token")
    sealed = seal(grant.box, idp_refresh) if isinstance(idp_refresh, str) and idp_refresh else None
    if not await ctx.db(record_sign_in, grant.device_code_hash, identity, approval_hash=secret_hash(approval),
                        idp_refresh_sealed=sealed):
        await _html(ctx, send, 400, pages.failure("This sign-in link has expired", "It was already used.", retry=True))
        return
    log.info("%s signed in at the IdP; waiting for their approval", identity.developer)
    await _html(ctx, send, 200, pages.approve(identity, grant.user_code, approval, grant.created_at, grant.client_ip))


async def approve(ctx: SigninContext, scope: Scope, form: dict[str, str], send: Send, monotonic: float) -> None:
    if not await _guard(ctx, scope, send, monotonic):
        return
    code = normalize_user_code(form.get("user_code", ""))
    grant = await ctx.db(grant_by_user_code, code) if code is not None else None
    approval = form.get("approval", "")
    valid = (grant is not None and grant.grant.status is GrantStatus.SIGNED_IN and ctx.now() < grant.grant.expires_at
             and grant.approval_hash is not None and hmac.compare_digest(secret_hash(approval), grant.approval_hash)
             and _browser_matches(headers_of(scope), grant))
    if not valid or grant is None:
        await _html(ctx, send, 400, pages.failure("This approval is no longer valid",
                                                  "The code expired, was decided already, or this page was opened "
                                                  "in another browser.", retry=True))
        return
    approved = form.get("decision") == "approve"
    if not await ctx.db(decide, grant.device_code_hash, approve=approved):
        await _html(ctx, send, 400, pages.failure("This approval is no longer valid", "It was decided already."))
        return
    log.info("sign-in %s for %s", "approved" if approved else "denied",
             grant.identity.developer if grant.identity else "?")
    clear = [_cookie_header(ctx, "", 0)]
    if approved:
        await _html(ctx, send, 200, pages.outcome("You are signed in", "Return to your terminal: Claude Code "
                                                                       "finishes signing in on its own."), clear)
    else:
        await _html(ctx, send, 200, pages.outcome("Sign-in denied", "Nobody gets signed in with this code."), clear)
