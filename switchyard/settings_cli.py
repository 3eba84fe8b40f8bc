"""`switchyard settings …`: Claude Code's managed settings per group, served to signed-in developers at
``GET /managed/settings``.

They live in the policy (its ``managed_settings`` block), so they are versioned, audited and approved
exactly like routing changes, through ingest's admin API (``--url``/``SWITCHYARD_ADMIN_URL``,
``--token``/``SWITCHYARD_ADMIN_TOKEN``): ``put`` stores a new policy version (the active one with that
group's document replaced) without activating it; ``approve`` shows what it changes and activates
it; ``policy rollback`` undoes it. ``list`` and ``show`` read the active version.

Exit codes as ``switchyard policy``: 0 done, 1 refused, 2 the admin API could not be used.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from core.policy.diff import diff, render_diff
from core.policy.managed_settings import GroupSettings, ManagedSettings, checksum, settings_for, settings_problem
from core.policy.schema import Policy

from .policy_cli import DEFAULT_URL, AdminClient, Token, Url, _segment, admin_client

settings_app = typer.Typer(help="Claude Code's managed settings per group: put, list, show, approve.",
                           no_args_is_help=True)
SettingsFile = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                              help="A JSON object in Claude Code's settings format.")]
Group = Annotated[str | None, typer.Option("--group", help="The IdP group it is for (default: the default "
                                                           "document, for everyone no group entry matches).")]


def _err(message: str) -> None:
    typer.echo(message, err=True)


def _active(admin: AdminClient) -> Policy:
    version = admin.active_version()
    if version is None:
        _err("error: no policy is active: apply one first (switchyard policy apply)")
        raise typer.Exit(1)
    return admin.stored(version)


def _read_settings(path: Path) -> dict[str, Any]:
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        _err(f"{path}: not a JSON document ({error})")
        raise typer.Exit(1) from None
    problem = settings_problem(settings)
    if problem:
        _err(f"{path}: {problem}")
        raise typer.Exit(1)
    return dict(settings)


def with_settings(policy: Policy, group: str | None, settings: dict[str, Any] | None, version: str) -> Policy:
    """``policy`` as a new version whose document for ``group`` (None: the default) is ``settings``
    (None: removed; for the default, no document: callers no group matches get 404)."""
    managed = policy.managed_settings
    if group is None:
        changed = managed.model_copy(update={"default": settings})
    else:
        entries = [entry for entry in managed.groups if entry.group != group]
        if settings is not None:
            kept = [entry for entry in managed.groups if entry.group == group]
            entry = GroupSettings(group=group, settings=settings)
            position = managed.groups.index(kept[0]) if kept else len(entries)
            entries.insert(position, entry)
        changed = ManagedSettings(default=managed.default, groups=tuple(entries))
    return Policy.model_validate({**policy.model_dump(mode="json"), "version": version, "parent": policy.version,
                                  "managed_settings": changed.model_dump(mode="json")})


@settings_app.command("put")
def put(path: SettingsFile, group: Group = None,
        version: Annotated[str | None, typer.Option(help="The new policy version's name (default: derived).")] = None,
        note: Annotated[str | None, typer.Option(help="Why (kept with the version).")] = None,
        url: Url = DEFAULT_URL, token: Token = "") -> None:
    """Store a new policy version with this group's settings (not active until approved)."""
    settings = _read_settings(path)
    with admin_client(url, token) as admin:
        active = _active(admin)
        name = version or f"{active.version[:100]}+settings-{checksum(settings)[7:15]}"
        try:
            candidate = with_settings(active, group, settings, name)
        except ValidationError as error:
            _err(f"error: {error.errors()[0]['msg']}")
            raise typer.Exit(1) from None
        stored = admin.call("POST", "/admin/policies", content=candidate.model_dump_json().encode(),
                            params={"note": note} if note else {}, headers={"content-type": "application/json"})
    typer.echo(f"stored {stored['version']} (parent {active.version}); served once approved: "
               f"switchyard settings approve {stored['version']}")


@settings_app.command("approve")
def approve(version: str, url: Url = DEFAULT_URL, token: Token = "") -> None:
    """Show what a stored version changes against the active one, then make it active (audited)."""
    with admin_client(url, token) as admin:
        before = _active(admin)
        after = admin.stored(version)
        typer.echo(render_diff(diff(before, after)))
        admin.call("POST", f"/admin/policies/{_segment(version)}/activate")
    typer.echo(f"activated {version} (was {before.version})")


@settings_app.command("list")
def list_settings(url: Url = DEFAULT_URL, token: Token = "") -> None:
    """The active version's documents: the default and each group's, with the checksum served."""
    with admin_client(url, token) as admin:
        active = _active(admin)
    managed = active.managed_settings
    table = Table("entry", "keys", "checksum served")
    rows: list[tuple[str, tuple[str, ...]]] = [(f"group {e.group}", (e.group,)) for e in managed.groups]
    for label, groups in [*rows, ("default", ())]:
        chosen = settings_for(managed, groups)
        if chosen is None:
            table.add_row(label, "-", "none (404)")
        else:
            table.add_row(label, ",".join(sorted(chosen[1])), checksum(chosen[1]))
    typer.echo(f"policy {active.version}")
    Console(width=200).print(table)


@settings_app.command("show")
def show(group: Group = None, url: Url = DEFAULT_URL, token: Token = "") -> None:
    """The document a member of GROUP is served (the default when omitted), as JSON."""
    with admin_client(url, token) as admin:
        active = _active(admin)
    chosen = settings_for(active.managed_settings, (group,) if group else ())
    if chosen is None:
        _err("no settings are served to them (404)")
        raise typer.Exit(1)
    typer.echo(json.dumps({"entry": chosen[0], "checksum": checksum(chosen[1]), "settings": chosen[1]}, indent=2))
