"""Findings: what the egress secret guardrail found, by type, over time, by developer and by repo.
Input: store.findings.finding_rows (one row per finding; never the secret). A finding is counted
where it was first seen in its session (``repeat`` false): a flagged secret that stays in a
session's history is one finding, not one per turn."""

from __future__ import annotations

from datetime import timedelta

import plotly.graph_objects as go
import polars as pl

from core.secrets.rules import RULES
from dashboard.figures.style import base_layout, count_axis, empty_figure

LABELS = {rule.id: rule.label.removeprefix("an ").removeprefix("a ") for rule in RULES}
OUTCOME_COLOURS = {"blocked": "#c62828", "flagged": "#f9a825", "allowed": "#90a4ae"}
NONE_YET = "No secrets found in this window"
TOP = 15


def counted(findings: pl.DataFrame) -> pl.DataFrame:
    """The findings that count: first seen in their session."""
    return findings.filter(~pl.col("repeat"))


def _outcome_bars(findings: pl.DataFrame, key: str, title: str, axis: str) -> go.Figure:
    rows = counted(findings).with_columns(pl.col(key).fill_null("(none)"))
    if rows.is_empty():
        return empty_figure(title, NONE_YET)
    totals = rows.group_by(key).len("n").sort(["n", key], descending=[True, False]).head(TOP)
    order = totals[key].to_list()[::-1]  # largest on top
    sums = rows.filter(pl.col(key).is_in(order)).group_by(key, "outcome").len("n")
    bars = []
    for outcome, colour in OUTCOME_COLOURS.items():
        part = dict(sums.filter(pl.col("outcome") == outcome).select(key, "n").iter_rows())
        if part:
            labels = [LABELS.get(name, name) if key == "rule" else name for name in order]
            bars.append(go.Bar(x=[part.get(name, 0) for name in order], y=labels, orientation="h", name=outcome,
                               marker_color=colour, hovertemplate=f"%{{y}}: %{{x}} {outcome}<extra></extra>"))
    figure = go.Figure(bars)
    figure.update_layout(base_layout(title, barmode="stack", height=max(260, 60 + 26 * len(order)),
                                     margin={"l": 230, "r": 20, "t": 45, "b": 40},
                                     xaxis=count_axis(totals["n"].max(), title=axis)))
    return figure


def by_type_figure(findings: pl.DataFrame) -> go.Figure:
    return _outcome_bars(findings, "rule", "Secrets found, by type", "findings")


def by_principal_figure(findings: pl.DataFrame, key: str) -> go.Figure:
    return _outcome_bars(findings, key, f"Secrets found, by {key}", "findings")


def trend_figure(findings: pl.DataFrame, window: timedelta) -> go.Figure:
    """New findings per hour (a day's window) or per day, stacked by type."""
    title = "Secrets found over time"
    rows = counted(findings)
    if rows.is_empty():
        return empty_figure(title, NONE_YET)
    bucket = "1h" if window <= timedelta(days=1) else "1d"
    sums = (rows.with_columns(pl.col("started_at").dt.truncate(bucket).alias("time"))
            .group_by("time", "rule").len("n").sort("time"))
    figure = go.Figure([
        go.Bar(x=part["time"].to_list(), y=part["n"].to_list(), name=LABELS.get(rule, rule),
               hovertemplate=f"{LABELS.get(rule, rule)}: %{{y}}<extra></extra>")
        for rule in sorted(sums["rule"].unique().to_list())
        for part in [sums.filter(pl.col("rule") == rule)]
    ])
    largest = sums.group_by("time").agg(pl.col("n").sum())["n"].max()
    figure.update_layout(base_layout(title, barmode="stack", yaxis=count_axis(largest, title="findings"),
                                     xaxis={"title": f"per {'hour' if bucket == '1h' else 'day'} (UTC)"},
                                     legend={"orientation": "h", "y": -0.3}))
    return figure
