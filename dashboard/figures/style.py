"""The look shared by every figure: one template, one palette, and the empty-state figure (a chart
with a sentence instead of axes, so "no data" never looks like a broken page)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import plotly.graph_objects as go

PALETTE = ("#3366cc", "#ff9900", "#109618", "#990099", "#0099c6", "#dd4477", "#66aa00", "#b82e2e", "#316395",
           "#994499", "#22aa99", "#aaaa11")
STATE_COLOURS = {"ok": "#2e7d32", "soft": "#f9a825", "hard": "#c62828", "no budget": "#90a4ae"}
TOKEN_COLOURS = {"input": "#3366cc", "output": "#ff9900", "cache write": "#990099", "cache read": "#109618"}


def base_layout(title: str, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "title": {"text": title, "x": 0.01, "font": {"size": 15}},
        "template": "plotly_white",
        "margin": {"l": 50, "r": 20, "t": 45, "b": 40},
        "height": 320,
        "legend": {"orientation": "h", "y": -0.18},
        "colorway": list(PALETTE),
    }
    layout.update(extra)
    return layout


def empty_figure(title: str, message: str) -> go.Figure:
    figure = go.Figure(layout=base_layout(title))
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    figure.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                          font={"size": 14, "color": "#666"})
    return figure


def floats(values: Iterable[Decimal | float | int | None]) -> list[float | None]:
    """Money for plotting: figures draw floats; exact values stay in tables and exports."""
    return [None if value is None else float(value) for value in values]


def count_axis(largest: float | int | None, **extra: Any) -> dict[str, Any]:
    """An axis of whole counts: no "0.5 turns" ticks. Plotly picks fractional steps for small
    ranges, so up to 10 the step is 1; above that its own steps are whole already."""
    axis: dict[str, Any] = {"rangemode": "tozero", "tickformat": ",d"}
    if largest is None or largest <= 10:
        axis["dtick"] = 1
    axis.update(extra)
    return axis


def time_axis(start: datetime, end: datetime, *, least: timedelta = timedelta(hours=1), **extra: Any) -> dict[str, Any]:
    """A date axis over the window the figure is about, [start, end], widened evenly about its
    middle to at least ``least``. Left to itself plotly ranges one instant (one turn, one day of
    data) a millisecond either side, and labels it "23:59:59.9996 … 00:00:00.0004"."""
    if end - start < least:
        middle = start + (end - start) / 2
        start, end = middle - least / 2, middle + least / 2
    axis: dict[str, Any] = {"type": "date", "range": [start.isoformat(sep=" "), end.isoformat(sep=" ")]}
    axis.update(extra)
    return axis


# A day's bar, in the milliseconds of a date axis: plotly sizes bars by the gap between them, so a
# lone bar (one day of data) would be a hairline without a width.
DAY_BAR_MS = 0.8 * 86_400_000


def day_axis(first: date, last: date, **extra: Any) -> dict[str, Any]:
    """A date axis for one bar or point per day from ``first`` to ``last``: each day's mark sits on
    its midnight, so the range runs half a day either side."""
    half = timedelta(hours=12)
    return time_axis(datetime.combine(first, time()) - half, datetime.combine(last, time()) + half,
                     least=timedelta(days=1), **extra)
