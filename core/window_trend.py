"""Whether a count over equal time windows is rising, steady or falling: the later half of the
windows against the earlier half, relative to an exposure per window (how many sessions were
active in it, say). One function, so the clustering run and the dashboard call a trend the same.

A trend needs both a large enough ratio of the two halves' rates and a binomial z-score beyond ±2,
so a busy day (more exposure, so more failures at the same rate) or a handful of counts is not a
trend. With equal exposure in every window (``totals`` all alike) it compares the counts alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

RISING, FALLING = 1.5, 1 / 1.5
TREND_Z = 2.0
MIN_TREND_COUNT = 10


def window_trend(counts: Sequence[int], totals: Sequence[int]) -> str:
    """"rising", "falling" or "steady" for ``counts`` per window against ``totals`` per window."""
    half = len(counts) // 2
    early_count, late_count = sum(counts[:half]), sum(counts[-half:]) if half else 0
    early_total, late_total = sum(totals[:half]), sum(totals[-half:]) if half else 0
    count = early_count + late_count
    if half == 0 or count < MIN_TREND_COUNT or early_total == 0 or late_total == 0:
        return "steady"
    share = late_total / (early_total + late_total)
    expected = count * share
    z = (late_count - expected) / math.sqrt(count * share * (1 - share))
    early_rate, late_rate = early_count / early_total, late_count / late_total
    ratio = late_rate / early_rate if early_rate else math.inf
    if z > TREND_Z and ratio >= RISING:
        return "rising"
    if z < -TREND_Z and ratio <= FALLING:
        return "falling"
    return "steady"
