"""Proposals: the optimizer's candidate policies, pending and decided, each with its evidence and its
rule-level diff against the parent (dashboard.proposal_detail); approvers approve (the candidate
becomes the active version) or reject, with a reason kept with the proposal and in the audit log,
and see the result at once. ``/proposals?id=…`` opens one proposal (a superseded one links its
successor this way); clicking a row of the list opens it too."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dash import Dash, Input, Output, State, callback_context, dcc, html, no_update

from dashboard.components import column, grid, note, page
from dashboard.context import DashboardContext
from dashboard.proposal_actions import MAX_REASON, approve_proposal, reject_proposal
from dashboard.proposal_detail import PATH, proposal_detail
from dashboard.proposal_reads import listed_proposals
from dashboard.settings import Role
from store.errors import NotFoundError
from store.proposals import PROPOSED, Proposal, get_proposal

TITLE = "Proposals"
LISTED = 200  # the newest proposals the page lists; an older one still opens by its link
PROPOSAL_COLUMNS = [
    column("created_at", "proposed", width=170), column("change"), column("status", width=110),
    column("monthly_cost", "Δ cost / month"), column("quality", "Δ quality (CI)", width=260), column("turns"),
    column("decided", "decided by"), column("note", "reason"),
]
__all__ = ["PATH", "TITLE", "layout", "register", "summary_row"]


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
            "turns": _number(evidence.get("turns"), "{:,}"), "decided": decided, "note": proposal.note or ""}


def _label(proposal: Proposal) -> str:
    status = "pending" if proposal.status == PROPOSED else proposal.status
    return f"{status} · {proposal.parent_version} → {proposal.candidate_version} ({proposal.created_at:%Y-%m-%d %H:%M})"


def _find(ctx: DashboardContext, chosen: str | None) -> Proposal | None:
    """The chosen proposal, read whole (the listed ones hold only what the list shows)."""
    if not chosen or len(chosen) > 64:
        return None
    try:
        return get_proposal(ctx.engine, chosen)
    except NotFoundError:
        return None


def _options(proposals: list[Proposal], chosen: Proposal | None) -> list[dict[str, str]]:
    options = [{"label": _label(p), "value": p.id} for p in proposals]
    if chosen is not None and all(p.id != chosen.id for p in proposals):
        options.append({"label": _label(chosen), "value": chosen.id})
    return options


def state_content(ctx: DashboardContext, proposals: list[Proposal], chosen: Proposal | None) -> list[Any]:
    if not proposals and chosen is None:
        return [note("No proposals yet: `switchyard optimize` stores one when it finds a cheaper policy "
                     "that keeps quality.", "proposals-empty")]
    detail = (proposal_detail(ctx.engine, chosen, proposals) if chosen is not None
              else [note("Pick a proposal to read its evidence and diff.")])
    return [*detail, html.H3("All proposals"),
            grid("proposals-list", [summary_row(p) for p in proposals], PROPOSAL_COLUMNS, height=300, row_id="id")]


def _first_choice(proposals: list[Proposal], asked: str | None) -> str | None:
    if asked:
        return asked
    pending = [p for p in proposals if p.status == PROPOSED]
    return (pending or proposals)[0].id if proposals else None


def layout(ctx: DashboardContext, query: Mapping[str, str]) -> html.Div:
    proposals = listed_proposals(ctx.engine, limit=LISTED)
    chosen = _find(ctx, _first_choice(proposals, query.get("id")))
    can_decide = ctx.user().role.at_least(Role.approver)
    closed = not _open_for_decision(ctx, chosen)
    controls = html.Div([
        dcc.Dropdown(id="proposals-pick", options=_options(proposals, chosen), value=chosen.id if chosen else None,
                     placeholder="no proposal", clearable=False, style={"width": "34rem"}),
        dcc.Textarea(id="proposals-reason", maxLength=MAX_REASON, disabled=closed, value="",
                     placeholder="Your reason (kept with the decision and in the audit log; required to reject)",
                     className="reason"),
        dcc.ConfirmDialogProvider(
            html.Button("Approve and activate", id="proposals-approve", disabled=closed),
            id="proposals-approve-confirm", message="Approve this proposal and make its policy the active one?"),
        dcc.ConfirmDialogProvider(
            html.Button("Reject", id="proposals-reject", disabled=closed),
            id="proposals-reject-confirm", message="Reject this proposal?"),
    ], className="controls")
    hint = None if can_decide else note("Only approvers can approve or reject.", "proposals-readonly")
    return page(TITLE, controls, hint, html.P("", id="proposals-status", role="status", className="result"),
                html.Div(state_content(ctx, proposals, chosen), id="proposals-state"))


def _open_for_decision(ctx: DashboardContext, proposal: Proposal | None) -> bool:
    """Whether the signed-in user can decide on ``proposal`` now (the buttons are enabled)."""
    return proposal is not None and proposal.status == PROPOSED and ctx.user().role.at_least(Role.approver)


def _result_class(status: str) -> str:
    if not status:
        return "result"
    return "result result-refused" if status.startswith(("Refused", "Pick")) else "result result-done"


def register(app: Dash, ctx: DashboardContext) -> None:
    @app.callback(Output("proposals-state", "children"), Output("proposals-status", "children"),
                  Output("proposals-status", "className"), Output("proposals-pick", "options"),
                  Output("proposals-reason", "value"), Output("proposals-reason", "disabled"),
                  Output("proposals-approve", "disabled"), Output("proposals-reject", "disabled"),
                  Input("proposals-pick", "value"), Input("proposals-approve-confirm", "submit_n_clicks"),
                  Input("proposals-reject-confirm", "submit_n_clicks"), State("proposals-pick", "value"),
                  State("proposals-reason", "value"), prevent_initial_call=True)
    def _decide(_picked: str | None, _approve: int | None, _reject: int | None, chosen: str | None,
                reason: str | None) -> tuple[Any, ...]:
        trigger = callback_context.triggered_id
        status = ""
        if trigger == "proposals-approve-confirm":
            status = approve_proposal(ctx.engine, ctx.user(), chosen, ctx.settings.allowlist(), reason)
        elif trigger == "proposals-reject-confirm":
            status = reject_proposal(ctx.engine, ctx.user(), chosen, reason)
        proposals = listed_proposals(ctx.engine, limit=LISTED)
        found = _find(ctx, chosen)
        done = status and _result_class(status).endswith("done")
        closed = not _open_for_decision(ctx, found)
        return (state_content(ctx, proposals, found), status, _result_class(status), _options(proposals, found),
                "" if done else no_update, closed, closed, closed)

    @app.callback(Output("proposals-pick", "value"), Input("proposals-list", "cellClicked"), prevent_initial_call=True)
    def _open(cell: dict[str, Any] | None) -> Any:
        row = (cell or {}).get("rowId")
        return row if isinstance(row, str) and row else no_update
