"""A per-target circuit breaker: a target that failed is skipped until its cooldown ends.

State belongs to one proxy process (an instance on the app, never module state). The cooldown is
the policy's ``cooldown_s``, or the upstream's ``retry-after`` when that is longer (capped).
"""

from __future__ import annotations

import time
from collections.abc import Callable


class CircuitBreaker:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._open_until: dict[str, float] = {}
        self.trips = 0

    def available(self, target: str) -> bool:
        until = self._open_until.get(target)
        if until is None:
            return True
        if self._clock() >= until:
            del self._open_until[target]
            return True
        return False

    def trip(self, target: str, seconds: float) -> None:
        if seconds <= 0:
            return
        self.trips += 1
        until = self._clock() + seconds
        self._open_until[target] = max(until, self._open_until.get(target, 0.0))

    def close(self, target: str) -> None:
        self._open_until.pop(target, None)

    def open_targets(self) -> list[str]:
        return [name for name in list(self._open_until) if not self.available(name)]
