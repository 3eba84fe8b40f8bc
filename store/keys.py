"""Virtual keys in the database: minted here (the plaintext is returned once and never stored),
listed as core.keys.KeyRecord (salted hashes, which the snapshot hands to the proxies), revoked."""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, select

from core.keys import KeyRecord, groups_from, mint_key, repos_from
from store.audit import append, audited
from store.errors import NotFoundError
from store.schema import virtual_keys

CREATE = "key.create"
REVOKE = "key.revoke"
SET_REPOS = "key.set_repos"


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A key record with who created (and revoked) it; ``record`` is what a proxy needs."""

    record: KeyRecord
    created_by: str
    revoked_at: datetime | None
    revoked_by: str | None

    def public_dict(self) -> dict[str, object]:
        """For people: everything but the salt and the hash."""
        r = self.record
        return {"key_id": r.key_id, "developer": r.developer, "team": r.team, "created_at": r.created_at,
                "rate_limit_rpm": r.rate_limit_rpm, "repos": None if r.repos is None else list(r.repos),
                "fronting_gateway": r.fronting_gateway,
                "groups": list(r.groups),
                "created_by": self.created_by, "revoked": r.revoked,
                "revoked_at": None if self.revoked_at is None else _iso(self.revoked_at),
                "revoked_by": self.revoked_by}


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _iso(moment: datetime) -> str:
    return moment.replace(tzinfo=UTC).isoformat(timespec="seconds")


def _stored(row: Row[Any]) -> StoredKey:
    record = KeyRecord(key_id=row.key_id, salt=row.salt, secret_hash=row.secret_hash, developer=row.developer,
                       team=row.team, created_at=_iso(row.created_at), revoked=row.revoked,
                       rate_limit_rpm=row.rate_limit_rpm, repos=repos_from(row.repos),
                       fronting_gateway=bool(row.fronting_gateway), groups=groups_from(row.groups))
    return StoredKey(record, row.created_by, row.revoked_at, row.revoked_by)


def create_key(engine: Engine, *, developer: str, team: str | None, actor: str, rate_limit_rpm: int | None = None,
               repos: tuple[str, ...] | None = None, fronting_gateway: bool = False, groups: tuple[str, ...] = (),
               now: datetime | None = None) -> tuple[str, StoredKey]:
    """Mint a key for ``developer``: (the plaintext, shown once; what is stored).
    ``rate_limit_rpm``: requests a minute the proxies allow it (None: unlimited); ``repos``: the
    repos it may tag (None: no list; ValueError naming a bad name); ``fronting_gateway``: a
    fronting gateway's key, which may name the developer of each request (core/fronting.py);
    ``groups``: the policy groups of its turns (none by default)."""
    if not developer:
        raise ValueError("a key needs a developer")
    if rate_limit_rpm is not None and rate_limit_rpm < 1:
        raise ValueError("rate_limit_rpm must be at least 1 (or None for unlimited)")
    at = (now or _utc_now()).replace(tzinfo=None, microsecond=0)

    def change(connection: Connection) -> tuple[str, StoredKey]:
        plaintext, record = mint_key(
            key_id=secrets.token_hex(6), secret=secrets.token_urlsafe(32).replace(".", "_"),
            salt=secrets.token_bytes(16), developer=developer, team=team, created_at=_iso(at), repos=repos,
            fronting_gateway=fronting_gateway, groups=groups)
        record = dataclasses.replace(record, rate_limit_rpm=rate_limit_rpm)
        stored_repos = None if record.repos is None else list(record.repos)
        connection.execute(virtual_keys.insert().values(
            key_id=record.key_id, salt=record.salt, secret_hash=record.secret_hash, developer=developer, team=team,
            created_at=at, created_by=actor, revoked=False, rate_limit_rpm=rate_limit_rpm, repos=stored_repos,
            fronting_gateway=fronting_gateway, groups=list(record.groups) or None))
        append(connection, at=at, actor=actor, action=CREATE, subject=record.key_id,
               detail={"developer": developer, "team": team, "rate_limit_rpm": rate_limit_rpm,
                       "repos": stored_repos, "fronting_gateway": fronting_gateway, "groups": list(record.groups)})
        return plaintext, StoredKey(record, actor, None, None)

    return audited(engine, change)


def list_keys(engine: Engine) -> list[StoredKey]:
    """Oldest first, revoked ones included."""
    query = select(virtual_keys).order_by(virtual_keys.c.created_at, virtual_keys.c.key_id)
    with engine.connect() as connection:
        return [_stored(row) for row in connection.execute(query)]


def key_records(engine: Engine) -> list[KeyRecord]:
    return [stored.record for stored in list_keys(engine)]


def revoke_key(engine: Engine, key_id: str, *, actor: str, now: datetime | None = None) -> StoredKey:
    """Revoke a key; revoking a revoked key changes nothing (and records nothing)."""

    def change(connection: Connection) -> StoredKey:
        row = connection.execute(select(virtual_keys).where(virtual_keys.c.key_id == key_id)).first()
        if row is None:
            raise NotFoundError(f"no key {key_id!r}")
        if row.revoked:
            return _stored(row)
        at = (now or _utc_now()).replace(tzinfo=None, microsecond=0)
        connection.execute(virtual_keys.update().where(virtual_keys.c.key_id == key_id)
                           .values(revoked=True, revoked_at=at, revoked_by=actor))
        append(connection, at=at, actor=actor, action=REVOKE, subject=key_id,
               detail={"developer": row.developer, "team": row.team})
        updated = connection.execute(select(virtual_keys).where(virtual_keys.c.key_id == key_id)).one()
        return _stored(updated)

    return audited(engine, change)


def set_key_repos(engine: Engine, key_id: str, repos: tuple[str, ...] | None, *, actor: str,
                  now: datetime | None = None) -> StoredKey:
    """Replace the repos a key may tag (None: no list), audited with the old and the new list;
    setting the list it already has changes nothing (and records nothing)."""
    wanted = repos_from(None if repos is None else list(repos))

    def change(connection: Connection) -> StoredKey:
        row = connection.execute(select(virtual_keys).where(virtual_keys.c.key_id == key_id)).first()
        if row is None:
            raise NotFoundError(f"no key {key_id!r}")
        before = repos_from(row.repos)
        if before == wanted:
            return _stored(row)
        at = (now or _utc_now()).replace(tzinfo=None, microsecond=0)
        stored_repos = None if wanted is None else list(wanted)
        connection.execute(virtual_keys.update().where(virtual_keys.c.key_id == key_id).values(repos=stored_repos))
        append(connection, at=at, actor=actor, action=SET_REPOS, subject=key_id,
               detail={"developer": row.developer, "before": None if before is None else list(before),
                       "after": stored_repos})
        return _stored(connection.execute(select(virtual_keys).where(virtual_keys.c.key_id == key_id)).one())

    return audited(engine, change)
