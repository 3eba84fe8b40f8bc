"""The global filter bar a page puts above its numbers: a plain GET form, so the filters are the
page's URL (a reload or a shared link shows the same view); the navigation's links carry them to
the other pages (``carried``).

The choices offered are the names seen in the hourly rollup over the last 90 days (at most
MAX_CHOICES of each, busiest first); a name typed into the URL that is not among them is still
applied and shown, so a link to a quiet developer keeps working."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode

import polars as pl
from dash import html

from dashboard.components import note
from dashboard.context import DashboardContext
from dashboard.filters import DIMENSIONS, FIELDS, PERIOD_WORDS, PERIODS, Filters
from store.queries import rollup_frame

MAX_CHOICES = 500
CHOICE_WINDOW = PERIODS["90d"]


def filter_choices(ctx: DashboardContext) -> dict[str, list[str]]:
    """Per dimension, the names that had spend or requests in the last 90 days, busiest first."""
    start = (ctx.now() - CHOICE_WINDOW).replace(minute=0, second=0, microsecond=0)
    usage = rollup_frame(ctx.engine, start, None, by=DIMENSIONS)
    choices: dict[str, list[str]] = {}
    for name in DIMENSIONS:
        busiest = (usage.drop_nulls(name).group_by(name).agg(pl.col("requests").sum())
                   .sort(["requests", name], descending=[True, False]).head(MAX_CHOICES))
        choices[name] = busiest[name].to_list()
    return choices


def _select(name: str, value: str | None, options: list[tuple[str, str]]) -> html.Label:
    return html.Label([name, html.Select([html.Option(text, value=option, selected=option == (value or ""))
                                          for option, text in options], name=name, id=f"filter-{name}")],
                      className="field")


def filter_bar(ctx: DashboardContext, filters: Filters, *, path: str, periods: Sequence[str] = (),
               dimensions: Sequence[str] = DIMENSIONS, covers: str | None = None) -> html.Div:
    """The bar, a plain GET form on ``path`` (so the filters are the URL): the page's periods (none:
    the page names its own windows) and dimensions, the problems with what the URL asked, and a
    sentence saying what the numbers below cover."""
    choices = filter_choices(ctx)
    controls: list[Any] = []
    if periods:
        controls.append(_select("period", filters.period, [(period, PERIOD_WORDS[period]) for period in periods]))
    for name in dimensions:
        value = getattr(filters, name)
        named = choices[name] if value is None or value in choices[name] else [value, *choices[name]]
        controls.append(_select(name, value, [("", "any"), *((choice, choice) for choice in named)]))
    controls += [html.Button("Apply", id="filters-apply", type="submit", className="button"),
                 # a whole page load: the router renders on a change of path, and this one keeps the path
                 html.A("Clear", href=path, id="filters-clear")]
    narrowed = [f"{name} {value}" for name, value in filters.named().items() if name in dimensions]
    scope = covers or PERIOD_WORDS[filters.period]
    said = "Showing " + scope + (", " + " and ".join(narrowed) if narrowed else ", everyone") + "."
    parts: list[Any] = [html.Form(controls, id="filters", action=path, method="get", className="controls"),
                        html.P(said, id="filters-words", className="intro")]
    if filters.problems:
        parts.append(note("Filters not applied: " + "; ".join(filters.problems) + ".", "filters-problems"))
    return html.Div(parts)


def carried(search: str | None) -> str:
    """The part of ``search`` that goes with the navigation: only the global filters."""
    asked = [(name, value) for name, value in parse_qsl((search or "").lstrip("?")) if name in FIELDS and value]
    return f"?{urlencode(asked)}" if asked else ""
