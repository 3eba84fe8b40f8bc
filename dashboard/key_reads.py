"""The Keys page's list: every virtual key in the database (store.keys, never a salt or hash), with
its allowed repos and its last use.

Turns do not record which key sent them, only the developer the key names; so a key's last use is
the newest turn of its developer while the key was valid (from its creation to its revocation). A
developer with two valid keys shows the same turn on both. Each is one index lookup on
``(developer, started_at)``, so the list costs one small query per key, whatever the turn count.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select

from store.keys import StoredKey, list_keys
from store.schema import turns

MAX_LISTED = 2_000  # newest first; an install with more keys than this pages them through the admin API


def _repos(stored: StoredKey) -> str:
    repos = stored.record.repos
    if repos is None:
        return "any (no list: unverified)"
    return "any (*)" if repos == ("*",) else ", ".join(repos)


def last_turns(engine: Engine, keys: list[StoredKey]) -> dict[str, datetime | None]:
    """key id → the newest turn of its developer while it was valid (None: none)."""
    found: dict[str, datetime | None] = {}
    with engine.connect() as connection:
        for stored in keys:
            created = datetime.fromisoformat(stored.record.created_at).replace(tzinfo=None)
            query = select(func.max(turns.c.started_at)).where(turns.c.developer == stored.record.developer,
                                                                turns.c.started_at >= created)
            if stored.revoked_at is not None:
                query = query.where(turns.c.started_at < stored.revoked_at)
            found[stored.record.key_id] = connection.execute(query).scalar_one_or_none()
    return found


def key_rows(engine: Engine) -> list[dict[str, Any]]:
    """Grid rows, newest key first (at most MAX_LISTED)."""
    keys = list_keys(engine)[::-1][:MAX_LISTED]
    used = last_turns(engine, keys)
    rows = []
    for stored in keys:
        record, last = stored.record, used[stored.record.key_id]
        rows.append({
            "key_id": record.key_id, "developer": record.developer, "team": record.team or "",
            "repos": _repos(stored),
            "rate_limit_rpm": "unlimited" if record.rate_limit_rpm is None else f"{record.rate_limit_rpm:,} / min",
            "created": f"{record.created_at[:16].replace('T', ' ')} by {stored.created_by}",
            "state": "active" if not record.revoked else
            f"revoked {stored.revoked_at:%Y-%m-%d %H:%M} by {stored.revoked_by}" if stored.revoked_at else "revoked",
            "last_turn": "none yet" if last is None else f"{last:%Y-%m-%d %H:%M:%S}",
        })
    return rows
