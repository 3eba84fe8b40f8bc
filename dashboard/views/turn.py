"""Turn: one stored turn (``/turn?trace=<32 hex>&span=<16 hex>``): why it went where it went,
explained from the policy version it was decided under; what it was (who, which session, models,
tokens, cost, timings, outcome); how the evaluators scored it; and the failure clusters of the
newest clustering run that hold it. Every read is a primary-key or indexed lookup.

Not in the navigation: the Failures, Sessions and Routes pages link here."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dash import Dash, dcc, html

from dashboard.components import note, page, usd
from dashboard.conditions import grouped
from dashboard.context import DashboardContext
from dashboard.decision import explain_decision
from dashboard.links import cluster_href, session_href
from dashboard.reads import decision_policy, one_turn, turn_clusters, turn_scores
from store.cluster_runs import latest_run_id

PATH = "/turn"
TITLE = "Turn"
_TRACE, _SPAN = re.compile(r"^[0-9a-f]{32}$"), re.compile(r"^[0-9a-f]{16}$")


def _number(value: Any, unit: str = "") -> str:
    return "–" if value is None else f"{grouped(int(value))}{unit}"


def _joined(*values: Any) -> str:
    return " · ".join(str(value) for value in values if value not in (None, "")) or "–"


def _facts(turn: Mapping[str, Any]) -> list[tuple[str, Any]]:
    session = turn.get("session_id")
    verified = {True: " (vouched for by the key)", False: " (the client's word)", None: ""}[turn.get("repo_verified")]
    propensity = turn.get("propensity")
    thinking = {True: "on", False: "off", None: "–"}[turn.get("thinking")]
    outcome = f"HTTP {turn.get('status_code')}"
    if turn.get("error_type"):
        outcome += f", {turn['error_type']}" + (f": {turn['error_message']}" if turn.get("error_message") else "")
    if turn.get("stop_reason"):
        outcome += f", stop reason {turn['stop_reason']}"
    tokens = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens")
    return [
        ("started (UTC)", f"{turn['started_at']:%Y-%m-%d %H:%M:%S}"),
        ("developer · team", _joined(turn.get("developer"), turn.get("team"))),
        ("repo", (turn.get("repo") or "–") + verified),
        ("session", dcc.Link(session, href=session_href(session)) if session else "–"),
        ("Claude Code version · request class · agent type",
         _joined(turn.get("cli_version"), turn.get("request_class"), turn.get("agent_type"))),
        ("model asked for → served", f"{turn.get('requested_model') or '–'} → {turn.get('served_model') or '–'}"),
        ("target · region", _joined(turn.get("target"), turn.get("region"))),
        ("rule · policy · logged propensity", _joined(turn.get("rule"), turn.get("policy_version"),
                                               None if propensity is None else f"{propensity:.4g}")),
        ("estimated input · tools offered · thinking",
         _joined(_number(turn.get("estimated_input_tokens"), " tokens"), _number(turn.get("tool_count")), thinking)),
        ("tokens in · out · cache write · cache read", " · ".join(_number(turn.get(name)) for name in tokens)),
        ("cost", usd(turn.get("cost_usd"), 6) + ("" if turn.get("priced", True) else " (not priced)")),
        ("time to first byte · duration", _joined(_number(turn.get("ttfb_ms"), " ms"),
                                                  _number(turn.get("duration_ms"), " ms"))),
        ("outcome", outcome),
        ("tools called", ", ".join(turn.get("tool_use_names") or ()) or "none"),
        ("fallback hops", " → ".join(turn.get("fallback_hops") or ()) or "none"),
    ]


def _fact_table(turn: Mapping[str, Any]) -> html.Table:
    return html.Table([html.Tr([html.Th(label), html.Td(value)]) for label, value in _facts(turn)],
                      id="turn-facts", className="facts")


def _scores(ctx: DashboardContext, trace_id: str, span_id: str) -> Any:
    scored = turn_scores(ctx.engine, trace_id, span_id)
    if scored.is_empty():
        return note("No evaluator has scored this turn yet.", "turn-scores")
    return html.Table([html.Tr([html.Th(h) for h in ("evaluator", "score", "label", "why")])] + [
        html.Tr([html.Td(row["evaluator"]), html.Td(f"{row['value']:.2f}"), html.Td(row["label"]),
                 html.Td(row["reason"] or "")]) for row in scored.iter_rows(named=True)], id="turn-scores",
        className="facts")


def _clusters(ctx: DashboardContext, trace_id: str, span_id: str) -> Any:
    run_id = latest_run_id(ctx.engine)
    held = turn_clusters(ctx.engine, run_id, trace_id, span_id) if run_id else []
    if not held:
        return note("In no failure cluster of the newest clustering run.", "turn-clusters")
    return html.P(["In failure cluster ", *[dcc.Link(name, href=cluster_href(run_id or "", cluster))
                                            for cluster, name in held], " of the newest clustering run."],
                  id="turn-clusters")


def content(ctx: DashboardContext, trace_id: str, span_id: str) -> list[Any]:
    if not (_TRACE.match(trace_id) and _SPAN.match(span_id)):
        return [note("Not a turn: a turn is named by ?trace= (32 hex digits) and &span= (16 hex digits).",
                     "turn-missing")]
    turn = one_turn(ctx.engine, trace_id, span_id)
    if turn is None:
        return [note("No such turn is stored (the retention job may have deleted it).", "turn-missing")]
    why = explain_decision(turn, ctx.prices, decision_policy(ctx.engine, turn.get("policy_version")))
    return [
        html.H3("Why it went there"), html.P(why, id="turn-why", className="decision"),
        html.H3("What it was"), _fact_table(turn),
        html.H3("How the evaluators scored it"), _scores(ctx, trace_id, span_id),
        _clusters(ctx, trace_id, span_id),
    ]


def layout(ctx: DashboardContext, query: Mapping[str, str]) -> html.Div:
    trace_id, span_id = (query.get("trace") or "").strip().lower(), (query.get("span") or "").strip().lower()
    return page(TITLE, *content(ctx, trace_id, span_id))


def register(app: Dash, ctx: DashboardContext) -> None:
    """No controls: the router renders the page whole."""
