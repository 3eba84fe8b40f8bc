"""The OAuth endpoints Claude Code calls itself: discovery (RFC 8414), device authorization (RFC 8628),
the token endpoint (device and refresh grants) and revocation (RFC 7009).

Unknown parameters are ignored and none beyond the grant's own is required (Claude Code sends no
``client_id`` and no ``scope``; it sends ``surface=claude_code``, recorded). Errors are RFC 6749's
``{"error", "error_description"}``; a refused refresh is ``401 invalid_grant`` (the protocol's
deprovisioning hook), an IdP that cannot be reached ``503 temporarily_unavailable`` (the client keeps
its refresh token and tries again).
"""

from __future__ import annotations

import re
import secrets

from core.identity.bearer import LEEWAY_S, TokenProblem, looks_like_jwt, mint_bearer, verify_bearer
from core.identity.claims import Identity, IdentityProblem
from core.identity.device import answer_poll, new_user_code, secret_hash
from core.identity.refresh import RefreshState, refresh_refusal
from core.identity.sealed import SealBroken, box_for, seal, unseal
from core.ratelimit import retry_after_header
from signin.context import SigninContext, log
from signin.http import Send, oauth_error, respond, respond_json
from signin.oidc import IdpRefused, IdpUnavailable, IdTokenInvalid
from store.signin import (
    StoredRefresh,
    create_grant,
    grant_by_device_code,
    mark_issued,
    note_poll,
    refresh_by_hash,
    seconds,
    spend_refresh,
    store_refresh,
    unspend_refresh,
    utc,
)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
_SURFACE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


