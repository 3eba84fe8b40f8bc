"""`switchyard policy …`: check and compare policy files locally; store, activate, list, show and
roll back versions through ingest's admin API (``--url``/``SWITCHYARD_ADMIN_URL``,
``--token``/``SWITCHYARD_ADMIN_TOKEN``).

Exit codes: 0 done, 1 refused (an invalid policy, an unknown version, nothing to roll back…),
2 the admin API could not be reached or answered something unexpected.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from core.policy.load import load_policy
from core.policy.problems import PolicyError, Problem, errors_in
from core.policy.rule_diff import render_rule_diff, rule_diff, rule_yaml
from core.policy.schema import Policy
from core.policy.validate import validate
from core.upstreams import SETTING, UpstreamError, allowlist_from_setting

policy_app = typer.Typer(help="Routing policies: validate, diff, apply, roll back.", no_args_is_help=True)

PolicyFile = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="YAML or JSON.")]
Url = Annotated[str, typer.Option("--url", envvar="SWITCHYARD_ADMIN_URL", help="ingest's base URL.")]
Token = Annotated[str, typer.Option("--token", envvar="SWITCHYARD_ADMIN_TOKEN", help="An admin token.")]
Allowed = Annotated[str | None, typer.Option(
    "--allowed-upstreams", envvar=SETTING,
    help="JSON list of base URLs targets may use (as the services read it); unset: not checked here.")]
DEFAULT_URL = "http://127.0.0.1:4318"


class AdminApiError(Exception):
    """The admin API refused a request (``status`` 4xx) or could not be used (``status`` None)."""

    def __init__(self, message: str, status: int | None = None, problems: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.problems = list(problems)


class AdminClient:
    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise AdminApiError(f"cannot reach {self._http.base_url}: {error}") from None
        try:
            body = response.json()
        except ValueError:
            body = {"detail": response.text[:500]}
        if response.is_success and isinstance(body, dict):
            return body
        detail = body.get("detail") if isinstance(body, dict) else body
        problems = body.get("problems", []) if isinstance(body, dict) else []
        raise AdminApiError(f"{response.status_code}: {detail}", response.status_code, problems)

    def active_version(self) -> str | None:
        active = self.call("GET", "/admin/policies").get("active")
        return None if active is None else str(active)

    def stored(self, version: str) -> Policy:
        """A stored version, read back as a policy (AdminApiError when it is not stored or unreadable)."""
        document = self.call("GET", f"/admin/policies/{_segment(version)}")["document"]
        return _readable(document, f"stored version {version!r}")

    def diff_text(self, old: str, new: str) -> str:
        return render_rule_diff(rule_diff(self.stored(old), self.stored(new)))


def _segment(version: str) -> str:
    return quote(version, safe="")


def _readable(document: object, what: str) -> Policy:
    try:
        return Policy.model_validate(document)
    except ValidationError as error:  # stored by another version of switchyard
        raise AdminApiError(f"{what} does not read as a policy ({error.error_count()} problem(s))", 409) from None


def _err(message: str) -> None:
    typer.echo(message, err=True)


@contextmanager
def admin_client(url: str, token: str) -> Iterator[AdminClient]:
    """A client of the admin API; its failures end the command here, printed, with exit code 1 or 2."""
    if not token:
        _err("error: no admin token: pass --token or set SWITCHYARD_ADMIN_TOKEN")
        raise typer.Exit(2)
    try:
        with httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=30) as http:
            yield AdminClient(http)
    except AdminApiError as error:
        _err(f"error: {error}")
        for problem in error.problems:
            _err(f"  {problem.get('severity', 'error')}: {problem.get('path')}: {problem.get('message')}")
        refused = error.status is not None and 400 <= error.status < 500
        raise typer.Exit(1 if refused else 2) from None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        _err(f"{path}: not UTF-8 text ({error.reason})")
        raise typer.Exit(1) from None


def _load(path: Path) -> Policy:
    """The policy in ``path``; its problems printed and exit 1 when it cannot be loaded."""
    try:
        return load_policy(_read(path))
    except PolicyError as error:
        _err(f"{path}: cannot be loaded")
        for problem in error.problems:
            _err(f"  {problem}")
        raise typer.Exit(1) from None


def _upstream_problems(policy: Policy, allowed: str | None) -> list[Problem]:
    """The targets the given allowlist refuses (ingest checks them again, with its own, on apply)."""
    if allowed is None:
        return []
    try:
        entries = json.loads(allowed)
        if not isinstance(entries, list):
            raise UpstreamError(f"{SETTING} must be a JSON list of base URLs")
        return allowlist_from_setting(entries, "").problems(policy)
    except ValueError as error:  # bad JSON, a bad entry (UpstreamError)
        _err(f"error: {SETTING}: {error}")
        raise typer.Exit(2) from None


@policy_app.command("validate")
def validate_file(path: PolicyFile, allowed: Allowed = None) -> None:
    """Check a policy file locally: every problem is printed; exit 1 when there are errors."""
    policy = _load(path)
    problems = validate(policy) + _upstream_problems(policy, allowed)
    for problem in problems:
        typer.echo(f"  {problem}")
    errors = errors_in(problems)
    if errors:
        _err(f"{path}: {len(errors)} error(s), {len(problems) - len(errors)} warning(s)")
        raise typer.Exit(1)
    typer.echo(f"{path}: policy {policy.version} is valid ({len(problems)} warning(s))")


@policy_app.command("diff")
def diff_policies(
        old: Annotated[str | None, typer.Argument(help="A policy file, or a stored version's name.")] = None,
        new: Annotated[str | None, typer.Argument(help="A policy file, or a stored version's name.")] = None,
        proposal: Annotated[str | None, typer.Option(
            "--proposal", help="Instead of OLD and NEW: a proposal's id (its parent → its candidate).")] = None,
        as_yaml: Annotated[bool, typer.Option("--yaml", help="Also print the touched rules as YAML, before and "
                                              "after.")] = False,
        url: Url = DEFAULT_URL, token: Token = "") -> None:
    """What changes from one policy to another, rule by rule: every touched rule in full before and
    after (conditions, route, model, position), added, removed and moved rules, the default, then the
    rest. Files are read here; stored versions and proposals through the admin API."""
    by_proposal = proposal is not None and old is None and new is None
    if not by_proposal and (proposal is not None or old is None or new is None):
        _err("error: give OLD and NEW, or --proposal ID")
        raise typer.Exit(2)
    if proposal is not None:
        with admin_client(url, token) as admin:
            found = admin.call("GET", f"/admin/proposals/{_segment(proposal)}")
            before = admin.stored(str(found["parent"]))
            after = _readable(found["document"], f"proposal {proposal}'s candidate")
    else:
        assert old is not None and new is not None
        before, after = _policy_or_version(old, url, token), _policy_or_version(new, url, token)
    review = rule_diff(before, after)
    typer.echo(render_rule_diff(review))
    if as_yaml:
        old_yaml, new_yaml = rule_yaml(review)
        typer.echo(f"\n--- before ({review.old_version})\n{old_yaml}\n+++ after ({review.new_version})\n{new_yaml}",
                   nl=False)


def _policy_or_version(name: str, url: str, token: str) -> Policy:
    """A file when ``name`` is one, else the stored version of that name."""
    path = Path(name)
    if path.is_file():
        return _load(path)
    if not token:
        _err(f"error: {name}: no such file (and no admin token to read a stored version of that name)")
        raise typer.Exit(2)
    with admin_client(url, token) as admin:
        return admin.stored(name)


@policy_app.command("apply")
def apply(path: PolicyFile, url: Url = DEFAULT_URL, token: Token = "",
          note: Annotated[str | None, typer.Option(help="Why (kept with the version).")] = None) -> None:
    """Store a policy version and make it active; prints what changed against the version active before."""
    text = _read(path)
    media = "application/json" if text.lstrip().startswith("{") else "application/yaml"
    with admin_client(url, token) as admin:
        previous = admin.active_version()
        params = {"note": note} if note else {}
        stored = admin.call("POST", "/admin/policies", content=text.encode("utf-8"), params=params,
                            headers={"content-type": media})
        version = str(stored["version"])
        for problem in stored.get("problems", []):
            typer.echo(f"  {problem['severity']}: {problem['path']}: {problem['message']}")
        typer.echo(f"stored {version}" if stored["created"] else f"{version} was already stored (identical)")
        if previous == version:
            typer.echo(f"{version} is already active")
            return
        admin.call("POST", f"/admin/policies/{_segment(version)}/activate")
        if previous is None:
            typer.echo(f"activated {version} (no policy was active)")
            return
        typer.echo(admin.diff_text(previous, version))
        typer.echo(f"activated {version} (was {previous})")


@policy_app.command("rollback")
def roll_back(url: Url = DEFAULT_URL, token: Token = "") -> None:
    """Go back to the version that was active before the current one."""
    with admin_client(url, token) as admin:
        result = admin.call("POST", "/admin/policies/rollback")
        version, previous = str(result["version"]), result.get("previous")
        if previous is not None:
            typer.echo(admin.diff_text(str(previous), version))
        typer.echo(f"rolled back to {version} (was {previous})")


@policy_app.command("list")
def list_versions(url: Url = DEFAULT_URL, token: Token = "") -> None:
    """Stored versions, oldest first; the active one is marked."""
    with admin_client(url, token) as admin:
        listing = admin.call("GET", "/admin/policies")
    table = Table("", "version", "parent", "created", "by", "note")
    for item in listing["versions"]:
        table.add_row("*" if item["active"] else "", item["version"], item["parent"] or "-", item["created_at"],
                      item["created_by"], item["note"] or "")
    Console(width=200).print(table)


@policy_app.command("show")
def show(version: str, url: Url = DEFAULT_URL, token: Token = "") -> None:
    """Print a stored version as YAML."""
    with admin_client(url, token) as admin:
        stored = admin.call("GET", f"/admin/policies/{_segment(version)}")
    typer.echo(stored["yaml"], nl=False)
