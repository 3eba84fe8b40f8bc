"""Overview: spend, tokens by kind, cache-hit ratio, latency, error and fallback rates, savings.

Inputs are the hourly rollup summed by (hour, model) over the last 30 days, the recent turns'
health (started_at, ttfb_ms, ok, fell_back: the last 24 hours, at most the newest 20 000 turns)
and the savings frame (dashboard.savings).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import plotly.graph_objects as go
import polars as pl

from dashboard.figures.style import TOKEN_COLOURS, base_layout, empty_figure, floats
from dashboard.savings import total_savings

TOKEN_KINDS = {"input": "input_tokens", "output": "output_tokens", "cache write": "cache_write_tokens",
               "cache read": "cache_read_tokens"}
SUMS = ("requests", "errors", "input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens", "cost_usd")


@dataclass(frozen=True, slots=True)
class OverviewNumbers:
    spend_today: Decimal
    spend_7d: Decimal
    spend_30d: Decimal
    cache_hit_ratio_7d: float | None  # cache reads / all input tokens
    ttfb_p50_ms: float | None  # recent turns (see dashboard.reads.turn_health)
    ttfb_p99_ms: float | None
    error_rate_recent: float | None
    fallback_rate_recent: float | None
    savings_30d: Decimal  # against the all-baseline-model cost
    savings_share: float | None  # of that baseline


def daily_usage(usage: pl.DataFrame) -> pl.DataFrame:
    return (usage.with_columns(pl.col("hour").dt.date().alias("day"))
            .group_by("day").agg(*(pl.col(name).sum() for name in SUMS)).sort("day"))


def _spend_since(usage: pl.DataFrame, since: datetime) -> Decimal:
    return Decimal(usage.filter(pl.col("hour") >= since)["cost_usd"].sum() or 0)


def _cache_hit_ratio(usage: pl.DataFrame) -> float | None:
    read = usage["cache_read_tokens"].sum()
    total = read + usage["input_tokens"].sum() + usage["cache_write_tokens"].sum()
    return read / total if total else None


def overview_numbers(usage: pl.DataFrame, health: pl.DataFrame, savings: pl.DataFrame,
                     now: datetime) -> OverviewNumbers:
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    answered = health["ttfb_ms"].drop_nulls()
    count = health.height
    saved, baseline = total_savings(savings)
    return OverviewNumbers(
        spend_today=_spend_since(usage, midnight),
        spend_7d=_spend_since(usage, midnight - timedelta(days=6)),
        spend_30d=_spend_since(usage, midnight - timedelta(days=29)),
        cache_hit_ratio_7d=_cache_hit_ratio(usage.filter(pl.col("hour") >= midnight - timedelta(days=6))),
        ttfb_p50_ms=answered.quantile(0.5, "linear") if answered.len() else None,
        ttfb_p99_ms=answered.quantile(0.99, "linear") if answered.len() else None,
        error_rate_recent=(count - health["ok"].sum()) / count if count else None,
        fallback_rate_recent=health["fell_back"].sum() / count if count else None,
        savings_30d=saved,
        savings_share=float(saved / baseline) if baseline else None,
    )


def spend_figure(daily: pl.DataFrame) -> go.Figure:
    title = "Spend per day (USD)"
    if daily.is_empty():
        return empty_figure(title, "No turns in the last 30 days")
    figure = go.Figure(go.Bar(x=daily["day"].to_list(), y=floats(daily["cost_usd"]), name="spend",
                              hovertemplate="%{x}: $%{y:,.2f}<extra></extra>"))
    figure.update_layout(base_layout(title, yaxis={"tickprefix": "$"}))
    return figure


def tokens_figure(daily: pl.DataFrame) -> go.Figure:
    title = "Tokens per day by kind"
    if daily.is_empty():
        return empty_figure(title, "No turns in the last 30 days")
    figure = go.Figure([go.Bar(x=daily["day"].to_list(), y=daily[column].to_list(), name=kind,
                               marker_color=TOKEN_COLOURS[kind]) for kind, column in TOKEN_KINDS.items()])
    figure.update_layout(base_layout(title, barmode="stack"))
    return figure


def cache_hit_figure(daily: pl.DataFrame) -> go.Figure:
    title = "Cache-hit ratio (cache reads / all input tokens)"
    if daily.is_empty():
        return empty_figure(title, "No turns in the last 30 days")
    total = daily["cache_read_tokens"] + daily["input_tokens"] + daily["cache_write_tokens"]
    ratio = (daily["cache_read_tokens"] / total.replace(0, None)).to_list()
    figure = go.Figure(go.Scatter(x=daily["day"].to_list(), y=ratio, mode="lines+markers", name="cache hit"))
    figure.update_layout(base_layout(title, yaxis={"tickformat": ".0%", "range": [0, 1]}))
    return figure


def latency_figure(health: pl.DataFrame) -> go.Figure:
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
    figure.update_layout(base_layout(title, yaxis={"ticksuffix": " ms"}))
    return figure


def savings_figure(savings: pl.DataFrame, baseline_model: str) -> go.Figure:
    title = f"Actual cost vs. every turn on {baseline_model}"
    if savings.is_empty():
        return empty_figure(title, "Nothing priced in the last 30 days")
    days = savings["day"].to_list()
    figure = go.Figure([
        go.Scatter(x=days, y=floats(savings["baseline_usd"]), name=f"all {baseline_model}", mode="lines",
                   line={"dash": "dot"}),
        go.Scatter(x=days, y=floats(savings["actual_usd"]), name="actual", mode="lines", fill="tonexty"),
    ])
    figure.update_layout(base_layout(title, yaxis={"tickprefix": "$"}))
    return figure