async def discovery(ctx: SigninContext, send: Send) -> None:
    base = ctx.base
    await respond_json(send, 200, {
        "issuer": base,
        "device_authorization_endpoint": f"{base}/oauth/device_authorization",
        "token_endpoint": f"{base}/oauth/token",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "grant_types_supported": [DEVICE_GRANT, "refresh_token"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "scopes_supported": ["openid", "profile", "email"],
    })


async def device_authorization(ctx: SigninContext, form: dict[str, str], ip: str, monotonic: float,
                               send: Send) -> None:
    wait = ctx.device_throttle.take(ip, monotonic)
    if wait:
        await respond_json(send, 429, {"error": "slow_down", "error_description":
                                       "too many sign-in attempts from this network; try again shortly"},
                           [(b"retry-after", retry_after_header(wait).encode())])
        return
    surface = form.get("surface")
    surface = surface if surface is not None and _SURFACE.fullmatch(surface) else None
    settings, now = ctx.settings, ctx.now()
    for _ in range(5):  # a user code still held by a live grant: draw another
        device_code, user_code = secrets.token_urlsafe(32), new_user_code(secrets.randbelow)
        created = await ctx.db(create_grant, device_code_hash=secret_hash(device_code), user_code=user_code,
                               box=box_for(device_code), now=utc(now),
                               expires_at=utc(now + settings.signin_device_code_ttl_s),
                               interval_s=settings.signin_poll_interval_s, client_ip=ip, surface=surface)
        if created:
            break
    else:
        await oauth_error(send, "temporarily_unavailable", "no free user code; try again", 503)
        return
    log.info("device code issued to %s (surface %s)", ip, surface)
    await respond_json(send, 200, {
        "device_code": device_code, "user_code": user_code,
        "verification_uri": f"{ctx.base}/device",
        "verification_uri_complete": f"{ctx.base}/device?user_code={user_code}",
        "expires_in": settings.signin_device_code_ttl_s, "interval": settings.signin_poll_interval_s,
    })


async def token(ctx: SigninContext, form: dict[str, str], send: Send) -> None:
    grant_type = form.get("grant_type")
    if grant_type == DEVICE_GRANT:
        await _device_grant(ctx, form, send)
    elif grant_type == "refresh_token":
        await _refresh_grant(ctx, form, send)
    elif not grant_type:
        await oauth_error(send, "invalid_request", "grant_type is required")
    else:
        await oauth_error(send, "unsupported_grant_type", "this server issues tokens for the device_code and "
                                                          "refresh_token grants only")


async def _issue(ctx: SigninContext, identity: Identity, *, sid: str, idp_refresh: str | None,
                 session_ends_at: float, now: float, replaces: str | None = None) -> dict[str, object]:
    refresh = secrets.token_urlsafe(32)
    await ctx.db(store_refresh, token_hash=secret_hash(refresh), sid=sid, identity=identity, now=utc(now),
                 session_ends_at=utc(session_ends_at),
                 idp_refresh_sealed=seal(box_for(refresh), idp_refresh) if idp_refresh else None, replaces=replaces)
    ttl = max(1, min(ctx.settings.signin_token_ttl_s, int(session_ends_at - now)))
    access = mint_bearer(identity, key=ctx.keys.current, issuer=ctx.base, audience=ctx.base, now=int(now),
                         ttl_s=ttl, jti=secrets.token_urlsafe(16), sid=sid)
    return {"access_token": access, "token_type": "Bearer", "expires_in": ttl, "refresh_token": refresh}


async def _device_grant(ctx: SigninContext, form: dict[str, str], send: Send) -> None:
    device_code = form.get("device_code")
    if not device_code:
        await oauth_error(send, "invalid_request", "device_code is required")
        return
    code_hash, now = secret_hash(device_code), ctx.now()
    stored = await ctx.db(grant_by_device_code, code_hash)
    answer = answer_poll(stored.grant if stored is not None else None, now)
    if answer.error is not None:
        if stored is not None and answer.error in ("authorization_pending", "slow_down"):
            await ctx.db(note_poll, code_hash, now=utc(now), interval_s=answer.interval_s)
        await oauth_error(send, answer.error, answer.description)
        return
    assert stored is not None and stored.identity is not None
    if not await ctx.db(mark_issued, code_hash):  # another poll of the same code got there first
        await oauth_error(send, "invalid_grant", "this device code was already used")
        return
    idp_refresh = None
    if stored.idp_refresh_sealed is not None:
        try:
            idp_refresh = unseal(device_code, stored.idp_refresh_sealed)
        except SealBroken:
            log.warning("a grant's sealed IdP refresh token does not open with its device code")
    tokens = await _issue(ctx, stored.identity, sid=secrets.token_urlsafe(16), idp_refresh=idp_refresh,
                          session_ends_at=now + ctx.settings.signin_session_hours * 3600, now=now)
    log.info("signed in %s (groups %s)", stored.identity.developer, ",".join(stored.identity.groups) or "none")
    await respond_json(send, 200, {**tokens, **({"email": stored.identity.email} if stored.identity.email else {})})


async def _end_sign_in(ctx: SigninContext, row: StoredRefresh, reason: str) -> None:
    await ctx.revoke(row.sid, "sid", forget_after=seconds(row.session_ends_at) + ctx.settings.signin_token_ttl_s
                     + LEEWAY_S, reason=reason)


async def _recheck_at_idp(ctx: SigninContext, row: StoredRefresh, presented: str) -> tuple[Identity, str] | str:
    """The developer as the IdP sees them now, and its new refresh token; or why the sign-in ends.
    IdpUnavailable passes through (the caller answers 503)."""
    assert row.idp_refresh_sealed is not None
    try:
        idp_refresh = unseal(presented, row.idp_refresh_sealed)
    except SealBroken:
        return "the stored sign-in does not open with this refresh token"
    try:
        answer = await ctx.oidc.refresh(idp_refresh)
    except IdpRefused as refused:
        if refused.error == "invalid_grant":
            return "the company IdP no longer signs this developer in (deprovisioned, or their session ended)"
        raise IdpUnavailable(f"the IdP refused switchyard's refresh ({refused.error}): check the client "
                             "settings") from refused
    identity = row.identity
    if isinstance(answer.get("id_token"), str):
        try:
            claims = await ctx.oidc.verify_id_token(answer["id_token"], nonce=None)
            identity = ctx.identity_of(claims)
        except IdTokenInvalid as invalid:
            raise IdpUnavailable(f"the IdP's refreshed ID token does not verify: {invalid}") from invalid
        except IdentityProblem as problem:
            return f"the developer may no longer sign in: {problem}"
        if identity.subject != row.identity.subject:
            return "the IdP answered for another user"
    new_refresh = answer.get("refresh_token")
    return identity, new_refresh if isinstance(new_refresh, str) and new_refresh else idp_refresh


async def _refresh_grant(ctx: SigninContext, form: dict[str, str], send: Send) -> None:
    presented = form.get("refresh_token")
    if not presented:
        await oauth_error(send, "invalid_request", "refresh_token is required")
        return
    token_hash, now = secret_hash(presented), ctx.now()
    row = await ctx.db(refresh_by_hash, token_hash)
    spent_by_us = False
    if row is not None and row.state is RefreshState.ACTIVE:
        spent_by_us = await ctx.db(spend_refresh, token_hash, now=utc(now))
        if not spent_by_us:  # a concurrent refresh of the same token won; judge it as it is now
            row = await ctx.db(refresh_by_hash, token_hash)
    refusal = refresh_refusal(None if row is None else row.state, None if row is None else seconds(row.session_ends_at),
                              now, None if row is None or row.used_at is None else seconds(row.used_at))
    if refusal is not None:
        if refusal.revoke_sign_in and row is not None:
            await _end_sign_in(ctx, row, "a refresh token was used twice")
        log.info("refresh refused: %s", refusal.reason)
        await oauth_error(send, "invalid_grant", refusal.reason, 401)
        return
    assert row is not None
    identity, idp_refresh = row.identity, None
    if spent_by_us and row.idp_refresh_sealed is not None:
        try:
            rechecked = await _recheck_at_idp(ctx, row, presented)
        except IdpUnavailable as unavailable:
            await ctx.db(unspend_refresh, token_hash, used_at=utc(now))
            log.warning("refresh for %s postponed: %s", row.identity.developer, unavailable)
            await oauth_error(send, "temporarily_unavailable", "the company IdP cannot be reached; try again", 503)
            return
        if isinstance(rechecked, str):
            await _end_sign_in(ctx, row, rechecked)
            log.info("refresh refused for %s: %s", row.identity.developer, rechecked)
            await oauth_error(send, "invalid_grant", rechecked, 401)
            return
        identity, idp_refresh = rechecked
    problem = ctx.admission(identity)  # the allowed domains or groups may have changed since the sign-in
    if problem is not None:
        await _end_sign_in(ctx, row, problem)
        await oauth_error(send, "invalid_grant", problem, 401)
        return
    tokens = await _issue(ctx, identity, sid=row.sid, idp_refresh=idp_refresh,
                          session_ends_at=seconds(row.session_ends_at), now=now, replaces=token_hash)
    await respond_json(send, 200, tokens)


async def revocation(ctx: SigninContext, form: dict[str, str], send: Send) -> None:
    """RFC 7009: 200 whatever the token (an unknown or invalid one included), so the answer tells a
    caller nothing; a bearer is refused from now on, a refresh token ends its whole sign-in."""
    presented = form.get("token")
    if not presented:
        await oauth_error(send, "invalid_request", "token is required")
        return
    now = ctx.now()
    if looks_like_jwt(presented):
        try:
            claims = verify_bearer(presented, keys=ctx.keys.verifying(), issuer=ctx.base, audience=ctx.base,
                                   now=int(now), allow_expired=True)
        except TokenProblem:
            claims = None
        if claims is not None:
            await ctx.revoke(claims.jti, "jti", forget_after=claims.expires_at + LEEWAY_S,
                             reason="revoked by the client")
    else:
        row = await ctx.db(refresh_by_hash, secret_hash(presented))
        if row is not None:
            await _end_sign_in(ctx, row, "signed out")
    await respond(send, 200, b"", b"text/plain; charset=utf-8")
