"""`switchyard dashboard`: run the dashboard (settings from SWITCHYARD_DASHBOARD_* variables) and
`switchyard dashboard hash-password`: make the password hash a user entry needs. Mount with
``app.add_typer(dashboard_app, name="dashboard")``."""

from __future__ import annotations

import json
import logging
import sys
from typing import Annotated

import typer

from dashboard.passwords import hash_password
from dashboard.settings import Role

dashboard_app = typer.Typer(help="The web dashboard: costs, routes, policy approval, chargeback.",
                            invoke_without_command=True)


@dashboard_app.callback()
def run(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Listen address (SWITCHYARD_DASHBOARD_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (SWITCHYARD_DASHBOARD_PORT).")] = None,
) -> None:
    """Run the dashboard (DATABASE_URL or the SQLite file in SWITCHYARD_DATA_DIR)."""
    if ctx.invoked_subcommand is not None:
        return
    from dashboard.server import serve
    from dashboard.settings import DashboardSettings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    serve(DashboardSettings(**overrides))  # type: ignore[arg-type]


@dashboard_app.command("hash-password")
def hash_password_command(
    user: Annotated[str | None, typer.Option(help="Also print a users-JSON entry for this user name.")] = None,
    role: Annotated[Role, typer.Option(help="The entry's role.")] = Role.viewer,
    scheme: Annotated[str, typer.Option(help="scrypt or pbkdf2_sha256.")] = "scrypt",
    stdin: Annotated[bool, typer.Option("--stdin", help="Read the password from standard input.")] = False,
) -> None:
    """Print the hash of a password (asked for twice, not echoed) for SWITCHYARD_DASHBOARD_USERS."""
    if stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        # the prompts go to stderr: stdout is only the hash, so "$(switchyard dashboard hash-password)" works
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    if not password:
        typer.echo("an empty password is refused", err=True)
        raise typer.Exit(1)
    try:
        hashed = hash_password(password, scheme=scheme)
    except ValueError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    if user is None:
        typer.echo(hashed)
    else:
        typer.echo(json.dumps({user: {"password_hash": hashed, "role": role.value}}))
