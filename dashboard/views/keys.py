"""Keys (admins only): create a developer's virtual key (its plaintext shown once, on this page,
and nowhere else), revoke one, and list them with their repos and last use. Creating and revoking
go through store.keys, the admin API's write path, which audits who and when; proxies learn of
both from ingest's snapshot. Keys kept in a keys file (`switchyard keys --keys-file`) are the
file's: not listed here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dash import Dash, Input, Output, State, callback_context, dcc, html, no_update

from dashboard.components import column, grid, note, page
from dashboard.context import DashboardContext
from dashboard.key_actions import create_for, revoke_for
from dashboard.key_reads import LAST_USE_LIMIT, MAX_LISTED, key_rows
from dashboard.settings import Role

PATH = "/keys"
TITLE = "Keys"
ROLE = Role.admin  # the navigation shows the page to admins only; every action checks again
PAGE_SIZE = 25
FIELDS = (("developer", "Developer", "e.g. dana"),
          ("team", "Team", "optional"),
          ("repos", "Repos it may tag", "api,web or * (empty: no list)"),
          ("rate_limit_rpm", "Requests a minute", "empty: unlimited"))
KEY_COLUMNS = [
    column("key_id", "key id", width=130), column("developer"), column("team"), column("repos", "allowed repos"),
    column("rate_limit_rpm", "rate limit", width=120), column("state"), column("created"),
    column("last_turn", "developer's last turn (UTC)"),
]


def _field(name: str, label: str, placeholder: str) -> html.Label:
    return html.Label([label, dcc.Input(id=f"keys-{name}", value="", type="text", placeholder=placeholder,
                                        autoComplete="off")], className="field")


def layout(ctx: DashboardContext, query: Mapping[str, str]) -> html.Div:
    user = ctx.user()
    if not user.role.at_least(ROLE):
        return page(TITLE, note(f"Only admins manage keys; {user.name} is a {user.role.value}.", "keys-admins-only"))
    create = html.Div([*(_field(*spec) for spec in FIELDS),
                       html.Button("Create key", id="keys-create", className="button")], className="controls")
    revoke = html.Div([html.Span("Click a key in the list to pick it.", id="keys-picked-text"),
                       dcc.ConfirmDialogProvider(html.Button("Revoke", id="keys-revoke", disabled=True),
                                                 id="keys-revoke-confirm",
                                                 message="Revoke this key? Its developer's Claude Code is refused "
                                                         "from the next snapshot on; this cannot be undone.")],
                      className="controls")
    return page(
        TITLE, html.H3("New key"), create, html.Div(id="keys-created"),
        html.P("", id="keys-status", role="status"), html.H3("Keys"), revoke,
        grid("keys-list", key_rows(ctx.engine), KEY_COLUMNS, row_id="key_id", page_size=PAGE_SIZE),
        note("Turns do not record which key sent them: the last turn is the newest turn of the key's developer "
             f"while the key was valid (looked up for the newest {LAST_USE_LIMIT} keys). At most the newest "
             f"{MAX_LISTED:,} keys are listed; keys kept in a keys file are not."),
        dcc.Store(id="keys-picked"),
        intro="Each developer's Claude Code uses one virtual key (ANTHROPIC_AUTH_TOKEN). Creating and revoking "
              "are audited; proxies pick up either from the next snapshot.")


def _shown_once(key_id: str, plaintext: str) -> html.Div:
    return html.Div([
        html.P(f"The key {key_id}, shown only now:"),
        html.Pre(plaintext, id="keys-new-key", className="diff"),
        html.P("Claude Code: export ANTHROPIC_AUTH_TOKEN=<the key above> (and ANTHROPIC_BASE_URL=<the proxy>)."),
    ], className="decision")


def register(app: Dash, ctx: DashboardContext) -> None:
    @app.callback(Output("keys-created", "children"), Output("keys-status", "children"),
                  Output("keys-list", "rowData"),
                  Input("keys-create", "n_clicks"), Input("keys-revoke-confirm", "submit_n_clicks"),
                  *(State(f"keys-{name}", "value") for name, _, _ in FIELDS), State("keys-picked", "data"),
                  prevent_initial_call=True)
    def _act(_create: int | None, _revoke: int | None, developer: str | None, team: str | None, repos: str | None,
             rate_limit_rpm: str | None, picked: str | None) -> tuple[Any, str, Any]:
        user, now = ctx.user(), ctx.now()
        if callback_context.triggered_id == "keys-create":
            created = create_for(ctx.engine, user, {"developer": developer, "team": team, "repos": repos,
                                                    "rate_limit_rpm": rate_limit_rpm}, now)
            shown: Any = [] if created.plaintext is None else _shown_once(str(created.key_id), created.plaintext)
            return shown, created.sentence, key_rows(ctx.engine) if created.key_id else no_update
        if callback_context.triggered_id == "keys-revoke-confirm":
            return [], revoke_for(ctx.engine, user, picked, now), key_rows(ctx.engine)
        return no_update, "", no_update

    @app.callback(Output("keys-picked", "data"), Output("keys-picked-text", "children"),
                  Output("keys-revoke", "disabled"), Input("keys-list", "cellClicked"), State("keys-list", "rowData"),
                  prevent_initial_call=True)
    def _pick(clicked: dict[str, Any] | None, rows: list[dict[str, Any]] | None) -> tuple[Any, str, bool]:
        key_id = (clicked or {}).get("rowId")
        row = next((r for r in rows or [] if r.get("key_id") == key_id), None)
        if row is None:
            return None, "Click a key in the list to pick it.", True
        if row["state"] != "active":
            return None, f"Key {key_id} of {row['developer']} is already {row['state']}.", True
        return key_id, f"Picked key {key_id} of {row['developer']}.", False
