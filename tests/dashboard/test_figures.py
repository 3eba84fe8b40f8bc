"""Figure builders are pure functions of frames: data gives traces, no data gives a figure that
says so (never an exception, never an empty axis)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import polars as pl
import pytest

from dashboard.figures.attribution import budget_figure
from dashboard.figures.failures import cluster_size_figure, cluster_trend_figure
from dashboard.figures.overview import (
    cache_hit_figure,
    daily_usage,
    latency_figure,
    overview_numbers,
    savings_figure,
    spend_figure,
    tokens_figure,
)
from dashboard.figures.routes import fallback_figure, share_figure, share_over_time
from dashboard.savings import SAVINGS_SCHEMA

NOW = datetime(2026, 11, 20, 15, 30)
CLUSTER_SCHEMA = {"run_id": pl.String(), "cluster": pl.Int64(), "created_at": pl.Datetime("us"),
                  "window_start": pl.Datetime("us"), "window_end": pl.Datetime("us"), "name": pl.String(),
                  "size": pl.Int64(), "cost_usd": pl.Float64(), "trend": pl.String(),
                  "window_counts": pl.List(pl.Int64()), "features": pl.String(), "examples": pl.List(pl.String())}
USAGE_SCHEMA = {"hour": pl.Datetime("us"), "model": pl.String(), "requests": pl.Int64(), "errors": pl.Int64(),
                "input_tokens": pl.Int64(), "output_tokens": pl.Int64(), "cache_write_tokens": pl.Int64(),
                "cache_read_tokens": pl.Int64(), "cost_usd": pl.Decimal(38, 9)}
HEALTH_SCHEMA = {"started_at": pl.Datetime("us"), "ttfb_ms": pl.Float64(), "ok": pl.Boolean(),
                 "fell_back": pl.Boolean()}


def _usage() -> pl.DataFrame:
    rows = []
    for days_ago in (0, 3, 10, 40):  # today, this week, this month, outside 30 days
        hour = NOW.replace(minute=0) - timedelta(days=days_ago)
        rows.append((hour, "claude-sonnet-4-5", 10, 1, 100, 50, 200, 700, Decimal("1.25")))
    return pl.DataFrame(rows, orient="row", schema=USAGE_SCHEMA)


def _health() -> pl.DataFrame:
    rows = [(NOW - timedelta(minutes=i), float(100 + i), i % 4 != 0, i % 5 == 0) for i in range(100)]
    return pl.DataFrame(rows, orient="row", schema=HEALTH_SCHEMA)


def test_overview_numbers() -> None:
    numbers = overview_numbers(_usage(), _health(), pl.DataFrame(schema=SAVINGS_SCHEMA), NOW)
    assert (numbers.spend_today, numbers.spend_7d, numbers.spend_30d) == (Decimal("1.25"), Decimal("2.5"),
                                                                         Decimal("3.75"))
    assert numbers.cache_hit_ratio_7d == pytest.approx(700 / 1000)
    assert numbers.ttfb_p50_ms == pytest.approx(149.5)
    assert numbers.error_rate_recent == pytest.approx(0.25) and numbers.fallback_rate_recent == pytest.approx(0.2)
    assert numbers.savings_30d == 0 and numbers.savings_share is None


def test_overview_figures_have_traces_and_empty_ones_say_why() -> None:
    daily = daily_usage(_usage())
    savings = pl.DataFrame([(NOW.date(), Decimal(1), Decimal(3))], orient="row", schema=SAVINGS_SCHEMA)
    full = [spend_figure(daily), tokens_figure(daily), cache_hit_figure(daily), latency_figure(_health()),
            savings_figure(savings, "claude-opus-4-5")]
    assert [len(figure.data) for figure in full] == [1, 4, 1, 2, 2]
    empty_daily = daily_usage(pl.DataFrame(schema=USAGE_SCHEMA))
    empty = [spend_figure(empty_daily), tokens_figure(empty_daily), cache_hit_figure(empty_daily),
             latency_figure(pl.DataFrame(schema=HEALTH_SCHEMA)),
             savings_figure(pl.DataFrame(schema=SAVINGS_SCHEMA), "claude-opus-4-5")]
    for figure in empty:
        assert len(figure.data) == 0 and figure.layout.annotations[0].text


def _routes(hours: int) -> pl.DataFrame:
    rows = [(NOW.replace(minute=0) - timedelta(hours=h), rule, target, 3)
            for h in range(hours) for rule, target in (("small-turns", "haiku"), ("default", "primary"), (None, None))]
    return pl.DataFrame(rows, orient="row", schema={"hour": pl.Datetime("us"), "rule": pl.String(),
                                                    "target": pl.String(), "requests": pl.Int64()})


def test_shares_are_hourly_for_short_windows_and_daily_for_long_ones() -> None:
    assert share_over_time(_routes(24), "rule")["time"].n_unique() == 24
    assert share_over_time(_routes(24 * 30), "rule")["time"].n_unique() in (30, 31)
    figure = share_figure(_routes(24), "rule")
    assert sorted(trace.name for trace in figure.data) == ["(none)", "default", "small-turns"]
    assert len(share_figure(_routes(0), "rule").data) == 0


def test_an_hour_without_requests_is_drawn_as_nothing_not_bridged() -> None:
    hour = pl.col("hour")
    night = _routes(24).filter((hour < NOW - timedelta(hours=15)) | (hour > NOW - timedelta(hours=6)))
    shares = share_over_time(night, "rule")
    assert shares["time"].n_unique() == 24  # the empty hours are there…
    empty = shares.filter(pl.col("time") == (NOW.replace(minute=0) - timedelta(hours=10)))
    assert empty["requests"].to_list() == [0, 0, 0] and empty["share"].to_list() == [0.0, 0.0, 0.0]  # …with nothing
    busy = shares.filter(pl.col("time") == NOW.replace(minute=0))
    assert busy["share"].sum() == pytest.approx(100.0)
    figure = share_figure(night, "rule")
    assert all(len(trace.x) == 24 and trace.groupnorm is None for trace in figure.data)


def test_fallback_chains_figure() -> None:
    chains = pl.DataFrame({"chain": ["a:529 → b:200", "a:timeout → b:200"], "turns": [5, 1]})
    assert list(fallback_figure(chains).data[0].x) == [1, 5]
    assert len(fallback_figure(chains.clear()).data) == 0


def test_budget_figure_colours_bars_by_state() -> None:
    lines = pl.DataFrame([("developer", "a", Decimal(9), Decimal(10), Decimal(8), Decimal(11), "soft"),
                          ("developer", "b", Decimal(1), None, None, None, "no budget")], orient="row",
                         schema=["scope", "name", "spent_usd", "budget_usd", "soft_usd", "hard_usd", "state"])
    figure = budget_figure(lines, "developer")
    assert figure.data[0].marker.color == ("#90a4ae", "#f9a825")
    assert len(budget_figure(lines, "team").data) == 0


def test_cluster_figures() -> None:
    clusters = pl.DataFrame([("r", 0, NOW, NOW - timedelta(days=3), NOW, "edit misses", 12, 1.5, "rising", [1, 2, 9],
                              "{}", ["a/b"])], orient="row", schema=CLUSTER_SCHEMA)
    assert len(cluster_size_figure(clusters).data) == 1 and len(cluster_trend_figure(clusters).data) == 1
    assert "No failure clusters yet" in cluster_size_figure(clusters.clear()).layout.annotations[0].text
