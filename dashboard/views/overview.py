"""Overview: spend today / 7 days / 30 days, tokens by kind, cache-hit ratio, TTFB p50/p99, error
and fallback rates, and what routing saved against running everything on the top-tier model.
Reads the hourly rollup (30 days) and the last 24 hours of turn latency."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time, timedelta
from typing import Any

from dash import Dash, html

from dashboard.components import card, cards, cents, graph, note, page, percent
from dashboard.context import DashboardContext
from dashboard.figures.overview import (
    OverviewNumbers,
    cache_hit_figure,
    daily_usage,
    latency_figure,
    overview_numbers,
    savings_figure,
    spend_figure,
    tokens_figure,
)
from dashboard.filter_bar import filter_bar
from dashboard.filters import EVERYONE, Filters, read_filters
from dashboard.reads import HEALTH_SAMPLE, turn_health
from dashboard.savings import savings_by_day
from store.queries import rollup_frame

PATH = "/"
TITLE = "Overview"


def content(ctx: DashboardContext, filters: Filters = EVERYONE) -> list[Any]:
    now = ctx.now()
    today = now.date()
    first = today - timedelta(days=29)
    start = datetime.combine(first, time())
    named = filters.named()
    usage = rollup_frame(ctx.engine, start, None, by=("hour", "model"), **named)
    health = turn_health(ctx.engine, now - timedelta(hours=24), named=named)
    baseline = ctx.settings.baseline_model
    savings = savings_by_day(usage, ctx.prices, baseline)
    numbers = overview_numbers(usage, health, savings, now)
    daily = daily_usage(usage)
    ms = "–" if numbers.ttfb_p50_ms is None else f"{numbers.ttfb_p50_ms:,.0f} / {numbers.ttfb_p99_ms:,.0f} ms"
    recent = "last 24 h" if health.height < HEALTH_SAMPLE else f"newest {HEALTH_SAMPLE:,} turns"
    parts: list[Any] = []
    if usage.is_empty() and health.is_empty() and named:
        parts.append(note("No turns match the filters in the last 30 days.", "overview-empty"))
    elif usage.is_empty() and health.is_empty():
        parts.append(note("No turns yet. Once Claude Code sends its requests through the proxy "
                          "(ANTHROPIC_BASE_URL and a virtual key), spend, tokens, latency and savings show here.",
                          "overview-empty"))
    return [
        *parts,
        cards(
            card("Spend today", cents(numbers.spend_today), "kpi-spend-today", "UTC day"),
            card("Spend 7 days", cents(numbers.spend_7d), "kpi-spend-7d"),
            card("Spend 30 days", cents(numbers.spend_30d), "kpi-spend-30d"),
            card("Cache-hit ratio", percent(numbers.cache_hit_ratio_7d), "kpi-cache-hit", _cache_hint(numbers)),
            card("TTFB p50 / p99", ms, "kpi-ttfb", recent),
            card("Error rate", percent(numbers.error_rate_recent), "kpi-errors", recent),
            card("Fallback rate", percent(numbers.fallback_rate_recent), "kpi-fallbacks", recent),
            card("Saved vs. top tier", cents(numbers.savings_30d), "kpi-savings",
                 f"30 days, {percent(numbers.savings_share)} of all-{baseline}" if numbers.savings_30d is not None
                 else "30 days: nothing priced yet"),
        ),
        html.Div([graph("overview-spend", spend_figure(daily, first, today)),
                  graph("overview-tokens", tokens_figure(daily, first, today)),
                  graph("overview-cache", cache_hit_figure(daily, first, today)),
                  graph("overview-latency", latency_figure(health, now)),
                  graph("overview-savings", savings_figure(savings, baseline, first, today))], className="figures"),
    ]


def _cache_hint(numbers: OverviewNumbers) -> str:
    if numbers.cache_hit_ratio_7d is None and numbers.turns_7d == 1:
        return "7 days: 1 turn, and a turn reads only what an earlier one cached"
    return "7 days"


def layout(ctx: DashboardContext, query: Mapping[str, str]) -> html.Div:
    filters = read_filters(query)
    # the cards and charts name their own windows (today, 7 and 30 days, 24 hours): no period here
    return page(TITLE, filter_bar(ctx, filters, path=PATH, covers="the windows each card and chart names"),
                *content(ctx, filters))


def register(app: Dash, ctx: DashboardContext) -> None:
    """The overview has no controls: the router renders it whole."""
