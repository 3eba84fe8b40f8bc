"""Failures: the named failure clusters of a clustering run (the newest by default), written by
the evals into failure_clusters / failure_cluster_members. Clicking a cluster (its row, its bar or
its name) opens it: its features in words, its trends, its example turns, and its member sessions
and turns, each a link to the turn's page or the session's time line. ``?run=…&cluster=…`` opens a
cluster directly (alerts and other pages link there)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import polars as pl
from dash import Dash, Input, Output, State, callback_context, dcc, html

from dashboard.cluster_words import count_trend, features_in_words, trend_sentences, turn_key
from dashboard.components import INTEGER, USD, column, counted, graph, grid, grid_rows, link_column, note, page
from dashboard.context import DashboardContext
from dashboard.figures.failures import NO_CLUSTERS, cluster_size_figure, cluster_trend_figure
from dashboard.links import cluster_href, markdown_link, session_href, turn_href
from dashboard.reads import cluster_sessions, turns_by_keys
from store.cluster_runs import clusters_frame, latest_run_id, member_turns, run_exists

PATH = "/failures"
TITLE = "Failures"
PAGE_SIZE = 20
MEMBER_LIMIT = 200
SESSION_LIMIT = 100
_RUN_ID_LENGTH = 32
CLUSTER_COLUMNS = [
    link_column("open", "cluster", width=260), column("size", "turns", formatter=INTEGER),
    column("cost_usd", "cost", formatter=USD), column("charted_trend", "trend of sessions touched (as charted)"),
    column("trend", "trend against all active sessions (alerts)"), column("words", "dominant features"),
]
SESSION_COLUMNS = [
    link_column("session", "session", width=240), column("developer"), column("repo"),
    column("member_turns", "turns in the cluster", formatter=INTEGER), column("first_at", "first (UTC)"),
    column("last_at", "last (UTC)"),
]
MEMBER_COLUMNS = [
    link_column("turn", "turn (started, UTC)", width=180), link_column("session", "session", width=200),
    column("developer"), column("repo"), column("request_class", "request class"), column("served_model", "model"),
    column("target"), column("estimated_input_tokens", "est. tokens", formatter=INTEGER), column("error_type", "error"),
]


def _cluster_rows(clusters: pl.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for row in clusters.iter_rows(named=True):
        rows.append({"cluster": str(row["cluster"]), "open": markdown_link(row["name"], cluster_href(
            row["run_id"], row["cluster"])), "size": row["size"], "cost_usd": row["cost_usd"],
            "charted_trend": count_trend(row["window_counts"]), "trend": row["trend"],
            "words": features_in_words(json.loads(row["features"]))})
    return rows


def _examples(ctx: DashboardContext, examples: list[str]) -> list[Any]:
    keys = [key for key in map(turn_key, examples) if key is not None]
    stored = turns_by_keys(ctx.engine, keys)
    links: list[Any] = []
    for key in keys:
        turn = stored.get(key)
        label = ("a turn no longer stored" if turn is None else
                 f"{turn['started_at']:%Y-%m-%d %H:%M} · {turn['developer'] or '?'} · "
                 f"{turn['served_model'] or turn['requested_model'] or '?'}")
        links += [dcc.Link(label, href=turn_href(*key)), "; "]
    return links[:-1] or ["none stored"]


def _member_rows(members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for member in members:
        started = member["started_at"]
        row = {key: value for key, value in member.items() if key != "started_at"}
        row["turn"] = markdown_link(f"{started:%Y-%m-%d %H:%M:%S}" if started else "no longer stored",
                                    turn_href(member["trace_id"], member["span_id"]))
        session = member.get("session_id")
        row["session"] = markdown_link(session, session_href(session)) if session else ""
        rows.append(row)
    return rows


def cluster_content(ctx: DashboardContext, run_id: str, cluster: int | None) -> list[Any]:
    """One cluster opened: what it is in words, its trends, examples, sessions and member turns."""
    if cluster is None:
        return [note("Click a cluster (its row or its bar) to open its turns and sessions.", "failures-hint")]
    found = clusters_frame(ctx.engine, run_id).filter(pl.col("cluster") == cluster)
    if found.is_empty():
        return [note(f"Run {run_id} has no cluster {cluster}.", "failures-hint")]
    row = found.row(0, named=True)
    sessions, session_count = cluster_sessions(ctx.engine, run_id, cluster, limit=SESSION_LIMIT)
    members = member_turns(ctx.engine, run_id, cluster=cluster, limit=MEMBER_LIMIT)
    shown = f"the first {len(members)} of {row['size']:,}" if len(members) < row["size"] else f"all {len(members)}"
    which_sessions = (f"the {sessions.height} with the most of its turns" if sessions.height < session_count
                      else "all")
    session_rows = grid_rows(sessions)
    for session in session_rows:
        session["session"] = markdown_link(session["session_id"], session_href(session["session_id"]))
    return [
        html.H3(row["name"], id="failures-cluster-name"),
        html.P(f"{counted(row['size'], 'failing turn')} in {counted(session_count, 'session')}, "
               f"${row['cost_usd']:,.2f}. Features: {features_in_words(json.loads(row['features']))}.",
               id="failures-features", className="intro"),
        html.Ul([html.Li(sentence) for sentence in trend_sentences(row["window_counts"], row["trend"])],
                id="failures-trend"),
        html.P(["Example turns (nearest the cluster's centre): ", *_examples(ctx, row["examples"])],
               id="failures-examples"),
        html.H4(f"Sessions ({which_sessions})"),
        grid("failures-sessions", session_rows, SESSION_COLUMNS, page_size=PAGE_SIZE),
        html.H4(f"Member turns ({shown}, oldest first)"),
        grid("failures-members", _member_rows(members), MEMBER_COLUMNS, page_size=PAGE_SIZE),
        html.P(dcc.Link("Link to this cluster", href=cluster_href(run_id, cluster))),
    ]


def _cluster_of(value: Any) -> int | None:
    try:
        cluster = int(str(value))
    except ValueError:
        return None
    return cluster if 0 <= cluster <= 1_000_000 else None


def content(ctx: DashboardContext, run: str | None = None, cluster: int | None = None) -> list[Any]:
    run_id = run or latest_run_id(ctx.engine)
    if run_id is None:
        return [note(NO_CLUSTERS, "failures-empty")]
    if len(run_id) > _RUN_ID_LENGTH or not run_exists(ctx.engine, run_id):
        return [note(f"No clustering run {run_id[:_RUN_ID_LENGTH]!r} is stored.", "failures-empty")]
    clusters = clusters_frame(ctx.engine, run_id)
    first = clusters.row(0, named=True)
    windows = len(first["window_counts"])
    return [
        dcc.Store(id="failures-run", data=run_id),
        html.P(f"Clustering run {run_id} of {first['created_at']:%Y-%m-%d %H:%M} UTC: {clusters.height} clusters of "
               f"{clusters['size'].sum():,} failing turns started from {first['window_start']:%Y-%m-%d %H:%M} to "
               f"{first['window_end']:%Y-%m-%d %H:%M} UTC, cut into {windows} equal windows.", className="intro"),
        html.Div([graph("failures-sizes", cluster_size_figure(clusters)),
                  graph("failures-trends", cluster_trend_figure(clusters))], className="figures"),
        grid("failures-clusters", _cluster_rows(clusters), CLUSTER_COLUMNS, row_id="cluster", page_size=PAGE_SIZE),
        html.Div(cluster_content(ctx, run_id, cluster), id="failures-detail", className="decision"),
    ]


def layout(ctx: DashboardContext, query: Mapping[str, str]) -> html.Div:
    cluster = _cluster_of(query["cluster"]) if "cluster" in query else None
    if "cluster" in query and cluster is None:
        return page(TITLE, note("cluster must be a whole number from 0 to 1 000 000.", "failures-empty"))
    return page(TITLE, *content(ctx, query.get("run") or None, cluster))


def register(app: Dash, ctx: DashboardContext) -> None:
    @app.callback(Output("failures-detail", "children"), Input("failures-clusters", "cellClicked"),
                  Input("failures-sizes", "clickData"), State("failures-run", "data"), prevent_initial_call=True)
    def _open(clicked: dict[str, Any] | None, bar: dict[str, Any] | None, run_id: str | None) -> list[Any]:
        if callback_context.triggered_id == "failures-sizes":
            points = (bar or {}).get("points") or [{}]
            cluster = _cluster_of((points[0].get("customdata") or [None])[0])
        else:
            cluster = _cluster_of((clicked or {}).get("rowId"))
        # the run id comes back from the browser: anything but a plausible one opens nothing
        if not isinstance(run_id, str) or not 0 < len(run_id) <= _RUN_ID_LENGTH or cluster is None:
            return cluster_content(ctx, "", None)
        return cluster_content(ctx, run_id, cluster)
