"""`switchyard keys …`: create, list and revoke virtual keys, and set the repos a key may tag (the
key file holds hashes only).

Creating and revoking are written to the audit log when there is a database to write it to:
``DATABASE_URL``, or else the SQLite database beside the keys file (``data/switchyard.sqlite3`` for
``data/keys.json``, what `switchyard up` makes). Without one the command says the change is not
audited; the keys file itself is no audit log."""

from __future__ import annotations

import dataclasses
import getpass
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError

from core.keys import KeyRing, mint_key, parse_repos
from proxy.keyfile import load_keyring, save_keyring
from store.audit import append, audited
from store.audit_trust import AuditKeyError
from store.engine import SQLITE_FILENAME, make_engine
from store.keys import CREATE, REVOKE, SET_REPOS

keys_app = typer.Typer(help="Virtual keys: one per developer, stored hashed.", no_args_is_help=True)
KeysFile = Annotated[Path, typer.Option("--keys-file", envvar="SWITCHYARD_KEYS_FILE", help="The keys file.")]
Repos = Annotated[str | None, typer.Option(
    help="The repos its requests may tag with x-switchyard-repo, comma-separated (payments-api,billing), "
         "or * for any. A header naming another repo gets a 403; without a header a key with one repo "
         "tags that one. Default: no list (any repo, recorded as unverified).")]
DatabaseUrl = Annotated[str | None, typer.Option(
    "--database-url", envvar="DATABASE_URL",
    help="Where to audit the change (default: the SQLite database beside the keys file, if there is one).")]


def audit_key_change(keys_file: Path, database_url: str | None, *, action: str, key_id: str,
                     detail: dict[str, object]) -> str:
    """Write the change to the audit log; a sentence saying where, or why it was not."""
    if database_url is None:
        beside = keys_file.parent / SQLITE_FILENAME
        if not beside.exists():
            return f"not audited: no DATABASE_URL and no {beside}"
        database_url = f"sqlite:///{beside.resolve()}"
    engine = make_engine(database_url, data_dir=keys_file.parent)
    try:
        if not inspect(engine).has_table("audit_log"):
            return "not audited: the database has no audit log yet (run `switchyard db upgrade`)"
        actor = f"{getpass.getuser()} (switchyard keys)"
        audited(engine, lambda connection: append(
            connection, at=datetime.now(UTC), actor=actor, action=action, subject=key_id,
            detail={**detail, "keys_file": str(keys_file.resolve())}))
    finally:
        engine.dispose()
    return f"audited as {action} by {actor}"


def _report_audit(keys_file: Path, database_url: str | None, *, action: str, key_id: str,
                  detail: dict[str, object]) -> None:
    try:
        sentence = audit_key_change(keys_file, database_url, action=action, key_id=key_id, detail=detail)
    except (SQLAlchemyError, AuditKeyError, OSError) as error:
        typer.echo(f"the keys file changed but the change was NOT audited: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(sentence, err=True)


def create_key(path: Path, developer: str, team: str | None, rate_limit_rpm: int | None = None,
               repos: tuple[str, ...] | None = None, fronting_gateway: bool = False,
               groups: tuple[str, ...] = ()) -> str:
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
        repos=repos,
        fronting_gateway=fronting_gateway,
        groups=groups,
    )
    save_keyring(path, KeyRing([*ring.records(), record]))
    return plaintext


