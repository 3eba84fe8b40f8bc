"""Routes: which rule fired and which target served (shares over a window, from the rollup), the
fallback chains walked in the last 24 hours, and a drill-down from one recent turn to its routing
decision, explained from the fields the proxy stored with it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

import polars as pl
from dash import Dash, Input, Output, State, dcc, html

from dashboard.components import INTEGER, USD, column, graph, grid, grid_rows, note, page
from dashboard.context import DashboardContext
from dashboard.decision import explain_decision
from dashboard.figures.routes import fallback_figure, share_figure
from dashboard.filter_bar import filter_bar
from dashboard.filters import Filters, read_filters
from dashboard.links import session_href, turn_href
from dashboard.reads import decision_policy, fallback_chains, one_turn, recent_turns
from store.queries import rollup_frame

PATH = "/routes"
TITLE = "Routes"
PERIODS = ("24h", "7d", "30d")
DEFAULT_PERIOD = "7d"
TURN_COLUMNS = [
    column("started_at", "started", width=170), column("developer"), column("rule"), column("target"),
    column("served_model", "model"), column("estimated_input_tokens", "est. tokens", formatter=INTEGER),
    column("fallback_hops", "fallback hops"), column("status_code", "status", width=90),
    column("cost_usd", "cost", formatter=USD),
]


def filters_of(query: Mapping[str, str]) -> Filters:
    return read_filters(query, DEFAULT_PERIOD)


def share_content(ctx: DashboardContext, filters: Filters) -> list[Any]:
    now = ctx.now()
    start = filters.start(now)
    usage = rollup_frame(ctx.engine, start, None, by=("hour", "rule", "target"), **filters.named())
    return [graph("routes-by-rule", share_figure(usage, "rule", start, now)),
            graph("routes-by-target", share_figure(usage, "target", start, now))]


def fallback_content(ctx: DashboardContext, filters: Filters) -> Any:
    now = ctx.now()
    # the chains of the last 24 hours whatever the period: the figure is about what is failing now
    chains = fallback_chains(ctx.engine, now - timedelta(hours=24), named=filters.named())
    return graph("routes-fallbacks", fallback_figure(chains))


def turn_rows(ctx: DashboardContext, filters: Filters, only_fallbacks: bool = False) -> list[dict[str, Any]]:
    frame = recent_turns(ctx.engine, limit=200, only_fallbacks=only_fallbacks, named=filters.named())
    frame = frame.with_columns(pl.concat_str("trace_id", pl.lit("/"), "span_id").alias("key"))
    return grid_rows(frame)


def decision_view(ctx: DashboardContext, key: str | None) -> list[Any]:
    """The decision behind the turn ``trace_id/span_id``, with a link to its session."""
    trace_id, _, span_id = (key or "").partition("/")
    turn = one_turn(ctx.engine, trace_id, span_id) if span_id else None
    if turn is None:
        return [note("That turn is no longer stored.")]
    session = turn.get("session_id")
    links = [dcc.Link("open the turn", href=turn_href(trace_id, span_id))]
    if session:
        links += [" · ", dcc.Link("open its session", href=session_href(session))]
    why = explain_decision(turn, ctx.prices, decision_policy(ctx.engine, turn.get("policy_version")))
    return [html.P(why, id="routes-decision-text"), html.P(links)]


def layout(ctx: DashboardContext, query: Mapping[str, str]) -> html.Div:
    filters = filters_of(query)
    return page(
        TITLE, filter_bar(ctx, filters, path=PATH, periods=PERIODS),
        dcc.Loading(html.Div(share_content(ctx, filters), id="routes-shares", className="figures")),
        html.Div([fallback_content(ctx, filters)], className="figures"),
        html.H3("Recent turns"),
        dcc.Checklist(id="routes-only-fallbacks", options=[{"label": "only turns that fell back", "value": "on"}],
                      value=[], inline=True),
        grid("routes-turns", turn_rows(ctx, filters), TURN_COLUMNS, row_id="key"),
        html.Div(note("Click a turn to see why it went where it went."), id="routes-decision",
                 className="decision"),
        intro="Shares come from the hourly rollup; the turn list and its decisions from the turns themselves.",
    )


def register(app: Dash, ctx: DashboardContext) -> None:
    @app.callback(Output("routes-turns", "rowData"), Input("routes-only-fallbacks", "value"),
                  State("url", "search"), prevent_initial_call=True)
    def _turns(flags: list[str], search: str | None) -> list[dict[str, Any]]:
        filters = filters_of(dict(parse_qsl((search or "").lstrip("?"))))
        return turn_rows(ctx, filters, only_fallbacks="on" in (flags or []))

    @app.callback(Output("routes-decision", "children"), Input("routes-turns", "cellClicked"),
                  prevent_initial_call=True)
    def _decision(clicked: dict[str, Any] | None) -> Any:
        return decision_view(ctx, (clicked or {}).get("rowId"))
