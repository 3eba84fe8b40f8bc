"""Proposals: the optimizer's candidate policies with their evidence (cost and quality change with
confidence intervals, sample size, rationale) and their diff against the parent; approvers
approve (the candidate becomes the active version) or reject. Every decision is audited."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dash import Dash, Input, Output, State, callback_context, dcc, html

from core.policy.diff import PolicyDiff, render_diff
from dashboard.components import column, grid, note, page
from dashboard.context import DashboardContext
from dashboard.proposal_actions import approve_proposal, reject_proposal
from dashboard.settings import Role
from store.proposals import PROPOSED, Proposal, list_proposals

PATH = "/proposals"
TITLE = "Proposals"
PROPOSAL_COLUMNS = [
    column("created_at", "proposed", width=170), column("change"), column("status", width=110),
    column("monthly_cost", "Δ cost / month"), column("quality", "Δ quality (CI)", width=260), column("turns"),
    column("decided", "decided by"),
]


def _number(value: Any, template: str) -> str:
    return template.format(value) if isinstance(value, int | float) else "–"


def _signed_usd(value: Any) -> str:
    return f"{'−' if value < 0 else '+'}${abs(value):,.2f}" if isinstance(value, int | float) else "–"


def summary_row(proposal: Proposal) -> dict[str, Any]:
    """One grid line: what changes and what the evidence says, as text."""
    evidence = proposal.evidence
    quality = evidence.get("delta_quality") if isinstance(evidence.get("delta_quality"), dict) else {}
    interval = (f"{_number(quality.get('value'), '{:+.4f}')} ({_number(quality.get('low'), '{:+.4f}')} … "
                f"{_number(quality.get('high'), '{:+.4f}')})") if quality else "–"
    decided = f"{proposal.decided_by} {proposal.decided_at:%Y-%m-%d %H:%M}" if proposal.decided_at else ""
    return {"id": proposal.id, "created_at": f"{proposal.created_at:%Y-%m-%d %H:%M:%S}",
            "change": f"{proposal.parent_version} → {proposal.candidate_version}", "status": proposal.status,
            "monthly_cost": _signed_usd(evidence.get("delta_monthly_cost_usd")), "quality": interval,
            "turns": _number(evidence.get("turns"), "{:,}"), "decided": decided}


def detail(proposals: list[Proposal], chosen: str | None) -> list[Any]:
    found = next((p for p in proposals if p.id == chosen), None)
    if found is None:
        return [note("Pick a proposal to read its evidence and diff.")]
    rationale = found.evidence.get("rationale") or "The optimizer gave no rationale."
    return [html.P(str(rationale), id="proposals-rationale"),
            html.Pre(render_diff(PolicyDiff.from_dict(found.diff)), id="proposals-diff", className="diff"),
            clusters_addressed(found.evidence.get("clusters"))]


def clusters_addressed(clusters: object) -> html.Div:
    """The failure clusters whose turns the candidate routes differently (optimizer.cluster_evidence)."""
    if not isinstance(clusters, list) or not clusters:
        return html.Div(note("It re-routes no turn of the latest failure clusters."), id="proposals-clusters")
    items = [html.Li(f"{c.get('name')}: {c.get('moved'):,} of {c.get('size'):,} turns move ("
                     + ", ".join(f"{move} {count:,}" for move, count in dict(c.get("moves") or {}).items()) + ")")
             for c in clusters if isinstance(c, dict)]
    return html.Div([html.H4("Failure clusters it re-routes"), html.Ul(items)], id="proposals-clusters")


def state_content(ctx: DashboardContext, chosen: str | None) -> list[Any]:
    proposals = list_proposals(ctx.engine)
    if not proposals:
        return [note("No proposals yet: `switchyard optimize` stores one when it finds a cheaper policy "
                     "that keeps quality.", "proposals-empty")]
    return [*detail(proposals, chosen), html.H3("All proposals"),
            grid("proposals-list", [summary_row(p) for p in proposals], PROPOSAL_COLUMNS, height=300)]


def content(ctx: DashboardContext) -> list[Any]:
    pending = list_proposals(ctx.engine, status=PROPOSED)
    return state_content(ctx, pending[0].id if pending else None)


def _options(ctx: DashboardContext) -> list[dict[str, str]]:
    return [{"label": f"{p.parent_version} → {p.candidate_version} ({p.created_at:%Y-%m-%d %H:%M})", "value": p.id}
            for p in list_proposals(ctx.engine, status=PROPOSED)]


def layout(ctx: DashboardContext, query: Mapping[str, str]) -> html.Div:
    options = _options(ctx)
    chosen = options[0]["value"] if options else None
    can_decide = ctx.user().role.at_least(Role.approver)
    controls = html.Div([
        dcc.Dropdown(id="proposals-pick", options=options, value=chosen, placeholder="no pending proposal",
                     clearable=False, style={"width": "30rem"}),
        dcc.ConfirmDialogProvider(
            html.Button("Approve and activate", id="proposals-approve", disabled=not can_decide),
            id="proposals-approve-confirm", message="Approve this proposal and make its policy the active one?"),
        dcc.ConfirmDialogProvider(
            html.Button("Reject", id="proposals-reject", disabled=not can_decide),
            id="proposals-reject-confirm", message="Reject this proposal?"),
    ], className="controls")
    hint = None if can_decide else note("Only approvers can approve or reject.", "proposals-readonly")
    return page(TITLE, controls, hint, html.P("", id="proposals-status", role="status"),
                html.Div(state_content(ctx, chosen), id="proposals-state"))


def register(app: Dash, ctx: DashboardContext) -> None:
    @app.callback(Output("proposals-state", "children"), Output("proposals-status", "children"),
                  Output("proposals-pick", "options"),
                  Input("proposals-pick", "value"), Input("proposals-approve-confirm", "submit_n_clicks"),
                  Input("proposals-reject-confirm", "submit_n_clicks"), State("proposals-pick", "value"),
                  prevent_initial_call=True)
    def _decide(_picked: str | None, _approve: int | None, _reject: int | None,
                chosen: str | None) -> tuple[list[Any], str, list[dict[str, str]]]:
        trigger = callback_context.triggered_id
        status = ""
        if trigger == "proposals-approve-confirm":
            status = approve_proposal(ctx.engine, ctx.user(), chosen, ctx.settings.allowlist())
        elif trigger == "proposals-reject-confirm":
            status = reject_proposal(ctx.engine, ctx.user(), chosen)
        return state_content(ctx, chosen), status, _options(ctx)