@keys_app.command("create")
def create(
    developer: Annotated[str, typer.Option(help="Who the key belongs to (attribution, budgets).")],
    team: Annotated[str | None, typer.Option(help="The developer's team.")] = None,
    rate_limit_rpm: Annotated[int | None, typer.Option(min=1, help="Requests a minute (default: unlimited).")] = None,
    repos: Repos = None,
    fronting_gateway: Annotated[bool, typer.Option(
        "--fronting-gateway", help="A key for Anthropic's gateway in front of switchyard (forward_user_identity): "
        "it may name each request's developer in x-claude-gateway-user-id/-email; no other key can.")] = False,
    groups: Annotated[str | None, typer.Option(help="Policy groups of the key's turns, comma-separated (group "
                                                    "rules, model allowlists, group budgets); default none.")] = None,
    keys_file: KeysFile = Path("data/keys.json"),
    database_url: DatabaseUrl = None,
) -> None:
    """Create a key and print it once. Only its salted hash is stored."""
    try:
        allowed = None if repos is None else parse_repos(repos)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--repos") from None
    listed = tuple(name.strip() for name in groups.split(",")) if groups else ()
    try:
        key = create_key(keys_file, developer, team, rate_limit_rpm, allowed, fronting_gateway=fronting_gateway,
                         groups=listed)
    except ValueError as error:  # a developer or team name ingest would refuse
        raise typer.BadParameter(str(error)) from None
    err = Console(stderr=True)
    err.print(f"[green]created a key for {developer}[/green] (team {team or '-'}); it is shown only now:")
    typer.echo(key)
    if fronting_gateway:
        err.print("Anthropic's gateway: put it in the upstream's api_key, with forward_user_identity: true")
    else:
        err.print("Claude Code:  export ANTHROPIC_AUTH_TOKEN=<the key above>")
    key_id = load_keyring(keys_file).records()[-1].key_id
    _report_audit(keys_file, database_url, action=CREATE, key_id=key_id,
                  detail={"developer": developer, "team": team, "rate_limit_rpm": rate_limit_rpm,
                          "repos": None if allowed is None else list(allowed), "fronting_gateway": fronting_gateway,
                          "groups": list(listed)})


@keys_app.command("list")
def list_keys(keys_file: KeysFile = Path("data/keys.json")) -> None:
    """List keys (ids and owners; never secrets)."""
    table = Table("key id", "developer", "team", "repos", "fronting gateway", "created", "revoked")
    for r in load_keyring(keys_file).records():
        repos = "any (no list)" if r.repos is None else ",".join(r.repos)
        table.add_row(r.key_id, r.developer, r.team or "-", repos, "yes" if r.fronting_gateway else "",
                      r.created_at, "yes" if r.revoked else "")
    Console().print(table)


@keys_app.command("revoke")
def revoke(key_id: str, keys_file: KeysFile = Path("data/keys.json"), database_url: DatabaseUrl = None) -> None:
    """Revoke a key by id; running proxies stop accepting it within one reload interval."""
    ring = load_keyring(keys_file)
    records = ring.records()
    if not any(r.key_id == key_id for r in records):
        raise typer.BadParameter(f"no key with id {key_id}", param_hint="KEY_ID")
    save_keyring(keys_file, KeyRing(
        dataclasses.replace(r, revoked=True) if r.key_id == key_id else r for r in records
    ))
    typer.echo(f"revoked {key_id}")
    revoked = next(r for r in records if r.key_id == key_id)
    _report_audit(keys_file, database_url, action=REVOKE, key_id=key_id,
                  detail={"developer": revoked.developer, "team": revoked.team})


@keys_app.command("set-repos")
def set_repos(
    key_id: str,
    repos: Annotated[str | None, typer.Argument(
        help="Comma-separated repo names, or * for any; leave out with --clear.")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the list (any repo, unverified).")] = False,
    keys_file: KeysFile = Path("data/keys.json"),
    database_url: DatabaseUrl = None,
) -> None:
    """Set the repos a key may tag; running proxies apply it within one reload interval."""
    if (repos is None) == (not clear):
        raise typer.BadParameter("give the repos (a,b or *) or --clear, not both", param_hint="REPOS")
    try:
        allowed = None if repos is None else parse_repos(repos)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="REPOS") from None
    records = load_keyring(keys_file).records()
    current = next((r for r in records if r.key_id == key_id), None)
    if current is None:
        raise typer.BadParameter(f"no key with id {key_id}", param_hint="KEY_ID")
    save_keyring(keys_file, KeyRing(
        dataclasses.replace(r, repos=allowed) if r.key_id == key_id else r for r in records
    ))
    typer.echo(f"{key_id} may tag: {'any repo (no list)' if allowed is None else ','.join(allowed)}")
    _report_audit(keys_file, database_url, action=SET_REPOS, key_id=key_id,
                  detail={"developer": current.developer,
                          "before": None if current.repos is None else list(current.repos),
                          "after": None if allowed is None else list(allowed)})
