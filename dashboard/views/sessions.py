"""Sessions: find sessions by id, developer, repo and time range (a plain GET form, so a search is
a URL that can be shared and survives a reload), and any session's time line of turns, the tools
the model called, what Claude Code reported back (tool results and failures) and the running
cost. A session's page reads that session's own turns (indexed by session id), never a scan."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import polars as pl
from dash import Dash, Input, Output, dcc, html

from dashboard.components import INTEGER, USD, column, counted, graph, grid, grid_rows, link_column, note, page, usd
from dashboard.context import DashboardContext
from dashboard.figures.sessions import session_figure, session_timeline, tool_figure
from dashboard.links import markdown_link, session_href, turn_href
from dashboard.reads import SESSION_LIMIT, find_sessions, session_rows
from dashboard.session_query import SessionQuery, session_query
from store.queries import logs_frame, turns_frame

PATH = "/sessions"
TITLE = "Sessions"
TOOL_RESULT_EVENT = "claude_code.tool_result"
PAGE_SIZE = 25
SESSION_COLUMNS = [
    link_column("session", "session", width=260), column("developer"), column("team"), column("repo"),
    column("turns", formatter=INTEGER), column("errors", formatter=INTEGER), column("cost_usd", "cost", formatter=USD),
    column("first_at", "first turn (UTC)"), column("last_at", "last turn (UTC)"),
]
TURN_COLUMNS = [
    link_column("turn", "started (UTC)", width=170), column("model"), column("rule"), column("target"),
    column("tools"), column("outcome", width=100), column("context_tokens", "context", formatter=INTEGER),
    column("output_tokens", "output", formatter=INTEGER), column("cost_usd", "cost", formatter=USD),
]


def session_content(ctx: DashboardContext, session_id: str | None) -> list[Any]:
    if not session_id:
        return [note("Click a session to see its time line.", "sessions-hint")]
    turns = turns_frame(ctx.engine, session_id=session_id)
    timeline = session_timeline(turns)
    if timeline.is_empty():
        return [note(f"No turns stored for session {session_id}.", "sessions-hint")]
    events = logs_frame(ctx.engine, session_id=session_id, event_name=TOOL_RESULT_EVENT)
    failed = events.filter(pl.col("success").not_()).height
    cost = Decimal(timeline["cost_usd"].sum() or 0)
    summary = (f"{counted(timeline.height, 'turn')}, {counted(int(timeline['tool_calls'].sum()), 'tool call')} "
               f"asked for, {counted(events.height, 'tool result')} reported by Claude Code ({failed} failed), "
               f"{usd(cost, 4)}.")
    who = turns.row(0, named=True)
    rows = grid_rows(timeline)
    for row in rows:
        row["turn"] = markdown_link(row["started_at"], turn_href(row["trace_id"], row["span_id"]))
    return [
        html.H3(f"Session {session_id}", id="sessions-title"),
        html.P([f"{who['developer'] or 'unknown developer'} in {who['repo'] or 'an unnamed repo'}. ", summary, " ",
                dcc.Link("Link to this session", href=session_href(session_id))],
               id="sessions-summary", className="intro"),
        html.Div([graph("sessions-timeline", session_figure(timeline, session_id)),
                  graph("sessions-tools", tool_figure(timeline))], className="figures"),
        grid("sessions-turns", rows, TURN_COLUMNS, page_size=PAGE_SIZE),
    ]


def _field(name: str, label: str, value: str | None, placeholder: str) -> html.Label:
    return html.Label([label, dcc.Input(id=f"sessions-{name}", name=name, value=value or "", type="search",
                                        placeholder=placeholder)], className="field")


def search_form(chosen: SessionQuery, query: Mapping[str, str]) -> html.Form:
    return html.Form([
        _field("session", "Session id", chosen.session, "exact id"),
        _field("developer", "Developer", chosen.developer, "any"),
        _field("repo", "Repo", chosen.repo, "any"),
        _field("from", "From (UTC)", query.get("from"), "2026-01-31 or 2026-01-31 14:00"),
        _field("to", "To (UTC)", query.get("to"), "now"),
        html.Button("Search", id="sessions-search-button", type="submit", className="button"),
        dcc.Link("Clear", href=PATH),
    ], id="sessions-search", action=PATH, method="get", className="controls")


def _list_rows(sessions: pl.DataFrame) -> list[dict[str, Any]]:
    rows = grid_rows(sessions)
    for row in rows:
        row["session"] = markdown_link(row["session_id"], session_href(row["session_id"]))
    return rows


def list_content(ctx: DashboardContext, chosen: SessionQuery) -> list[Any]:
    """The sessions the query finds and a sentence saying what was searched."""
    if chosen.problems:
        return [note("Not searched: " + "; ".join(chosen.problems) + ".", "sessions-problems")]
    if chosen.session is not None:
        sessions = session_rows(ctx.engine, [chosen.session])
        said = "The session with that id." if sessions.height else f"No session {chosen.session} is stored."
        cut = None
    else:
        found = find_sessions(ctx.engine, developer=chosen.developer, repo=chosen.repo, start=chosen.start,
                              end=chosen.end)
        sessions, cut = found.sessions, found.searched_back_to
        whose = " and ".join(f"{name} {value}" for name, value in (("developer", chosen.developer),
                                                                     ("repo", chosen.repo)) if value) or "anyone"
        where = " in the range" if chosen.start or chosen.end else ""
        if sessions.is_empty():
            said = f"No sessions of {whose}{where}." if chosen.filtered else "No sessions stored yet."
        else:
            said = (f"{counted(sessions.height, 'session')} of {whose}{where}, most recently active first"
                    f"{f' (the newest {SESSION_LIMIT})' if sessions.height == SESSION_LIMIT else ''}.")
        if cut is not None:
            said += (f" The search read turns back to {cut:%Y-%m-%d %H:%M} UTC: set \u201cto\u201d earlier to see "
                     "older sessions.")
    return [html.P(said, id="sessions-found", className="intro"),
            grid("sessions-list", _list_rows(sessions), SESSION_COLUMNS, row_id="session_id", page_size=PAGE_SIZE)]


def layout(ctx: DashboardContext, query: Mapping[str, str]) -> html.Div:
    chosen = session_query(query)
    return page(
        TITLE, search_form(chosen, query), *list_content(ctx, chosen),
        html.Div(session_content(ctx, None if chosen.problems else chosen.session), id="sessions-detail"),
        intro="Search by session id, or by developer, repo and time; click a session for its time line.",
    )


def register(app: Dash, ctx: DashboardContext) -> None:
    @app.callback(Output("sessions-detail", "children"), Input("sessions-list", "cellClicked"),
                  prevent_initial_call=True)
    def _detail(clicked: dict[str, Any] | None) -> list[Any]:
        return session_content(ctx, (clicked or {}).get("rowId"))
