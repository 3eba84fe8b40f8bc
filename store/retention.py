"""Retention: delete turns, log events and rollups older than a cut-off.

The cut-off is floored to the hour so a rollup row is deleted exactly when all the turns it sums
are: the rollup stays equal to an aggregate over the turns that remain.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete

from store.schema import logs, rollup_hourly, turns

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> timedelta:
    """'90d', '12h', '2w', '30m', '45s' → timedelta. Raises ValueError otherwise."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"not a duration: {text!r} (expected e.g. 90d, 12h, 2w)")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def purge_cutoff(older_than: timedelta, now: datetime | None = None) -> datetime:
    """Naive UTC; a naive ``now`` is taken as UTC (like every stored time)."""
    moment = now or datetime.now(UTC)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    moment -= older_than
    return moment.replace(minute=0, second=0, microsecond=0)


def purge(engine: Engine, older_than: timedelta, *, now: datetime | None = None) -> int:
    """Delete everything older than ``now - older_than`` (floored to the hour) in one transaction;
    returns the number of rows deleted across turns, logs and rollups."""
    if older_than < timedelta(0):
        raise ValueError("older_than must not be negative")
    cutoff = purge_cutoff(older_than, now)
    with engine.begin() as connection:
        deleted = connection.execute(delete(turns).where(turns.c.started_at < cutoff)).rowcount
        deleted += connection.execute(delete(logs).where(logs.c.timestamp < cutoff)).rowcount
        deleted += connection.execute(delete(rollup_hourly).where(rollup_hourly.c.hour < cutoff)).rowcount
    return deleted
