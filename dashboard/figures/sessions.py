"""Sessions: one session's turns on a time line (a marker per turn, sized by its context and
coloured by outcome, with the tools it asked for) and its cumulative cost. Input: the session's
turns (store columns)."""

from __future__ import annotations

from datetime import timedelta

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from dashboard.figures.style import base_layout, count_axis, empty_figure, floats, time_axis

OUTCOME_COLOURS = {"ok": "#3366cc", "error": "#c62828", "fell back": "#ff9900"}


def session_timeline(frame: pl.DataFrame) -> pl.DataFrame:
    """Per turn: start, duration, model, tools asked for, outcome, running cost."""
    return frame.sort("started_at").select(
        "started_at", "duration_ms", "trace_id", "span_id", "rule", "target",
        pl.coalesce("served_model", "requested_model").alias("model"),
        pl.col("tool_use_names").list.join(", ").alias("tools"),
        pl.col("tool_use_names").list.len().alias("tool_calls"),
        pl.when(~pl.col("ok")).then(pl.lit("error"))
        .when(pl.col("fallback_hops").list.len() > 0).then(pl.lit("fell back"))
        .otherwise(pl.lit("ok")).alias("outcome"),
        "cost_usd",
        pl.col("cost_usd").cum_sum().alias("cumulative_usd"),
        (pl.col("input_tokens") + pl.col("cache_creation_tokens") + pl.col("cache_read_tokens"))
        .alias("context_tokens"),
        "output_tokens",
    )


def session_figure(timeline: pl.DataFrame, session_id: str) -> go.Figure:
    title = f"Session {session_id}"
    if timeline.is_empty():
        return empty_figure(title, "No turns recorded for this session")
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.6, 0.4], vertical_spacing=0.08)
    # One marker per turn at its start (a turn lasts seconds, a session hours: bars would vanish),
    # sized by the context it sent, coloured by how it ended.
    largest = max(timeline["context_tokens"].max() or 1, 1)
    for outcome, colour in OUTCOME_COLOURS.items():
        part = timeline.filter(pl.col("outcome") == outcome)
        if part.is_empty():
            continue
        sizes = [8 + 22 * (tokens / largest) ** 0.5 for tokens in part["context_tokens"].to_list()]
        figure.add_trace(go.Scatter(
            x=part["started_at"].to_list(), y=part["model"].to_list(), mode="markers", name=outcome,
            marker={"color": colour, "size": sizes, "line": {"width": 1, "color": "#fff"}},
            customdata=list(zip(part["tools"].to_list(), part["duration_ms"].to_list(), floats(part["cost_usd"]),
                                strict=True)),
            hovertemplate="%{y}<br>%{customdata[1]:,.0f} ms, $%{customdata[2]:.4f}<br>tools: %{customdata[0]}"
                          "<extra></extra>"), row=1, col=1)
    figure.add_trace(go.Scatter(x=timeline["started_at"].to_list(), y=floats(timeline["cumulative_usd"]),
                                mode="lines+markers", name="cumulative cost", line={"shape": "hv"},
                                hovertemplate="$%{y:,.4f}<extra></extra>"), row=2, col=1)
    figure.update_layout(base_layout(title, height=440))
    # a session of one turn (or a few in a minute) gets ten minutes of axis, not a millisecond
    figure.update_xaxes(time_axis(timeline["started_at"].min(), timeline["started_at"].max(),
                                  least=timedelta(minutes=10)))
    figure.update_yaxes(tickprefix="$", rangemode="tozero", row=2, col=1)
    return figure


def tool_figure(timeline: pl.DataFrame) -> go.Figure:
    title = "Tool calls in this session"
    tools = timeline.select(pl.col("tools").str.split(", ").alias("tool")).explode("tool").filter(
        pl.col("tool").is_not_null() & (pl.col("tool") != ""))
    if tools.is_empty():
        return empty_figure(title, "The model called no tools in this session")
    counts = tools.group_by("tool").len("calls").sort(["calls", "tool"], descending=[False, True])
    figure = go.Figure(go.Bar(x=counts["calls"].to_list(), y=counts["tool"].to_list(), orientation="h",
                              name="calls"))
    figure.update_layout(base_layout(title, height=max(220, 40 + 24 * counts.height),
                                     xaxis=count_axis(counts["calls"].max(), title="calls")))
    return figure
