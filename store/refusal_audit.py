"""Refusals of unauthenticated requests (a wrong admin token, a forged sign-in form), audited
without letting a flood fill the audit log: the first refusal after a quiet interval writes an
entry carrying how many were refused since the previous entry, and from which addresses (the
busiest few by name, the rest as a count); refusals within the interval are only counted and ride
on the next entry. So one counter adds at most one entry per interval, whatever the rate, the
number of addresses or the attacker's patience; memory stays bounded by ``max_addresses``."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from store.audit import append, audited
from store.audit_trust import AuditKeyError

ANONYMOUS = "anonymous"
log = logging.getLogger(__name__)


class AggregatedRefusals:
    """Counts refusals of one kind (``action``) and audits them at most once per ``interval``;
    safe across threads. ``refused`` never raises for the database: the refusal still goes out."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime], interval: timedelta, *, action: str,
                 max_addresses: int = 10) -> None:
        self._engine, self._clock, self._interval, self._action = engine, clock, interval, action
        self._max_addresses = max_addresses
        self._lock = threading.Lock()
        self._count = 0
        self._since: datetime | None = None
        self._addresses: Counter[str] = Counter()
        self._other_addresses = 0
        self._last_written: datetime | None = None

    def refused(self, subject: str, address: str | None, detail: Mapping[str, Any]) -> None:
        now = self._clock()
        where = address or "unknown"
        with self._lock:
            self._count += 1
            self._since = self._since or now
            if where in self._addresses or len(self._addresses) < self._max_addresses:
                self._addresses[where] += 1
            else:
                self._other_addresses += 1
            if self._last_written is not None and now - self._last_written < self._interval:
                return
            count, since, addresses, others = self._count, self._since, dict(self._addresses), self._other_addresses
            self._count, self._since, self._last_written = 0, None, now
            self._addresses, self._other_addresses = Counter(), 0
        entry = {**detail, "refused": count, "since": since.isoformat(timespec="seconds"), "last_address": address,
                 "addresses": addresses, "other_addresses": others}
        try:
            audited(self._engine, lambda connection: append(
                connection, at=now, actor=ANONYMOUS, action=self._action, subject=subject, detail=entry))
        except (SQLAlchemyError, AuditKeyError, OSError) as error:
            log.warning("could not audit %d refusals (%s): %s", count, self._action, error)
