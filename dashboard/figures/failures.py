"""Failures: named failure clusters (from the evals' clustering run) by size and the cost they
burned, and how many sessions each touched in each of the run's time windows (every cluster in
the legend). Input: store.cluster_runs.clusters_frame (with the run's window bounds)."""

from __future__ import annotations

from datetime import datetime

import plotly.graph_objects as go
import polars as pl

from dashboard.figures.style import base_layout, count_axis, empty_figure

NO_CLUSTERS = "No failure clusters yet: run `switchyard cluster` after the evals have scored some turns"
SIZE_BARS = 30


def window_starts(start: datetime, end: datetime, windows: int) -> list[datetime]:
    """Where each of a run's ``windows`` equal time windows begins (as the clustering cut them)."""
    return [start + (end - start) * index / windows for index in range(windows)]


def cluster_size_figure(clusters: pl.DataFrame) -> go.Figure:
    title = "Failure clusters by size (click one to open it)"
    if clusters.is_empty():
        return empty_figure(title, NO_CLUSTERS)
    shown = clusters.sort("size").tail(SIZE_BARS)
    figure = go.Figure(go.Bar(
        x=shown["size"].to_list(), y=shown["name"].to_list(), orientation="h", name="turns",
        customdata=list(zip(shown["cluster"].to_list(), shown["cost_usd"].to_list(), strict=True)),
        hovertemplate="%{y}: %{x:,} turns, $%{customdata[1]:,.2f}<extra></extra>"))
    figure.update_layout(base_layout(title, height=max(260, 40 + 26 * shown.height),
                                     margin={"l": 240, "r": 20, "t": 45, "b": 40},
                                     xaxis=count_axis(shown["size"].max(), title="failing turns")))
    return figure


def cluster_trend_figure(clusters: pl.DataFrame) -> go.Figure:
    """Sessions each cluster touched per window: the measure the page's trend column is computed on."""
    title = "Sessions each cluster touched, per time window"
    if clusters.is_empty():
        return empty_figure(title, NO_CLUSTERS)
    first = clusters.row(0, named=True)
    starts = window_starts(first["window_start"], first["window_end"], len(first["window_counts"]) or 1)
    figure = go.Figure([
        go.Scatter(x=starts[:len(row["window_counts"])], y=row["window_counts"], name=row["name"],
                   mode="lines+markers", hovertemplate=f"{row['name']}: %{{y}} sessions<extra></extra>")
        for row in clusters.iter_rows(named=True)
    ])
    largest = max((max(counts, default=0) for counts in clusters["window_counts"].to_list()), default=0)
    rows_of_legend = (clusters.height + 1) // 2
    figure.update_layout(base_layout(
        title, height=320 + 22 * rows_of_legend, yaxis=count_axis(largest, title="sessions touched"),
        xaxis={"title": "window starting (UTC)"}, legend={"orientation": "h", "y": -0.25, "yanchor": "top"}))
    return figure
