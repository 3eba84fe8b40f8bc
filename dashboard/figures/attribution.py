"""Attribution: month-to-date spend of developers, teams and repos as bars coloured by budget state,
with each principal's budget drawn as a marker. Input: dashboard.budget_states.budget_lines."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from dashboard.figures.style import STATE_COLOURS, base_layout, empty_figure, floats


def budget_figure(lines: pl.DataFrame, scope: str, top: int = 25) -> go.Figure:
    title = f"Spend by {scope} this month (top {top})"
    shown = lines.filter(pl.col("scope") == scope).head(top).reverse()
    if shown.is_empty():
        return empty_figure(title, f"No {scope} has spent anything this month")
    names = shown["name"].to_list()
    states = shown["state"].to_list()
    figure = go.Figure([
        go.Bar(x=floats(shown["spent_usd"]), y=names, orientation="h", name="spent",
               marker_color=[STATE_COLOURS[state] for state in states], customdata=states,
               hovertemplate="%{y}: $%{x:,.2f} (%{customdata})<extra></extra>"),
        go.Scatter(x=floats(shown["budget_usd"]), y=names, mode="markers", name="budget",
                   marker={"symbol": "line-ns-open", "size": 18, "line": {"width": 3}, "color": "#333"},
                   hovertemplate="budget $%{x:,.2f}<extra></extra>"),
    ])
    # every bar keeps its label: plotly drops every other category label when rows are tight
    height = max(260, 60 + 26 * shown.height)
    figure.update_layout(base_layout(title, height=height, xaxis={"tickprefix": "$"},
                                     yaxis={"dtick": 1, "automargin": True, "tickfont": {"size": 11}},
                                     margin={"l": 140, "r": 20, "t": 45, "b": 40}))
    return figure
