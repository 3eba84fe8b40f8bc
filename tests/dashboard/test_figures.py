"""Figure builders are pure functions of frames: data gives traces, no data gives a figure that
says so (never an exception, never an empty axis)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import polars as pl
import pytest

from dashboard.components import cents
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
from dashboard.figures.style import DAY_BAR_MS, day_axis, time_axis
from dashboard.savings import SAVINGS_SCHEMA

NOW = datetime(2026, 11, 20, 15, 30)
FIRST_DAY = NOW.date() - timedelta(days=29)
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
    assert numbers.savings_30d is None and numbers.savings_share is None  # nothing priced: no saving claimed
    assert numbers.turns_7d == 20


def test_overview_figures_have_traces_and_empty_ones_say_why() -> None:
    daily = daily_usage(_usage())
    savings = pl.DataFrame([(NOW.date(), Decimal(1), Decimal(3))], orient="row", schema=SAVINGS_SCHEMA)
    first, last = FIRST_DAY, NOW.date()
    full = [spend_figure(daily, first, last), tokens_figure(daily, first, last), cache_hit_figure(daily, first, last),
            latency_figure(_health(), NOW), savings_figure(savings, "claude-opus-4-5", first, last)]
    assert [len(figure.data) for figure in full] == [1, 4, 1, 2, 2]
    empty_daily = daily_usage(pl.DataFrame(schema=USAGE_SCHEMA))
    empty = [spend_figure(empty_daily, first, last), tokens_figure(empty_daily, first, last),
             cache_hit_figure(empty_daily, first, last), latency_figure(pl.DataFrame(schema=HEALTH_SCHEMA), NOW),
             savings_figure(pl.DataFrame(schema=SAVINGS_SCHEMA), "claude-opus-4-5", first, last)]
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
    figure = share_figure(_routes(24), "rule", NOW - timedelta(days=7), NOW)
    assert sorted(trace.name for trace in figure.data) == ["(none)", "default", "small-turns"]
    assert len(share_figure(_routes(0), "rule", NOW - timedelta(days=7), NOW).data) == 0


def test_an_hour_without_requests_is_drawn_as_nothing_not_bridged() -> None:
    hour = pl.col("hour")
    night = _routes(24).filter((hour < NOW - timedelta(hours=15)) | (hour > NOW - timedelta(hours=6)))
    shares = share_over_time(night, "rule")
    assert shares["time"].n_unique() == 24  # the empty hours are there…
    empty = shares.filter(pl.col("time") == (NOW.replace(minute=0) - timedelta(hours=10)))
    assert empty["requests"].to_list() == [0, 0, 0] and empty["share"].to_list() == [0.0, 0.0, 0.0]  # …with nothing
    busy = shares.filter(pl.col("time") == NOW.replace(minute=0))
    assert busy["share"].sum() == pytest.approx(100.0)
    figure = share_figure(night, "rule", NOW - timedelta(hours=24), NOW)
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


def _one_turn_usage() -> pl.DataFrame:
    hour = NOW.replace(minute=0)
    return pl.DataFrame([(hour, "claude-sonnet-4-5", 1, 0, 100, 20, 18_000, 0, Decimal("0.0675"))], orient="row",
                        schema=USAGE_SCHEMA)


def test_one_instant_gets_a_window_not_a_millisecond() -> None:
    axis = time_axis(NOW, NOW, least=timedelta(minutes=10))
    assert axis["range"] == [str(NOW - timedelta(minutes=5)), str(NOW + timedelta(minutes=5))]
    wide = time_axis(NOW - timedelta(days=2), NOW)
    assert wide["range"] == [str(NOW - timedelta(days=2)), str(NOW)]  # a real window is kept as it is
    days = day_axis(FIRST_DAY, NOW.date())
    assert days["range"] == [f"{FIRST_DAY - timedelta(days=1)} 12:00:00", f"{NOW.date()} 12:00:00"]


def test_one_turn_is_drawn_on_the_whole_window_and_caching_waits_for_a_second_turn() -> None:
    usage = _one_turn_usage()
    daily = daily_usage(usage)
    first, last = FIRST_DAY, NOW.date()
    for figure in (spend_figure(daily, first, last), tokens_figure(daily, first, last)):
        assert figure.layout.xaxis.range == tuple(day_axis(first, last)["range"])
        assert all(bar.width == DAY_BAR_MS for bar in figure.data)  # a lone bar is a day wide, not a hairline
    assert tokens_figure(daily, first, last).layout.yaxis.tickformat == ",d"
    savings = pl.DataFrame([(NOW.date(), Decimal("0.0675"), Decimal("0.1125"))], orient="row", schema=SAVINGS_SCHEMA)
    assert all("markers" in trace.mode for trace in savings_figure(savings, "claude-opus-4-5", first, last).data)
    assert len(cache_hit_figure(daily, first, last).data) == 0  # one turn a day: no ratio drawn
    numbers = overview_numbers(usage, pl.DataFrame(schema=HEALTH_SCHEMA), savings, NOW)
    assert numbers.cache_hit_ratio_7d is None and numbers.turns_7d == 1
    assert numbers.savings_30d == Decimal("0.045")
    two = pl.concat([usage, usage.with_columns(pl.col("cache_read_tokens") + 18_000)])
    assert overview_numbers(two, pl.DataFrame(schema=HEALTH_SCHEMA), savings, NOW).cache_hit_ratio_7d == \
        pytest.approx(18_000 / (2 * 18_100 + 18_000))
    latency = latency_figure(pl.DataFrame([(NOW, 410.0, True, False)], orient="row", schema=HEALTH_SCHEMA), NOW)
    assert latency.layout.xaxis.range == (str(NOW - timedelta(hours=24)), str(NOW))


def test_one_hour_of_routes_is_a_bar_on_the_window() -> None:
    start = NOW - timedelta(days=7)
    figure = share_figure(_routes(1), "rule", start, NOW)
    assert {trace.type for trace in figure.data} == {"bar"} and figure.layout.barmode == "stack"
    assert figure.layout.xaxis.range == (str(start), str(NOW))
    assert {trace.type for trace in share_figure(_routes(3), "rule", start, NOW).data} == {"scatter"}


@pytest.mark.parametrize(("value", "shown"), [(None, "–"), ("0", "$0.00"), ("0.004", "< $0.01"), ("0.005", "$0.01"),
                                              ("366.818718950", "$366.82"), ("1234.565", "$1,234.57"),
                                              ("-1.005", "-$1.01")])
def test_money_for_people_is_whole_cents(value: str | None, shown: str) -> None:
    assert cents(None if value is None else Decimal(value)) == shown
