"""Per-client-IP rate limits for the sign-in endpoints (RFC 8628 §5.1: user codes are short, so
guessing them must be slow). Token buckets (core.ratelimit) in a bounded map: a flood of addresses
forgets the oldest, it never grows without bound. Pure: the caller passes the time."""

from __future__ import annotations

from core.ratelimit import TokenBucket


class ClientThrottle:
    def __init__(self, per_minute: int, max_clients: int = 10_000) -> None:
        self.per_minute = per_minute
        self._max = max_clients
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, client: str, now: float) -> float:
        """0.0 when ``client`` may go ahead, else the seconds until it may."""
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= self._max:
                for stale in list(self._buckets)[: self._max // 2]:
                    del self._buckets[stale]
            bucket = self._buckets[client] = TokenBucket.full(self.per_minute, now)
        return bucket.take(now)
