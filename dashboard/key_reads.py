"""The Keys page's list: every virtual key in the database (store.keys, never a salt or hash), with
its allowed repos and its last use.

Turns do not record which key sent them, only the developer the key names; so a key's last use is
the newest turn of its developer while the key was valid (from its creation to its revocation). A
developer with two valid keys shows the same turn on both. Each is one index lookup on
``(developer, started_at)``, so the list costs one small lookup per key, whatever the turn count.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, literal, select, union_all

from store.keys import StoredKey, list_keys
from store.schema import turns

MAX_LISTED = 2_000  # newest first; an install with more keys than this lists them through the admin API
LAST_USE_LIMIT = 500  # keys whose last use is looked up (newest first): ~1 ms each on a busy PostgreSQL
CHUNK = 400  # lookups in one statement (SQLite allows 500 terms in a compound SELECT)


def _repos(stored: StoredKey) -> str:
    repos = stored.record.repos
    if repos is None:
        return "any (no list: unverified)"
    return "any (*)" if repos == ("*",) else ", ".join(repos)


def last_turns(engine: Engine, keys: list[StoredKey], *, chunk: int = CHUNK) -> dict[str, datetime | None]:
    """key id → the newest turn of its developer while it was valid (None: none). One statement per
    CHUNK keys: a UNION ALL of index lookups (a round trip per key cost ~2.5 ms each on PostgreSQL)."""
    lookups = []
    for stored in keys:
        created = datetime.fromisoformat(stored.record.created_at).replace(tzinfo=None)
        lookup = (select(literal(stored.record.key_id).label("key_id"), func.max(turns.c.started_at).label("last"))
                  .where(turns.c.developer == stored.record.developer, turns.c.started_at >= created))
        if stored.revoked_at is not None:
            lookup = lookup.where(turns.c.started_at < stored.revoked_at)
        lookups.append(lookup)
    found: dict[str, datetime | None] = {}
    with engine.connect() as connection:
        for start in range(0, len(lookups), chunk):
            part = lookups[start:start + chunk]
            query = part[0] if len(part) == 1 else union_all(*part)
            found.update({key_id: last for key_id, last in connection.execute(query)})
    return found


def key_rows(engine: Engine, *, last_use_limit: int = LAST_USE_LIMIT, chunk: int = CHUNK) -> list[dict[str, Any]]:
    """Grid rows, newest key first (at most MAX_LISTED; the last use of the newest ``last_use_limit``)."""
    keys = list_keys(engine)[::-1][:MAX_LISTED]
    used = last_turns(engine, keys[:last_use_limit], chunk=chunk)
    rows = []
    for stored in keys:
        record = stored.record
        if record.key_id not in used:
            last_turn = f"not looked up (older than the newest {last_use_limit} keys)"
        else:
            last = used[record.key_id]
            last_turn = "none yet" if last is None else f"{last:%Y-%m-%d %H:%M:%S}"
        rows.append({
            "key_id": record.key_id, "developer": record.developer, "team": record.team or "",
            "repos": _repos(stored),
            "rate_limit_rpm": "unlimited" if record.rate_limit_rpm is None else f"{record.rate_limit_rpm:,} / min",
            "created": f"{record.created_at[:16].replace('T', ' ')} by {stored.created_by}",
            "state": "active" if not record.revoked else
            f"revoked {stored.revoked_at:%Y-%m-%d %H:%M} by {stored.revoked_by}" if stored.revoked_at else "revoked",
            "last_turn": last_turn,
        })
    return rows
