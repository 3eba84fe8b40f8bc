"""bench/burst.py runs end to end on a tiny plan (real processes, a few seconds): every request succeeds
and every figure comes out. Nothing about speed is asserted: speed is what bench/ measures."""

from __future__ import annotations

import math
from pathlib import Path

from bench.burst import BurstPlan, measure, render

TINY = BurstPlan(low=4, high=16, warmup_s=0.3, before_s=1, ramp_s=1, steps=2, hold_s=0.5, after_s=1.5, weight=2,
                 window_s=0.5, settle_s=0.5)


def test_a_tiny_burst_produces_every_figure_and_no_request_fails(tmp_path: Path) -> None:
    results = measure(TINY, tmp_path, pin=False)

    assert [row.label for row in results.rows] == ["burst: before", "burst: 10/s", "burst: 16/s", "burst: peak",
                                                   "burst: after"]
    assert results.failed == 0 and not results.errors and results.status_529 == results.admission_529 == 0
    assert results.proxied > 0 and results.direct > 0
    assert results.spans == results.proxied + 1  # + the start-up probe
    assert math.isfinite(results.added_ttfb_p99_ms) and math.isfinite(results.added_total_p99_ms)
    assert results.windows  # the recovery time itself may be "not within the run" on a tiny plan
    assert "back to baseline after the burst" in render(results, TINY)
