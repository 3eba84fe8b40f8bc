"""The one trend test (clustering runs and the dashboard): later half of the windows against the
earlier half, relative to each window's exposure, needing both a ratio of 1.5 and |z| > 2."""

from __future__ import annotations

import pytest

from core.window_trend import window_trend


@pytest.mark.parametrize(("counts", "totals", "trend"), [
    ([2, 4, 9, 14], [1, 1, 1, 1], "rising"),
    ([14, 9, 4, 2], [1, 1, 1, 1], "falling"),
    ([6, 5, 6, 6], [1, 1, 1, 1], "steady"),
    ([0, 0, 1, 3], [1, 1, 1, 1], "steady"),  # four sessions are not a trend
    ([2, 4, 9, 14], [20, 40, 90, 140], "steady"),  # grows only as fast as the traffic
    ([10, 10, 10, 10], [100, 100, 400, 400], "falling"),  # the same failures among four times the traffic
    ([5, 5], [0, 10], "steady"),  # a window half with no exposure says nothing
    ([7], [1], "steady"),
])
def test_window_trend(counts: list[int], totals: list[int], trend: str) -> None:
    assert window_trend(counts, totals) == trend
