"""Policies: every stored version and the active one; for the version picked, its rule-level diff
against the active one (core.policy.rule_diff, as on the Proposals page) and its whole YAML; and,
for approvers, activating a version or rolling back, both audited by store.policies with the
signed-in user as the actor. ``/policies?version=…`` opens a version."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dash import Dash, Input, Output, State, callback_context, dcc, html, no_update

from core.policy.load import dump_policy
from core.policy.rule_diff import rule_diff
from dashboard.components import column, grid, note, page
from dashboard.context import DashboardContext
from dashboard.policy_actions import activate_version, roll_back
from dashboard.review_blocks import read_policy, review_blocks
from dashboard.settings import Role
from store.audit import list_audit
from store.policies import PolicyVersion, active_state, list_versions

PATH = "/policies"
TITLE = "Policies"
VERSION_COLUMNS = [column("version"), column("active", width=90), column("parent"), column("created_at", "created"),
                   column("created_by", "by"), column("note")]
AUDIT_COLUMNS = [column("seq", width=80), column("at", width=190), column("actor"), column("action"),
                 column("subject"), column("detail")]


def audit_detail(detail: Mapping[str, Any]) -> str:
    """``candidate: v3; note: too risky`` rather than a Python repr."""
    return "; ".join(f"{key}: {value}" for key, value in detail.items() if value not in (None, "", [], {}))


def _version_blocks(versions: dict[str, PolicyVersion], active: str | None, chosen: PolicyVersion | None) -> list[Any]:
    """The diff of the chosen version against the active one, and the chosen version's whole YAML."""
    if chosen is None:
        return [html.Pre("Pick a version to compare with the active one.", id="policies-diff", className="diff")]
    policy = read_policy(chosen.document)
    if policy is None:
        return [note(f"{chosen.version} does not read as a policy in this version of switchyard.", "policies-diff")]
    if active is None or active not in versions:
        blocks: list[Any] = [html.Pre(f"Nothing is active: activating {chosen.version} would make it the first "
                                      "active policy.", id="policies-diff", className="diff")]
    elif (base := read_policy(versions[active].document)) is None:
        blocks = [note(f"The active version {active} does not read as a policy here.", "policies-diff")]
    else:
        blocks = review_blocks(rule_diff(base, policy), "policies")
    return [html.H3(f"{chosen.version} against the active version"), *blocks,
            html.H3(f"The whole of {chosen.version}"), html.Pre(dump_policy(policy), id="policies-yaml",
                                                                 className="diff yaml")]


def state_content(ctx: DashboardContext, selected: str | None) -> list[Any]:
    """The active version, the chosen version against it and in full, the versions and the audit trail."""
    versions = list_versions(ctx.engine)
    state = active_state(ctx.engine)
    by_name = {v.version: v for v in versions}
    if state is None:
        active_line = "No policy is active yet."
    else:
        active_line = f"{state.version}, since {state.activated_at:%Y-%m-%d %H:%M:%S} UTC, by {state.activated_by}"
    rows = [{"version": v.version, "active": "✓" if state and v.version == state.version else "",
             "parent": v.parent, "created_at": f"{v.created_at:%Y-%m-%d %H:%M:%S}", "created_by": v.created_by,
             "note": v.note} for v in reversed(versions)]
    audit = [{"seq": e.seq, "at": f"{e.at:%Y-%m-%d %H:%M:%S}", "actor": e.actor, "action": e.action,
              "subject": e.subject, "detail": audit_detail(e.detail)} for e in list_audit(ctx.engine, limit=15)]
    return [
        html.P(["Active: ", html.Strong(active_line, id="policies-active")]),
        *_version_blocks(by_name, state.version if state else None, by_name.get(selected or "")),
        html.H3("Versions"), grid("policies-versions", rows, VERSION_COLUMNS, height=260, row_id="version"),
        html.H3("Audit trail"), grid("policies-audit", audit, AUDIT_COLUMNS, height=300),
    ]


def layout(ctx: DashboardContext, query: Mapping[str, str]) -> html.Div:
    versions = list_versions(ctx.engine)
    asked = query.get("version")
    newest = asked if asked in {v.version for v in versions} else versions[-1].version if versions else None
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

    @app.callback(Output("policies-version", "value"), Input("policies-versions", "cellClicked"),
                  prevent_initial_call=True)
    def _open(cell: dict[str, Any] | None) -> Any:
        row = (cell or {}).get("rowId")
        return row if isinstance(row, str) and row else no_update
