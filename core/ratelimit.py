"""Token buckets for per-key rate limits. Pure: the caller passes the time in."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(slots=True)
class TokenBucket:
    """``per_minute`` requests a minute on average, bursts up to the same number."""

    per_minute: int
    tokens: float
    updated: float

    @classmethod
    def full(cls, per_minute: int, now: float) -> TokenBucket:
        return cls(per_minute, float(per_minute), now)

    def take(self, now: float) -> float:
        """Take one token; returns 0.0 when admitted, else the seconds until one is available."""
        rate = self.per_minute / 60.0
        self.tokens = min(float(self.per_minute), self.tokens + (now - self.updated) * rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / rate


def retry_after_header(seconds: float) -> str:
    """Whole seconds, rounded up (Claude Code reads retry-after as an integer)."""
    return str(max(1, math.ceil(seconds)))
