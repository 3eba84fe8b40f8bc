"""Findings: the secrets the egress guardrail found in what Claude Code sent (docs/guardrails.md), by
type, over time, by developer and by repo, and the newest findings each with its turn and session.
The secret itself is never stored, so never shown: a finding is its type, where it was in the
request, and its salted fingerprint (what an admin puts in the policy's allow-list)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import polars as pl
from dash import Dash, Input, Output, dcc, html

from core.secrets.incremental import Where
from core.secrets.verdict import place
from dashboard.components import INTEGER, card, cards, column, graph, grid, link_column, note, page
from dashboard.context import DashboardContext
from dashboard.figures.findings import LABELS, by_principal_figure, by_type_figure, counted, trend_figure
from dashboard.links import markdown_link, session_href, turn_href
from store.findings import finding_rows, guardrail_turns

PATH = "/findings"
TITLE = "Findings"
WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
DEFAULT_WINDOW = "7d"
RECENT = 200
FINDING_COLUMNS = [
    link_column("turn", "turn (started, UTC)", width=180), column("developer"), column("team"), column("repo"),
    column("type"), column("where", width=260), column("line", formatter=INTEGER, width=80), column("outcome"),
    column("fingerprint", width=220), link_column("session", "session", width=200),
]


def _findings(ctx: DashboardContext, window: str) -> tuple[pl.DataFrame, list[dict[str, Any]], timedelta]:
    span = WINDOWS.get(window, WINDOWS[DEFAULT_WINDOW])
    turns = guardrail_turns(ctx.engine, ctx.now() - span)
    return finding_rows(turns), turns, span


def _cards(findings: pl.DataFrame, turns: list[dict[str, Any]]) -> html.Div:
    new = counted(findings)
    blocked = sum(1 for turn in turns if turn["outcome"] == "blocked")
    unscanned = sum(1 for turn in turns if turn["outcome"] in ("unscanned", "failed_open", "failed_closed"))
    return cards(
        card("secrets found", f"{new.height:,}", "findings-count", "first seen in their session"),
        card("requests blocked", f"{blocked:,}", "findings-blocked", "answered with a 400, nothing sent"),
        card("distinct secrets", f"{new['fingerprint'].n_unique():,}", "findings-distinct", "by fingerprint"),
        card("developers", f"{new['developer'].drop_nulls().n_unique():,}", "findings-developers"),
        card("not fully checked", f"{unscanned:,}", "findings-unscanned", "a block over the size cap, or a failure"),
    )


def _where(row: Mapping[str, Any]) -> str:
    if row["message"] is None or row["block"] is None:
        return row["kind"]
    return place(Where(row["message"], row["block"], row["part"], row["kind"]))


def recent_rows(findings: pl.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for row in findings.sort("started_at", descending=True).head(RECENT).iter_rows(named=True):
        started = row["started_at"].isoformat(sep=" ", timespec="seconds") if row["started_at"] else ""
        outcome = f"allowed ({row['allowed']})" if row["allowed"] else row["outcome"]
        rows.append({
            "turn": markdown_link(started, turn_href(row["trace_id"], row["span_id"])),
            "session": markdown_link(row["session_id"], session_href(row["session_id"])) if row["session_id"] else "",
            "developer": row["developer"], "team": row["team"], "repo": row["repo"],
            "type": LABELS.get(row["rule"], row["rule"]), "where": _where(row), "line": row["line"],
            "outcome": outcome + (" (seen before)" if row["repeat"] else ""), "fingerprint": row["fingerprint"],
        })
    return rows


def content(ctx: DashboardContext, window: str = DEFAULT_WINDOW) -> list[Any]:
    findings, turns, span = _findings(ctx, window)
    return [
        _cards(findings, turns),
        html.Div([graph("findings-by-type", by_type_figure(findings)),
                  graph("findings-trend", trend_figure(findings, span))], className="figures"),
        html.Div([graph("findings-by-developer", by_principal_figure(findings, "developer")),
                  graph("findings-by-repo", by_principal_figure(findings, "repo"))], className="figures"),
        html.H3("Newest findings"),
        grid("findings-recent", recent_rows(findings), FINDING_COLUMNS, page_size=20) if findings.height
        else note("No secrets found in this window.", "findings-none"),
    ]


def layout(ctx: DashboardContext, query: Mapping[str, str]) -> html.Div:
    window = query.get("window", DEFAULT_WINDOW)
    window = window if window in WINDOWS else DEFAULT_WINDOW
    controls = dcc.RadioItems(id="findings-window", options=list(WINDOWS), value=window, inline=True,
                              className="controls")
    return page(
        TITLE, controls, dcc.Loading(html.Div(content(ctx, window), id="findings-content")),
        intro="Secrets the gateway's guardrail found in what Claude Code sent: flagged (forwarded, recorded) or "
              "blocked (refused before it left), as the policy's guardrails block says. The secret itself is never "
              "stored; a fingerprint names it. A false positive or a revoked test key: add its fingerprint to "
              "guardrails.allow.fingerprints in the policy.",
    )


def register(app: Dash, ctx: DashboardContext) -> None:
    @app.callback(Output("findings-content", "children"), Input("findings-window", "value"),
                  prevent_initial_call=True)
    def _window(window: str) -> list[Any]:
        return content(ctx, window if window in WINDOWS else DEFAULT_WINDOW)
