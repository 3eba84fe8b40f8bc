"""Overview: spend, tokens by kind, cache-hit ratio, latency, error and fallback rates, savings.

Inputs are the hourly rollup summed by (hour, model) over the last 30 days, the recent turns'
health (started_at, ttfb_ms, ok, fell_back: the last 24 hours, at most the newest 20 000 turns)
and the savings frame (dashboard.savings).

A new install has one turn, or none: every time axis spans the window the figure is about (30
days, 24 hours), never the instant of the one data point, and a ratio that needs two turns to mean
anything is left out (None, shown as "–") rather than shown as 0 %.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import plotly.graph_objects as go
import polars as pl

from dashboard.figures.style import (
    DAY_BAR_MS,
    TOKEN_COLOURS,
    base_layout,
    count_axis,
    day_axis,
    empty_figure,
    floats,
    time_axis,
)
from dashboard.savings import total_savings

TOKEN_KINDS = {"input": "input_tokens", "output": "output_tokens", "cache write": "cache_write_tokens",
               "cache read": "cache_read_tokens"}
SUMS = ("requests", "errors", "input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens", "cost_usd")


@dataclass(frozen=True, slots=True)
class OverviewNumbers:
    spend_today: Decimal
    spend_7d: Decimal
    spend_30d: Decimal
    cache_hit_ratio_7d: float | None  # cache reads / all input tokens; None below MIN_TURNS_FOR_CACHE turns
    turns_7d: int
    ttfb_p50_ms: float | None  # recent turns (see dashboard.reads.turn_health)
    ttfb_p99_ms: float | None
    error_rate_recent: float | None
    fallback_rate_recent: float | None
    savings_30d: Decimal | None  # against the all-baseline-model cost; None when nothing was priced
    savings_share: float | None  # of that baseline


def daily_usage(usage: pl.DataFrame) -> pl.DataFrame:
    return (usage.with_columns(pl.col("hour").dt.date().alias("day"))
            .group_by("day").agg(*(pl.col(name).sum() for name in SUMS)).sort("day"))


def _spend_since(usage: pl.DataFrame, since: datetime) -> Decimal:
    return Decimal(usage.filter(pl.col("hour") >= since)["cost_usd"].sum() or 0)


# A turn can only read what an earlier turn wrote to the prompt cache: one turn alone (a new
# install's first) says nothing about caching, and "0.0 %" would read as "caching is broken".
MIN_TURNS_FOR_CACHE = 2


def _cache_hit_ratio(usage: pl.DataFrame) -> float | None:
    if usage["requests"].sum() < MIN_TURNS_FOR_CACHE:
        return None
    read = usage["cache_read_tokens"].sum()
    total = read + usage["input_tokens"].sum() + usage["cache_write_tokens"].sum()
    return read / total if total else None


def overview_numbers(usage: pl.DataFrame, health: pl.DataFrame, savings: pl.DataFrame,
                     now: datetime) -> OverviewNumbers:
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    answered = health["ttfb_ms"].drop_nulls()
    count = health.height
    saved, baseline = total_savings(savings)
    week = usage.filter(pl.col("hour") >= midnight - timedelta(days=6))
    return OverviewNumbers(
        spend_today=_spend_since(usage, midnight),
        spend_7d=_spend_since(usage, midnight - timedelta(days=6)),
        spend_30d=_spend_since(usage, midnight - timedelta(days=29)),
        cache_hit_ratio_7d=_cache_hit_ratio(week),
        turns_7d=int(week["requests"].sum() or 0),
        ttfb_p50_ms=answered.quantile(0.5, "linear") if answered.len() else None,
        ttfb_p99_ms=answered.quantile(0.99, "linear") if answered.len() else None,
        error_rate_recent=(count - health["ok"].sum()) / count if count else None,
        fallback_rate_recent=health["fell_back"].sum() / count if count else None,
        savings_30d=saved if baseline else None,
        savings_share=float(saved / baseline) if baseline else None,
    )


def spend_figure(daily: pl.DataFrame, first: date, last: date) -> go.Figure:
    title = "Spend per day (USD)"
    if daily.is_empty():
        return empty_figure(title, "No turns in the last 30 days")
    figure = go.Figure(go.Bar(x=daily["day"].to_list(), y=floats(daily["cost_usd"]), name="spend",
                              width=DAY_BAR_MS, hovertemplate="%{x}: $%{y:,.2f}<extra></extra>"))
    figure.update_layout(base_layout(title, xaxis=day_axis(first, last),
                                     yaxis={"tickprefix": "$", "rangemode": "tozero"}))
    return figure


def tokens_figure(daily: pl.DataFrame, first: date, last: date) -> go.Figure:
    title = "Tokens per day by kind"
    if daily.is_empty():
        return empty_figure(title, "No turns in the last 30 days")
    figure = go.Figure([go.Bar(x=daily["day"].to_list(), y=daily[column].to_list(), name=kind,
                               marker_color=TOKEN_COLOURS[kind], width=DAY_BAR_MS)
                        for kind, column in TOKEN_KINDS.items()])
    largest = max(sum(row) for row in daily.select(TOKEN_KINDS.values()).iter_rows())
    figure.update_layout(base_layout(title, barmode="stack", xaxis=day_axis(first, last),
                                     yaxis=count_axis(largest)))
    return figure


def cache_hit_figure(daily: pl.DataFrame, first: date, last: date) -> go.Figure:
    title = "Cache-hit ratio (cache reads / all input tokens)"
    if daily.is_empty():
        return empty_figure(title, "No turns in the last 30 days")
    total = pl.col("cache_read_tokens") + pl.col("input_tokens") + pl.col("cache_write_tokens")
    # a day with a lone turn has no ratio (MIN_TURNS_FOR_CACHE): a gap, not a 0 %
    ratio = daily.select(pl.when((pl.col("requests") >= MIN_TURNS_FOR_CACHE) & (total > 0))
                         .then(pl.col("cache_read_tokens") / total))[:, 0].to_list()
    if all(value is None for value in ratio):
        return empty_figure(title, "Needs two turns in a day: a turn reads only what an earlier one cached")
    figure = go.Figure(go.Scatter(x=daily["day"].to_list(), y=ratio, mode="lines+markers", name="cache hit"))
    figure.update_layout(base_layout(title, xaxis=day_axis(first, last),
                                     yaxis={"tickformat": ".0%", "range": [0, 1]}))
    return figure


def latency_figure(health: pl.DataFrame, now: datetime) -> go.Figure:
    title = "Time to first byte per hour, recent turns (ms)"
    answered = health.filter(pl.col("ttfb_ms").is_not_null())
    if answered.is_empty():
        return empty_figure(title, "No answered turns in the last 24 hours")
    hourly = (answered.group_by(pl.col("started_at").dt.truncate("1h").alias("hour"))
              .agg(pl.col("ttfb_ms").quantile(0.5, "linear").alias("p50"),
                   pl.col("ttfb_ms").quantile(0.99, "linear").alias("p99"))
              .sort("hour"))
    figure = go.Figure([go.Scatter(x=hourly["hour"].to_list(), y=hourly[name].to_list(), mode="lines+markers",
                                   name=name) for name in ("p50", "p99")])
    figure.update_layout(base_layout(title, xaxis=time_axis(now - timedelta(hours=24), now),
                                     yaxis={"ticksuffix": " ms", "rangemode": "tozero"}))
    return figure


def savings_figure(savings: pl.DataFrame, baseline_model: str, first: date, last: date) -> go.Figure:
    title = f"Actual cost vs. every turn on {baseline_model}"
    if savings.is_empty():
        return empty_figure(title, "Nothing priced in the last 30 days")
    days = savings["day"].to_list()
    # markers as well as lines: one day of data is one point, and a line through one point is invisible
    figure = go.Figure([
        go.Scatter(x=days, y=floats(savings["baseline_usd"]), name=f"all {baseline_model}", mode="lines+markers",
                   line={"dash": "dot"}),
        go.Scatter(x=days, y=floats(savings["actual_usd"]), name="actual", mode="lines+markers", fill="tonexty"),
    ])
    figure.update_layout(base_layout(title, xaxis=day_axis(first, last),
                                     yaxis={"tickprefix": "$", "rangemode": "tozero"}))
    return figure
