"""The proxy benchmark runs end to end on a tiny plan: real processes (OTLP sink, fake upstream, proxy,
load generator), every request succeeds and every figure comes out. Nothing about speed is asserted:
speed is what bench/ measures, never a test."""

from __future__ import annotations

import math
from pathlib import Path

from bench.proxy_overhead import Plan, measure, render

TINY = Plan(startups=1, saturation_warmup_s=0.3, saturation_s=0.8, saturation_rounds=1, concurrency=4, warmup_s=0.3,
            levels=((1, 1), (2, 2)), level_s=(1, 1), floor_levels=(1,), burst=None, calibrate_s=1)


def test_a_tiny_run_produces_every_figure_and_no_request_fails(tmp_path: Path) -> None:
    results = measure(TINY, tmp_path, pin=False)

    assert [c.label for c in results.comparisons] == ["1 in flight", "1 in flight, bare", "2 in flight"]
    for comparison in results.comparisons:
        assert comparison.direct.count > 0 and comparison.proxy.count > 0
        assert comparison.direct.failed == 0 and comparison.proxy.failed == 0
        assert all(math.isfinite(value) for value in comparison.added)
    assert len(results.saturations) == 4  # two body mixes × proxy and bare relay
    for saturation in results.saturations:
        assert saturation.requests > 0 and saturation.failed == 0
        assert math.isfinite(saturation.cpu_ms_per_request)
    assert len(results.startups) == 1 and results.peak_rss_mib > 0
    assert "added TTFB p50, 1 in flight" in render(results)
