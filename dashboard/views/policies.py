"""Policies: every stored version and the active one, the diff between a version and the active
one (core.policy.diff), and, for approvers, activating a version or rolling back, both audited
by store.policies with the signed-in user as the actor."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dash import Dash, Input, Output, State, callback_context, dcc, html

from core.policy.diff import diff, render_diff
from dashboard.components import column, grid, note, page
from dashboard.context import DashboardContext
from dashboard.policy_actions import activate_version, roll_back
from dashboard.settings import Role
from store.audit import list_audit
from store.policies import active_state, list_versions

PATH = "/policies"
TITLE = "Policies"
VERSION_COLUMNS = [column("version"), column("active", width=90), column("parent"), column("created_at", "created"),
                   column("created_by", "by"), column("note")]
AUDIT_COLUMNS = [column("seq", width=80), column("at", width=190), column("actor"), column("action"),
                 column("subject"), column("detail")]


def state_content(ctx: DashboardContext, selected: str | None) -> list[Any]:
    """The active version, the diff of ``selected`` against it, the versions and the audit trail."""
    versions = list_versions(ctx.engine)
    state = active_state(ctx.engine)
    by_name = {v.version: v for v in versions}
    if state is None:
        active_line = "No policy is active yet."
    else:
        active_line = f"{state.version}, since {state.activated_at:%Y-%m-%d %H:%M:%S} UTC, by {state.activated_by}"
    chosen = by_name.get(selected or "")
    if chosen is None:
        diff_text = "Pick a version to compare with the active one."
    elif state is None or state.version not in by_name:
        diff_text = f"Nothing is active: activating {chosen.version} would make it the first active policy."
    else:
        diff_text = render_diff(diff(by_name[state.version].policy(), chosen.policy()))
    rows = [{"version": v.version, "active": "✓" if state and v.version == state.version else "",
             "parent": v.parent, "created_at": f"{v.created_at:%Y-%m-%d %H:%M:%S}", "created_by": v.created_by,
             "note": v.note} for v in reversed(versions)]
    audit = [{"seq": e.seq, "at": f"{e.at:%Y-%m-%d %H:%M:%S}", "actor": e.actor, "action": e.action,
              "subject": e.subject, "detail": str(dict(e.detail))} for e in list_audit(ctx.engine, limit=15)]
    return [
        html.P(["Active: ", html.Strong(active_line, id="policies-active")]),
        html.H3("Diff against the active version"),
        html.Pre(diff_text, id="policies-diff", className="diff"),
        html.H3("Versions"), grid("policies-versions", rows, VERSION_COLUMNS, height=260),
        html.H3("Audit trail"), grid("policies-audit", audit, AUDIT_COLUMNS, height=300),
    ]


def content(ctx: DashboardContext) -> list[Any]:
    versions = list_versions(ctx.engine)
    return state_content(ctx, versions[-1].version if versions else None)


def layout(ctx: DashboardContext, query: Mapping[str, str]) -> html.Div:
    versions = list_versions(ctx.engine)
    newest = versions[-1].version if versions else None
    can_change = ctx.user().role.at_least(Role.approver)
    hint = None if can_change else note("Only approvers can activate or roll back.", "policies-readonly")
    actions = html.Div([
        dcc.Dropdown(id="policies-version", options=[v.version for v in reversed(versions)], value=newest,
                     clearable=False, style={"width": "22rem"}),
        dcc.ConfirmDialogProvider(
            html.Button("Activate this version", id="policies-activate", disabled=not can_change),
            id="policies-activate-confirm", message="Activate the selected version? Proxies pick it up in seconds."),
        dcc.ConfirmDialogProvider(
            html.Button("Roll back", id="policies-rollback", disabled=not can_change),
            id="policies-rollback-confirm", message="Go back to the previously active version?"),
    ], className="controls")
    return page(TITLE, actions, hint, html.P("", id="policies-status", role="status"),
                html.Div(state_content(ctx, newest), id="policies-state"))


def register(app: Dash, ctx: DashboardContext) -> None:
    @app.callback(Output("policies-state", "children"), Output("policies-status", "children"),
                  Input("policies-version", "value"), Input("policies-activate-confirm", "submit_n_clicks"),
                  Input("policies-rollback-confirm", "submit_n_clicks"), State("policies-version", "value"),
                  prevent_initial_call=True)
    def _change(_picked: str | None, _activate: int | None, _rollback: int | None,
                version: str | None) -> tuple[list[Any], str]:
        trigger = callback_context.triggered_id
        status = ""
        if trigger == "policies-activate-confirm":
            status = activate_version(ctx.engine, ctx.user(), version, ctx.settings.allowlist())
        elif trigger == "policies-rollback-confirm":
            status = roll_back(ctx.engine, ctx.user(), ctx.settings.allowlist())
        return state_content(ctx, version), status
