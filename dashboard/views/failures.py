"""Failures: the named failure clusters of the newest clustering run (written by the evals into
the store's failure_clusters table), or a plain "no clusters yet" before the first run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dash import Dash, html

from dashboard.components import INTEGER, USD, column, graph, grid, grid_rows, note, page
from dashboard.context import DashboardContext
from dashboard.figures.failures import NO_CLUSTERS, cluster_size_figure, cluster_trend_figure
from dashboard.reads import latest_clusters

PATH = "/failures"
TITLE = "Failures"
CLUSTER_COLUMNS = [
    column("name", width=260), column("size", "turns", formatter=INTEGER), column("cost_usd", "cost", formatter=USD),
    column("trend", width=100), column("features", "dominant features"), column("examples", "example turns"),
]


def content(ctx: DashboardContext) -> list[Any]:
    clusters = latest_clusters(ctx.engine)
    if clusters.is_empty():
        return [note(NO_CLUSTERS, "failures-empty")]
    run = clusters.row(0, named=True)
    return [
        html.P(f"Clustering run {run['run_id']} of {run['created_at']:%Y-%m-%d %H:%M} UTC: "
               f"{clusters.height} clusters.", className="intro"),
        html.Div([graph("failures-sizes", cluster_size_figure(clusters)),
                  graph("failures-trends", cluster_trend_figure(clusters))], className="figures"),
        grid("failures-clusters", grid_rows(clusters.drop("window_counts")), CLUSTER_COLUMNS),
    ]


def layout(ctx: DashboardContext, query: Mapping[str, str]) -> html.Div:
    return page(TITLE, *content(ctx))


def register(app: Dash, ctx: DashboardContext) -> None:
    """No controls: the router renders the page whole."""
