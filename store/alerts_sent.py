"""The alerts already announced: claim a dedup key before sending (only the process whose insert
wins sends), release an episode's key when the episode ends (see store.schema.alerts_sent)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Engine, delete, select

from store.insert_ignore import insert_ignore
from store.schema import alerts_sent

_CHUNK = 500


def claim(engine: Engine, keys: Sequence[tuple[str, str]], now: datetime) -> set[str]:
    """Insert each (key, kind) not yet present; return the keys this call inserted. Keys already
    claimed are found in one read; the others are inserted one at a time, so the answer is exact on
    both databases whatever another process does meanwhile."""
    wanted = dict(keys)
    present: set[str] = set()
    names = list(wanted)
    with engine.connect() as connection:
        for start in range(0, len(names), _CHUNK):
            chunk = names[start:start + _CHUNK]
            present.update(connection.execute(select(alerts_sent.c.key).where(alerts_sent.c.key.in_(chunk)))
                           .scalars())
    won: set[str] = set()
    for key, kind in wanted.items():
        if key in present:
            continue
        with engine.begin() as connection:
            if insert_ignore(connection, alerts_sent, [{"key": key, "kind": kind, "claimed_at": now}]):
                won.add(key)
    return won


def release(engine: Engine, keys: Iterable[str]) -> int:
    keys = list(keys)
    if not keys:
        return 0
    with engine.begin() as connection:
        return connection.execute(delete(alerts_sent).where(alerts_sent.c.key.in_(keys))).rowcount


def claimed(engine: Engine, prefix: str = "") -> set[str]:
    query = select(alerts_sent.c.key)
    if prefix:
        query = query.where(alerts_sent.c.key.startswith(prefix, autoescape=True))
    with engine.connect() as connection:
        return set(connection.execute(query).scalars())
