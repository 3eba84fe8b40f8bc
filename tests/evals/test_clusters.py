"""Clustering and naming on hand-made failing turns: reproducible with a seed, readable names, and
a trend that follows the share of sessions, not raw counts."""

from __future__ import annotations

import numpy as np
import pytest

from evals.cluster_features import FailureFeatures
from evals.cluster_summary import summarise
from evals.clusters import ClusterSettings, cluster_failures

START, DAY = 1_790_000_000_000_000_000, 86_400 * 10**9


def failing(i: int, *, tier: str, tokens: int, signals: tuple[str, ...], failed: tuple[str, ...] = (),
            error_type: str = "", stop: str = "tool_use", text: str = "", day: float = 0.0) -> FailureFeatures:
    return FailureFeatures(
        trace_id=f"{i:032x}", span_id=f"{i:016x}", session_id=f"s{i}", started_at_ns=START + int(day * DAY),
        cost_usd=0.01, tier=tier, total_tokens=tokens, tool_calls=len(failed), tool_names=failed,
        failed_tools=failed, signals=signals, error_type=error_type, stop_reason=stop, error_text=text)


def fleet(rng: np.random.Generator) -> tuple[list[FailureFeatures], list[str]]:
    rows, truth = [], []
    for i in range(60):
        rows.append(failing(i, tier="haiku", tokens=int(rng.integers(13_000, 90_000)), signals=("tool_failure",),
                            failed=("Edit",), text="String to replace not found in file.", day=rng.uniform(0, 4)))
        truth.append("edit")
    for i in range(60, 100):
        rows.append(failing(i, tier="opus", tokens=int(rng.integers(151_000, 180_000)), signals=("upstream_error",),
                            error_type="timeout_error", stop="", text="Request timed out", day=rng.uniform(0, 4)))
        truth.append("timeout")
    for i in range(100, 150):  # rare at first, then every day more
        rows.append(failing(i, tier="sonnet", tokens=int(rng.integers(95_000, 170_000)), signals=("latency_slo",),
                            day=4 * float(np.sqrt(rng.uniform(0, 1)))))
        truth.append("slow")
    return rows, truth


def test_clusters_are_reproducible_named_and_trended() -> None:
    rows, truth = fleet(np.random.default_rng(3))
    settings = ClusterSettings(random_state=7)
    first, second = cluster_failures(rows, settings), cluster_failures(rows, settings)
    assert (first.labels == second.labels).all() and first.k == 3
    by_truth = {name: {int(label) for label, t in zip(first.labels, truth, strict=True) if t == name}
                for name in set(truth)}
    assert all(len(labels) == 1 for labels in by_truth.values())

    # the same number of sessions every window: the slow cluster's growing share is the trend
    summaries = summarise(rows, first, start_ns=START, end_ns=START + 4 * DAY, window_totals=[100, 100, 100, 100])
    named = {summary.cluster: summary for summary in summaries}
    edit, timeout, slow = (named[next(iter(by_truth[name]))] for name in ("edit", "timeout", "slow"))
    assert edit.name == "haiku · Edit failures" and edit.size == 60
    assert timeout.name == "opus · > 150 K tokens · timeout_error"
    assert slow.name == "sonnet · > 100 K tokens · slow (beyond SLO)"
    assert (slow.trend, edit.trend, timeout.trend) == ("rising", "steady", "steady")
    assert sum(slow.window_counts) == 50 and len(edit.examples) == 5
    assert summaries[0].size >= summaries[-1].size

    # a burst of activity is not a trend: twice the sessions, twice the failures, same share
    busy = summarise(rows, first, start_ns=START, end_ns=START + 4 * DAY, window_totals=[10, 10, 1000, 1000])
    assert {summary.trend for summary in busy} <= {"steady", "falling"}


@pytest.mark.parametrize("count", [0, 1, 2])
def test_too_few_failures_make_at_most_one_cluster(count: int) -> None:
    rows = [failing(i, tier="haiku", tokens=20_000, signals=("truncation",), stop="max_tokens") for i in range(count)]
    clustering = cluster_failures(rows)
    assert len(clustering.labels) == count and set(clustering.labels.tolist()) <= {0}


def test_many_failures_are_fitted_on_a_sample_and_all_assigned() -> None:
    rows, _ = fleet(np.random.default_rng(5))
    full = cluster_failures(rows, ClusterSettings(random_state=1))
    sampled = cluster_failures(rows, ClusterSettings(random_state=1, fit_sample=45))
    assert len(sampled.labels) == len(rows) and sampled.k == full.k
    pairs = set(zip(full.labels.tolist(), sampled.labels.tolist(), strict=True))
    assert len(pairs) == full.k  # the same partition, whatever the cluster numbers
