"""Failures: named failure clusters (from the evals' clustering run) by size and the cost they
burned, with each cluster's trend across the run's time windows. Input: dashboard.reads.latest_clusters."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from dashboard.figures.style import base_layout, empty_figure

NO_CLUSTERS = "No failure clusters yet: run `switchyard cluster` after the evals have scored some turns"


def cluster_size_figure(clusters: pl.DataFrame) -> go.Figure:
    title = "Failure clusters by size"
    if clusters.is_empty():
        return empty_figure(title, NO_CLUSTERS)
    shown = clusters.sort("size").tail(15)
    figure = go.Figure(go.Bar(
        x=shown["size"].to_list(), y=shown["name"].to_list(), orientation="h", name="turns",
        customdata=shown["cost_usd"].to_list(),
        hovertemplate="%{y}: %{x} turns, $%{customdata:,.2f}<extra></extra>"))
    figure.update_layout(base_layout(title, height=max(260, 40 + 26 * shown.height),
                                     margin={"l": 240, "r": 20, "t": 45, "b": 40}))
    return figure


def cluster_trend_figure(clusters: pl.DataFrame) -> go.Figure:
    title = "Cluster sizes across the run's windows"
    if clusters.is_empty():
        return empty_figure(title, NO_CLUSTERS)
    figure = go.Figure([
        go.Scatter(y=row["window_counts"], x=list(range(1, len(row["window_counts"]) + 1)), name=row["name"],
                   mode="lines+markers")
        for row in clusters.head(8).iter_rows(named=True)
    ])
    figure.update_layout(base_layout(title, xaxis={"title": "window", "dtick": 1}))
    return figure
