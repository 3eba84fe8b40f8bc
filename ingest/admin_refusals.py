"""Refused admin and snapshot tokens, audited without letting a guesser fill the audit log: the
first refusal after a quiet interval writes an entry (``admin.token_refused``) carrying how many
were refused since the previous entry; refusals within the interval are only counted and ride on
the next entry. So the log grows by at most one entry per interval per ingest process, whatever
the rate of guesses, and each refusal is logged at debug level only."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from store.audit import append, audited
from store.audit_trust import AuditKeyError

REFUSED = "admin.token_refused"
ACTOR = "anonymous"
log = logging.getLogger(__name__)


class RefusedTokens:
    """Counts refused tokens and audits them at most once per ``interval``; safe across threads."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime], interval: timedelta) -> None:
        self._engine, self._clock, self._interval = engine, clock, interval
        self._lock = threading.Lock()
        self._count = 0
        self._since: datetime | None = None
        self._last_written: datetime | None = None

    def refused(self, what: str, address: str | None) -> None:
        now = self._clock()
        with self._lock:
            self._count += 1
            self._since = self._since or now
            if self._last_written is not None and now - self._last_written < self._interval:
                return
            count, since = self._count, self._since
            self._count, self._since, self._last_written = 0, None, now
        detail = {"refused": count, "since": since.isoformat(timespec="seconds"), "last_token_kind": what,
                  "last_address": address}
        try:
            audited(self._engine, lambda connection: append(
                connection, at=now, actor=ACTOR, action=REFUSED, subject=f"{what} token", detail=detail))
        except (SQLAlchemyError, AuditKeyError, OSError) as error:  # the 401 still goes out
            log.warning("could not audit %d refused %s tokens: %s", count, what, error)
