"""Sign-in throttling: failures are counted per user name and per client address; past a few free
ones, each further failure locks that name (or address) for a back-off that doubles, up to a cap.
While a lock runs every attempt is refused before the password is even checked, so the right
password cannot cut a lockout short (and a locked flood costs no scrypt).

Unknown user names are counted like known ones, so a lockout does not reveal which names exist.
State is in this process's memory (one dashboard process; see docs/dashboard.md), bounded: records
are forgotten once a full lockout has passed with no new failure, and past ``max_entries`` the
oldest go first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

_NAME_CHARS = 64  # longer names are counted by their first 64 characters


@dataclass(slots=True)
class _Record:
    failures: int
    last_failure: float
    locked_until: float


@dataclass(frozen=True, slots=True)
class Lock:
    """A lock that a failure has just begun: on what (``"user"`` or ``"address"``) and how long."""

    kind: str
    key: str
    failures: int
    seconds: float


class SignInThrottle:
    def __init__(self, *, free_per_user: int, free_per_address: int, backoff_seconds: float,
                 lockout_seconds: float, clock: Callable[[], float] = time.monotonic,
                 max_entries: int = 10_000) -> None:
        self._free = {"user": free_per_user, "address": free_per_address}
        self._backoff = backoff_seconds
        self._cap = lockout_seconds
        self._clock = clock
        self._max_entries = max_entries
        self._records: dict[tuple[str, str], _Record] = {}
        self._lock = threading.Lock()

    def retry_after(self, user: str, address: str) -> float:
        """Seconds until this user name from this address may try again (0: now)."""
        now = self._clock()
        with self._lock:
            waits = [record.locked_until - now for key in self._keys(user, address)
                     if (record := self._records.get(key)) is not None]
        return max([0.0, *waits])

    def failed(self, user: str, address: str) -> list[Lock]:
        """Count a failed attempt; the locks it begins (none while still within the free ones)."""
        now = self._clock()
        locks = []
        with self._lock:
            self._forget(now)
            for key in self._keys(user, address):
                record = self._records.pop(key, None) or _Record(0, now, now)
                record.failures += 1
                record.last_failure = now
                over = record.failures - self._free[key[0]]
                if over > 0:
                    seconds = min(self._cap, self._backoff * 2 ** min(over - 1, 62))
                    record.locked_until = now + seconds
                    locks.append(Lock(key[0], key[1], record.failures, seconds))
                self._records[key] = record  # re-inserted: the dict's order is oldest failure first
        return locks

    def succeeded(self, user: str, address: str) -> None:
        """A right password outside any lock: that name and address start afresh."""
        with self._lock:
            for key in self._keys(user, address):
                self._records.pop(key, None)

    @staticmethod
    def _keys(user: str, address: str) -> tuple[tuple[str, str], tuple[str, str]]:
        return ("user", user[:_NAME_CHARS]), ("address", address)

    def _forget(self, now: float) -> None:
        # Oldest failure first (the dict's order); stop at the first one still remembered. Over the
        # size cap the oldest go even if remembered: better than growing without bound.
        while self._records:
            key, record = next(iter(self._records.items()))
            if now - record.locked_until < self._cap and len(self._records) + 2 <= self._max_entries:  # room for 2
                break
            del self._records[key]
