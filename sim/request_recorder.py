"""Every request the fake upstream received, as it arrived, readable from the test thread.

Headers are kept as the raw ordered list of pairs (original case, duplicates included) so a test can
assert that a proxy forwarded them verbatim; the body is the exact bytes.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    query_string: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    timestamp: float

    def header(self, name: str) -> str | None:
        """The first value of a header, matched case-insensitively."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    def json(self) -> Any:
        return orjson.loads(self.body)


class RequestRecorder:
    """A bounded, thread-safe log: the server thread appends, the test thread reads and waits."""

    def __init__(self, limit: int = 1000) -> None:
        self._changed = threading.Condition()
        self._requests: deque[RecordedRequest] = deque(maxlen=limit)

    def record(self, request: RecordedRequest) -> None:
        with self._changed:
            self._requests.append(request)
            self._changed.notify_all()

    def snapshot(self) -> list[RecordedRequest]:
        with self._changed:
            return list(self._requests)

    def clear(self) -> None:
        with self._changed:
            self._requests.clear()

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[RecordedRequest]:
        """Block until at least ``count`` requests are recorded; raises TimeoutError otherwise."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while len(self._requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(self._requests)} of {count} requests arrived in {timeout_s}s")
                self._changed.wait(remaining)
            return list(self._requests)

    def __len__(self) -> int:
        with self._changed:
            return len(self._requests)
