"""Sessions: the recently active sessions, and one session's time line of turns, the tools the model
called, what Claude Code reported back (tool results and failures) and the running cost. A session
page reads that session's own turns (indexed by session id), never a scan."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import polars as pl
from dash import Dash, Input, Output, html

from dashboard.components import INTEGER, USD, column, counted, graph, grid, grid_rows, note, page, usd
from dashboard.context import DashboardContext
from dashboard.figures.sessions import session_figure, session_timeline, tool_figure
from dashboard.reads import recent_sessions
from store.queries import logs_frame, turns_frame

PATH = "/sessions"
TITLE = "Sessions"
TOOL_RESULT_EVENT = "claude_code.tool_result"
SESSION_COLUMNS = [
    column("session_id", "session", width=260), column("developer"), column("repo"),
    column("turns", formatter=INTEGER), column("cost_usd", "cost", formatter=USD),
    column("first_at", "first turn"), column("last_at", "last turn"),
]
TURN_COLUMNS = [
    column("started_at", "started", width=170), column("model"), column("rule"), column("target"),
    column("tools"), column("outcome", width=100), column("context_tokens", "context", formatter=INTEGER),
    column("output_tokens", "output", formatter=INTEGER), column("cost_usd", "cost", formatter=USD),
]


def session_content(ctx: DashboardContext, session_id: str | None) -> list[Any]:
    if not session_id:
        return [note("Pick a session above.", "sessions-hint")]
    timeline = session_timeline(turns_frame(ctx.engine, session_id=session_id))
    if timeline.is_empty():
        return [note(f"No turns stored for session {session_id}.", "sessions-hint")]
    events = logs_frame(ctx.engine, session_id=session_id, event_name=TOOL_RESULT_EVENT)
    failed = events.filter(pl.col("success").not_()).height
    cost = Decimal(timeline["cost_usd"].sum() or 0)
    summary = (f"{counted(timeline.height, 'turn')}, {counted(int(timeline['tool_calls'].sum()), 'tool call')} "
               f"asked for, {counted(events.height, 'tool result')} reported by Claude Code ({failed} failed), "
               f"{usd(cost, 4)}.")
    return [
        html.P(summary, id="sessions-summary", className="intro"),
        html.Div([graph("sessions-timeline", session_figure(timeline, session_id)),
                  graph("sessions-tools", tool_figure(timeline))], className="figures"),
        grid("sessions-turns", grid_rows(timeline), TURN_COLUMNS, height=320),
    ]


def list_content(ctx: DashboardContext) -> list[dict[str, Any]]:
    return grid_rows(recent_sessions(ctx.engine))


def layout(ctx: DashboardContext, query: Mapping[str, str]) -> html.Div:
    chosen = query.get("session")
    return page(
        TITLE,
        grid("sessions-list", list_content(ctx), SESSION_COLUMNS, height=300, row_id="session_id"),
        html.Div(session_content(ctx, chosen), id="sessions-detail"),
        intro="Sessions active most recently; click one to see its time line.",
    )


def register(app: Dash, ctx: DashboardContext) -> None:
    @app.callback(Output("sessions-detail", "children"), Input("sessions-list", "cellClicked"),
                  prevent_initial_call=True)
    def _detail(clicked: dict[str, Any] | None) -> list[Any]:
        return session_content(ctx, (clicked or {}).get("rowId"))
