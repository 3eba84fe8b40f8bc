"""Overview: spend today / 7 days / 30 days, tokens by kind, cache-hit ratio, TTFB p50/p99, error
and fallback rates, and what routing saved against running everything on the top-tier model.
Reads the hourly rollup (30 days) and the last 24 hours of turn latency."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from dash import Dash, html

from dashboard.components import card, cards, graph, page, percent, usd
from dashboard.context import DashboardContext
from dashboard.figures.overview import (
    cache_hit_figure,
    daily_usage,
    latency_figure,
    overview_numbers,
    savings_figure,
    spend_figure,
    tokens_figure,
)
from dashboard.reads import HEALTH_SAMPLE, turn_health
from dashboard.savings import savings_by_day
from store.queries import rollup_frame

PATH = "/"
TITLE = "Overview"


def content(ctx: DashboardContext) -> list[html.Div]:
    now = ctx.now()
    start = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=29)
    usage = rollup_frame(ctx.engine, start, None, by=("hour", "model"))
    health = turn_health(ctx.engine, now - timedelta(hours=24))
    baseline = ctx.settings.baseline_model
    savings = savings_by_day(usage, ctx.prices, baseline)
    numbers = overview_numbers(usage, health, savings, now)
    daily = daily_usage(usage)
    ms = "–" if numbers.ttfb_p50_ms is None else f"{numbers.ttfb_p50_ms:,.0f} / {numbers.ttfb_p99_ms:,.0f} ms"
    recent = "last 24 h" if health.height < HEALTH_SAMPLE else f"newest {HEALTH_SAMPLE:,} turns"
    saved = usd(numbers.savings_30d)
    return [
        cards(
            card("Spend today", usd(numbers.spend_today), "kpi-spend-today", "UTC day"),
            card("Spend 7 days", usd(numbers.spend_7d), "kpi-spend-7d"),
            card("Spend 30 days", usd(numbers.spend_30d), "kpi-spend-30d"),
            card("Cache-hit ratio", percent(numbers.cache_hit_ratio_7d), "kpi-cache-hit", "7 days"),
            card("TTFB p50 / p99", ms, "kpi-ttfb", recent),
            card("Error rate", percent(numbers.error_rate_recent), "kpi-errors", recent),
            card("Fallback rate", percent(numbers.fallback_rate_recent), "kpi-fallbacks", recent),
            card("Saved vs. top tier", saved, "kpi-savings",
                 f"30 days, {percent(numbers.savings_share)} of all-{baseline}"),
        ),
        html.Div([graph("overview-spend", spend_figure(daily)), graph("overview-tokens", tokens_figure(daily)),
                  graph("overview-cache", cache_hit_figure(daily)), graph("overview-latency", latency_figure(health)),
                  graph("overview-savings", savings_figure(savings, baseline))], className="figures"),
    ]


def layout(ctx: DashboardContext, query: Mapping[str, str]) -> html.Div:
    return page(TITLE, *content(ctx))


def register(app: Dash, ctx: DashboardContext) -> None:
    """The overview has no controls: the router renders it whole."""
