"""Sign-in state in the database: device-flow grants, refresh tokens and bearer revocations.

Every secret arrives here already hashed (core.identity.device.secret_hash) or sealed. Each state
change is one conditional UPDATE (``… WHERE status = <expected>``), so two proxies answering the same
device code or refresh token at once cannot both win: the loser sees 0 rows and answers accordingly.
Times are naive UTC datetimes (store.schema's convention); callers pass ``now`` so tests control time.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from core.identity.claims import Identity
from core.identity.device import DeviceGrant, GrantStatus
from core.identity.refresh import RefreshState
from store.schema import signin_device_grants as grants
from store.schema import signin_refresh_tokens as refresh_tokens
from store.schema import signin_revocations as revocations


@dataclass(frozen=True)
class StoredGrant:
    device_code_hash: str
    user_code: str
    grant: DeviceGrant
    created_at: datetime
    client_ip: str | None
    box: bytes
    login_nonce: str | None
    login_verifier: str | None
    browser_hash: str | None
    approval_hash: str | None
    identity: Identity | None
    idp_refresh_sealed: bytes | None


@dataclass(frozen=True)
class StoredRefresh:
    sid: str
    state: RefreshState
    session_ends_at: datetime
    used_at: datetime | None
    identity: Identity
    idp_refresh_sealed: bytes | None


def _identity(row: Row[Any]) -> Identity | None:
    if row.developer is None:
        return None
    return Identity(subject=row.subject, developer=row.developer, email=row.email, groups=tuple(row.groups or ()))


def _grant(row: Row[Any]) -> StoredGrant:
    return StoredGrant(
        row.device_code_hash, row.user_code,
        DeviceGrant(GrantStatus(row.status), seconds(row.expires_at),
                    row.interval_s, None if row.last_poll_at is None else seconds(row.last_poll_at)),
        row.created_at, row.client_ip, bytes(row.box), row.login_nonce, row.login_verifier, row.browser_hash,
        row.approval_hash, _identity(row), None if row.idp_refresh_sealed is None else bytes(row.idp_refresh_sealed))


def seconds(moment: datetime) -> float:
    """Unix seconds of a naive UTC datetime."""
    return (moment - datetime(1970, 1, 1)).total_seconds()


def utc(seconds: float) -> datetime:
    """The naive UTC datetime of Unix seconds."""
    return datetime(1970, 1, 1) + timedelta(seconds=seconds)


# --- device grants -------------------------------------------------------------------------------
def create_grant(engine: Engine, *, device_code_hash: str, user_code: str, box: bytes, now: datetime,
                 expires_at: datetime, interval_s: int, client_ip: str | None, surface: str | None) -> bool:
    """False when ``user_code`` is taken by a live grant (the caller draws another)."""
    try:
        with engine.begin() as connection:
            connection.execute(insert(grants).values(
                device_code_hash=device_code_hash, user_code=user_code, status=GrantStatus.PENDING.value,
                created_at=now, expires_at=expires_at, interval_s=interval_s, client_ip=client_ip,
                surface=surface, box=box))
    except IntegrityError:
        return False
    return True


def _one(engine: Engine, where: Any) -> StoredGrant | None:
    with engine.connect() as connection:
        row = connection.execute(select(grants).where(where)).first()
    return None if row is None else _grant(row)


def grant_by_user_code(engine: Engine, user_code: str) -> StoredGrant | None:
    return _one(engine, grants.c.user_code == user_code)


def grant_by_state(engine: Engine, state_hash: str) -> StoredGrant | None:
    return _one(engine, grants.c.login_state_hash == state_hash)


def grant_by_device_code(engine: Engine, device_code_hash: str) -> StoredGrant | None:
    return _one(engine, grants.c.device_code_hash == device_code_hash)


def _move(engine: Engine, device_code_hash: str, expected: tuple[GrantStatus, ...], **values: Any) -> bool:
    with engine.begin() as connection:
        result = connection.execute(
            update(grants)
            .where(grants.c.device_code_hash == device_code_hash,
                   grants.c.status.in_([s.value for s in expected]))
            .values(**values))
    return result.rowcount == 1


def begin_login(engine: Engine, device_code_hash: str, *, state_hash: str, nonce: str, verifier: str,
                browser_hash: str) -> bool:
    """A browser starts signing in for a pending grant (a later attempt replaces an earlier one)."""
    return _move(engine, device_code_hash, (GrantStatus.PENDING, GrantStatus.SIGNED_IN),
                 status=GrantStatus.PENDING.value, login_state_hash=state_hash, login_nonce=nonce,
                 login_verifier=verifier, browser_hash=browser_hash, approval_hash=None)


def record_sign_in(engine: Engine, device_code_hash: str, identity: Identity, *, approval_hash: str,
                   idp_refresh_sealed: bytes | None) -> bool:
    """The IdP vouched for ``identity``; the grant waits for the human's approval. The sign-in state is
    spent (a replayed callback finds nothing)."""
    return _move(engine, device_code_hash, (GrantStatus.PENDING,), status=GrantStatus.SIGNED_IN.value,
                 login_state_hash=None, login_nonce=None, login_verifier=None, approval_hash=approval_hash,
                 subject=identity.subject, developer=identity.developer, email=identity.email,
                 groups=list(identity.groups), idp_refresh_sealed=idp_refresh_sealed)


def decide(engine: Engine, device_code_hash: str, *, approve: bool) -> bool:
    status = GrantStatus.APPROVED if approve else GrantStatus.DENIED
    return _move(engine, device_code_hash, (GrantStatus.SIGNED_IN,), status=status.value, approval_hash=None)


def deny(engine: Engine, device_code_hash: str) -> bool:
    """The human refused before or after signing in."""
    return _move(engine, device_code_hash, (GrantStatus.PENDING, GrantStatus.SIGNED_IN),
                 status=GrantStatus.DENIED.value, approval_hash=None, login_state_hash=None)


def note_poll(engine: Engine, device_code_hash: str, *, now: datetime, interval_s: int) -> None:
    with engine.begin() as connection:
        connection.execute(update(grants).where(grants.c.device_code_hash == device_code_hash)
                           .values(last_poll_at=now, interval_s=interval_s))


def mark_issued(engine: Engine, device_code_hash: str) -> bool:
    """True for the one poll that gets the tokens; the sealed IdP token leaves the grant with it."""
    return _move(engine, device_code_hash, (GrantStatus.APPROVED,), status=GrantStatus.ISSUED.value,
                 idp_refresh_sealed=None)


# --- refresh tokens ------------------------------------------------------------------------------
def store_refresh(engine: Engine, *, token_hash: str, sid: str, identity: Identity, now: datetime,
                  session_ends_at: datetime, idp_refresh_sealed: bytes | None, replaces: str | None = None) -> None:
    """A new refresh token; ``replaces`` (the one it succeeds) loses its sealed IdP token, in the same
    transaction, so exactly one live row holds it."""
    with engine.begin() as connection:
        connection.execute(insert(refresh_tokens).values(
            token_hash=token_hash, sid=sid, state=RefreshState.ACTIVE.value, created_at=now,
            session_ends_at=session_ends_at, subject=identity.subject, developer=identity.developer,
            email=identity.email, groups=list(identity.groups), idp_refresh_sealed=idp_refresh_sealed))
        if replaces is not None:
            connection.execute(update(refresh_tokens).where(refresh_tokens.c.token_hash == replaces)
                               .values(idp_refresh_sealed=None))


def refresh_by_hash(engine: Engine, token_hash: str) -> StoredRefresh | None:
    with engine.connect() as connection:
        row = connection.execute(select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)).first()
    if row is None:
        return None
    identity = _identity(row)
    assert identity is not None
    return StoredRefresh(row.sid, RefreshState(row.state), row.session_ends_at, row.used_at, identity,
                         None if row.idp_refresh_sealed is None else bytes(row.idp_refresh_sealed))


def spend_refresh(engine: Engine, token_hash: str, *, now: datetime) -> bool:
    """Mark a refresh token used; False when it was not active (used or revoked meanwhile)."""
    with engine.begin() as connection:
        result = connection.execute(
            update(refresh_tokens)
            .where(refresh_tokens.c.token_hash == token_hash, refresh_tokens.c.state == RefreshState.ACTIVE.value)
            .values(state=RefreshState.ROTATED.value, used_at=now))
    return result.rowcount == 1


def unspend_refresh(engine: Engine, token_hash: str, *, used_at: datetime) -> None:
    """Give back a refresh token this request spent but could not replace (the IdP was unreachable):
    the client keeps it and tries again later."""
    with engine.begin() as connection:
        connection.execute(
            update(refresh_tokens)
            .where(refresh_tokens.c.token_hash == token_hash, refresh_tokens.c.state == RefreshState.ROTATED.value,
                   refresh_tokens.c.used_at == used_at)
            .values(state=RefreshState.ACTIVE.value, used_at=None))


# --- revocations ---------------------------------------------------------------------------------
def revoke(engine: Engine, *, token_id: str, kind: str, now: datetime, forget_after: datetime, reason: str) -> None:
    """Refuse bearer ``token_id`` (a jti) or every bearer of sign-in ``token_id`` (a sid); for a sid
    its refresh tokens are revoked too. Revoking twice is harmless."""
    with engine.begin() as connection:
        if kind == "sid":
            connection.execute(update(refresh_tokens).where(refresh_tokens.c.sid == token_id)
                               .values(state=RefreshState.REVOKED.value, idp_refresh_sealed=None))
    # Already revoked (by another request, or another proxy): the first reason stands.
    with contextlib.suppress(IntegrityError), engine.begin() as connection:
        connection.execute(insert(revocations).values(token_id=token_id, kind=kind, revoked_at=now,
                                                      forget_after=forget_after, reason=reason))


def live_revocations(engine: Engine, now: datetime) -> frozenset[str]:
    with engine.connect() as connection:
        rows = connection.execute(select(revocations.c.token_id).where(revocations.c.forget_after > now))
        return frozenset(row.token_id for row in rows)


def forget_expired(engine: Engine, now: datetime, *, grace: timedelta) -> int:
    """Delete what can no longer matter: grants past expiry, sign-ins past their end, revocations past
    their tokens' expiry (each ``grace`` later, for an operator looking into a sign-in)."""
    cutoff = now - grace
    with engine.begin() as connection:
        deleted = connection.execute(delete(grants).where(grants.c.expires_at < cutoff)).rowcount
        deleted += connection.execute(
            delete(refresh_tokens).where(refresh_tokens.c.session_ends_at < cutoff)).rowcount
        deleted += connection.execute(delete(revocations).where(revocations.c.forget_after < cutoff)).rowcount
    return int(deleted)
