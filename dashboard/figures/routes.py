"""Routes: which rule fired and which target served, as shares of requests over time, and the
fallback chains walked. Input: the hourly rollup summed by (hour, rule, target)."""

from __future__ import annotations

from datetime import datetime

import plotly.graph_objects as go
import polars as pl

from dashboard.figures.style import base_layout, count_axis, empty_figure, time_axis

UNKNOWN = "(none)"
# Longer windows are drawn per day: 720 hourly points per series say less than 30 daily ones.
DAILY_AFTER_HOURS = 72
HOUR_BAR_MS = 0.8 * 3_600_000


def share_over_time(route_usage: pl.DataFrame, key: str) -> pl.DataFrame:
    """(time, <key>, requests, share) per hour, or per day for windows longer than three days, with
    every hour (day) between the first and the last present: one without traffic holds 0 for every
    <key>, so an area chart drops to nothing there instead of drawing across the night."""
    hours = route_usage["hour"].n_unique() if route_usage.height else 0
    span = (route_usage["hour"].max() - route_usage["hour"].min()) if hours else None
    bucket = "1d" if span is not None and span.total_seconds() > DAILY_AFTER_HOURS * 3600 else "1h"
    sums = (route_usage.with_columns(pl.col("hour").dt.truncate(bucket).alias("time"), pl.col(key).fill_null(UNKNOWN))
            .group_by("time", key).agg(pl.col("requests").sum()))
    if sums.is_empty():
        return sums.with_columns(pl.lit(0.0).alias("share"))
    times = pl.DataFrame({"time": pl.datetime_range(sums["time"].min(), sums["time"].max(), bucket, eager=True)})
    grid = times.join(sums.select(key).unique(), how="cross")
    return (grid.join(sums, on=["time", key], how="left")
            .with_columns(pl.col("requests").fill_null(0))
            .with_columns((pl.col("requests") * 100 / pl.col("requests").sum().over("time"))
                          .fill_nan(0).fill_null(0).alias("share"))
            .sort("time", key))


def share_figure(route_usage: pl.DataFrame, key: str, start: datetime, end: datetime) -> go.Figure:
    """Shares over the window [start, end] (the axis spans it, however little of it has data)."""
    title = f"Share of requests by {key}"
    if route_usage.is_empty():
        return empty_figure(title, "No requests in this window")
    shares = share_over_time(route_usage, key)
    totals = shares.group_by(key).agg(pl.col("requests").sum()).sort("requests", descending=True)
    # an area needs two points: one hour of traffic (a new install's) is drawn as a stacked bar,
    # wide enough to see on a week's axis
    single = shares["time"].n_unique() == 1
    bar_ms = max(HOUR_BAR_MS, (end - start).total_seconds() * 1000 / 60)
    figure = go.Figure([_share_trace(shares.filter(pl.col(key) == name), name, bar_ms if single else None)
                        for name in totals[key].to_list()])
    if single:
        figure.update_layout(barmode="stack")
    figure.update_layout(base_layout(title, xaxis=time_axis(start, end), yaxis={"ticksuffix": "%", "range": [0, 100]}))
    return figure


def _share_trace(part: pl.DataFrame, name: str, bar_ms: float | None) -> go.Bar | go.Scatter:
    """One series of shares: a stacked area, or a bar ``bar_ms`` wide for a single time."""
    common = {"x": part["time"].to_list(), "y": part["share"].to_list(), "name": name,
              "customdata": part["requests"].to_list(),
              "hovertemplate": f"{name}: %{{y:.1f}}% (%{{customdata:,}} requests)<extra></extra>"}
    if bar_ms is not None:
        return go.Bar(width=bar_ms, **common)
    return go.Scatter(stackgroup="one", mode="lines", **common)


def fallback_figure(chains: pl.DataFrame, top: int = 10) -> go.Figure:
    title = "Fallback chains walked by recent turns"
    if chains.is_empty():
        return empty_figure(title, "No recent turn fell back")
    shown = chains.head(top).reverse()
    figure = go.Figure(go.Bar(x=shown["turns"].to_list(), y=shown["chain"].to_list(), orientation="h",
                              hovertemplate="%{y}: %{x} turns<extra></extra>"))
    figure.update_layout(base_layout(title, margin={"l": 260, "r": 20, "t": 45, "b": 40},
                                     xaxis=count_axis(shown["turns"].max(), title="turns")))
    return figure
