"""Refused admin and snapshot tokens, audited without letting a guesser fill the audit log
(``store.refusal_audit``): at most one ``admin.token_refused`` entry per interval per ingest
process, carrying how many were refused since the previous one and from where; each refusal is
also counted on ``/metrics`` (``switchyard_ingest_tokens_refused``, by token kind)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from prometheus_client import Counter
from sqlalchemy import Engine

from store.refusal_audit import ANONYMOUS, AggregatedRefusals

REFUSED = "admin.token_refused"
ACTOR = ANONYMOUS


class RefusedTokens:
    """Counts refused tokens and audits them at most once per ``interval``; safe across threads."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime], interval: timedelta,
                 counter: Counter | None = None) -> None:
        self._audit = AggregatedRefusals(engine, clock, interval, action=REFUSED)
        self._counter = counter

    def refused(self, what: str, address: str | None) -> None:
        if self._counter is not None:
            self._counter.labels(what).inc()
        self._audit.refused(f"{what} token", address, {"last_token_kind": what})
