"""Routes: which rule fired and which target served (shares over a window, from the rollup), the
fallback chains walked in the last 24 hours, and a drill-down from one recent turn to its routing
decision, explained from the fields the proxy stored with it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import polars as pl
from dash import Dash, Input, Output, dcc, html

from dashboard.components import INTEGER, USD, column, graph, grid, grid_rows, note, page
from dashboard.context import DashboardContext
from dashboard.decision import explain_decision
from dashboard.figures.routes import fallback_figure, share_figure
from dashboard.links import session_href, turn_href
from dashboard.reads import decision_policy, fallback_chains, one_turn, recent_turns
from store.queries import rollup_frame

PATH = "/routes"
TITLE = "Routes"
WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
DEFAULT_WINDOW = "7d"
TURN_COLUMNS = [
    column("started_at", "started", width=170), column("developer"), column("rule"), column("target"),
    column("served_model", "model"), column("estimated_input_tokens", "est. tokens", formatter=INTEGER),
    column("fallback_hops", "fallback hops"), column("status_code", "status", width=90),
    column("cost_usd", "cost", formatter=USD),
]


def share_content(ctx: DashboardContext, window: str = DEFAULT_WINDOW) -> list[Any]:
    now = ctx.now()
    start = (now - WINDOWS.get(window, WINDOWS[DEFAULT_WINDOW])).replace(minute=0, second=0, microsecond=0)
    usage = rollup_frame(ctx.engine, start, None, by=("hour", "rule", "target"))
    return [graph("routes-by-rule", share_figure(usage, "rule", start, now)),
            graph("routes-by-target", share_figure(usage, "target", start, now))]


def fallback_content(ctx: DashboardContext) -> Any:
    return graph("routes-fallbacks", fallback_figure(fallback_chains(ctx.engine, ctx.now() - timedelta(hours=24))))


def turn_rows(ctx: DashboardContext, only_fallbacks: bool = False) -> list[dict[str, Any]]:
    frame = recent_turns(ctx.engine, limit=200, only_fallbacks=only_fallbacks)
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
    controls = dcc.RadioItems(id="routes-window", options=list(WINDOWS), value=DEFAULT_WINDOW, inline=True,
                              className="controls")
    return page(
        TITLE, controls,
        dcc.Loading(html.Div(share_content(ctx), id="routes-shares", className="figures")),
        html.Div([fallback_content(ctx)], className="figures"),
        html.H3("Recent turns"),
        dcc.Checklist(id="routes-only-fallbacks", options=[{"label": "only turns that fell back", "value": "on"}],
                      value=[], inline=True),
        grid("routes-turns", turn_rows(ctx), TURN_COLUMNS, row_id="key"),
        html.Div(note("Click a turn to see why it went where it went."), id="routes-decision",
                 className="decision"),
        intro="Shares come from the hourly rollup; the turn list and its decisions from the turns themselves.",
    )


def register(app: Dash, ctx: DashboardContext) -> None:
    @app.callback(Output("routes-shares", "children"), Input("routes-window", "value"), prevent_initial_call=True)
    def _shares(window: str) -> list[Any]:
        return share_content(ctx, window)

    @app.callback(Output("routes-turns", "rowData"), Input("routes-only-fallbacks", "value"),
                  prevent_initial_call=True)
    def _turns(flags: list[str]) -> list[dict[str, Any]]:
        return turn_rows(ctx, only_fallbacks="on" in (flags or []))

    @app.callback(Output("routes-decision", "children"), Input("routes-turns", "cellClicked"),
                  prevent_initial_call=True)
    def _decision(clicked: dict[str, Any] | None) -> Any:
        return decision_view(ctx, (clicked or {}).get("rowId"))
