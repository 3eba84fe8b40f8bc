"""A value read from the store (or a file) and used for a while before it is read again: the
virtual keys ingest accepts, the months closed for chargeback. A failed read keeps the previous
value (and logs): the store being briefly down must not lock telemetry out or reopen a month."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class Refreshing(Generic[T]):
    def __init__(self, load: Callable[[], T], initial: T, refresh_s: float, what: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._load = load
        self._value = initial
        self._refresh_s = refresh_s
        self._what = what
        self._clock = clock
        self._lock = threading.Lock()
        self._loaded_at: float | None = None

    def get(self) -> T:
        with self._lock:
            now = self._clock()
            if self._loaded_at is None or now - self._loaded_at >= self._refresh_s:
                try:
                    self._value = self._load()
                except Exception:  # a boundary: any failure of the store or the file
                    log.exception("could not read %s; using what was read before", self._what)
                self._loaded_at = now
            return self._value
