"""`switchyard keys …`: create, list and revoke virtual keys (the key file holds hashes only)."""

from __future__ import annotations

import dataclasses
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.keys import KeyRing, mint_key
from proxy.keyfile import load_keyring, save_keyring

keys_app = typer.Typer(help="Virtual keys: one per developer, stored hashed.", no_args_is_help=True)
KeysFile = Annotated[Path, typer.Option("--keys-file", envvar="SWITCHYARD_KEYS_FILE", help="The keys file.")]


def create_key(path: Path, developer: str, team: str | None, rate_limit_rpm: int | None = None) -> str:
    """Add a key for ``developer`` to the file at ``path``; return the plaintext key (shown once)."""
    ring = load_keyring(path)
    plaintext, record = mint_key(
        key_id=secrets.token_hex(6),
        secret=secrets.token_urlsafe(32).replace(".", "_"),
        salt=secrets.token_bytes(16),
        developer=developer,
        team=team,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        rate_limit_rpm=rate_limit_rpm,
    )
    save_keyring(path, KeyRing([*ring.records(), record]))
    return plaintext


@keys_app.command("create")
def create(
    developer: Annotated[str, typer.Option(help="Who the key belongs to (attribution, budgets).")],
    team: Annotated[str | None, typer.Option(help="The developer's team.")] = None,
    rate_limit_rpm: Annotated[int | None, typer.Option(min=1, help="Requests a minute (default: unlimited).")] = None,
    keys_file: KeysFile = Path("data/keys.json"),
) -> None:
    """Create a key and print it once. Only its salted hash is stored."""
    try:
        key = create_key(keys_file, developer, team, rate_limit_rpm)
    except ValueError as error:  # a developer or team name ingest would refuse
        raise typer.BadParameter(str(error)) from None
    err = Console(stderr=True)
    err.print(f"[green]created a key for {developer}[/green] (team {team or '-'}); it is shown only now:")
    typer.echo(key)
    err.print("Claude Code:  export ANTHROPIC_AUTH_TOKEN=<the key above>")


@keys_app.command("list")
def list_keys(keys_file: KeysFile = Path("data/keys.json")) -> None:
    """List keys (ids and owners; never secrets)."""
    table = Table("key id", "developer", "team", "created", "revoked")
    for r in load_keyring(keys_file).records():
        table.add_row(r.key_id, r.developer, r.team or "-", r.created_at, "yes" if r.revoked else "")
    Console().print(table)


@keys_app.command("revoke")
def revoke(key_id: str, keys_file: KeysFile = Path("data/keys.json")) -> None:
    """Revoke a key by id; running proxies stop accepting it within one reload interval."""
    ring = load_keyring(keys_file)
    records = ring.records()
    if not any(r.key_id == key_id for r in records):
        raise typer.BadParameter(f"no key with id {key_id}", param_hint="KEY_ID")
    save_keyring(keys_file, KeyRing(
        dataclasses.replace(r, revoked=True) if r.key_id == key_id else r for r in records
    ))
    typer.echo(f"revoked {key_id}")
