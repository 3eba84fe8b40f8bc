"""The two policy changes the dashboard can make, activate a version and roll back, each checked
against the signed-in user's role and the policy's validity, then done through store.policies
(which writes who and when to the audit log in the same transaction). Returns a sentence for the
page; raises nothing a person could cause."""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy import Engine

from core.policy.problems import errors_in
from core.policy.validate import validate
from core.upstreams import Allowlist
from dashboard.auth import AccessDeniedError, SignedInUser
from dashboard.refusals import refused
from dashboard.settings import Role
from store.errors import ConflictError, NotFoundError
from store.policies import activate, get_version, rollback


def activate_version(engine: Engine, user: SignedInUser, version: str | None, allowlist: Allowlist) -> str:
    try:
        user.require(Role.approver)
    except AccessDeniedError as error:
        return refused(engine, user, "policy.activate", error, version=version)
    if not version:
        return "Pick a version first."
    try:
        policy = get_version(engine, version).policy()
        problems = errors_in(validate(policy) + allowlist.problems(policy))
        if problems:
            return f"Refused: {version} is not a valid policy: " + "; ".join(str(p) for p in problems)
        result = activate(engine, version, actor=user.name)
    except NotFoundError as error:
        return f"Refused: {error}."
    except ValidationError as error:  # a stored document this version of switchyard cannot read
        return f"Refused: {version} does not read as a policy: {error.error_count()} problem(s)."
    if not result.changed:
        return f"{version} was already active."
    return f"{version} is now active (was {result.previous or 'none'}), activated by {user.name}."


def roll_back(engine: Engine, user: SignedInUser, allowlist: Allowlist) -> str:
    try:
        user.require(Role.approver)
    except AccessDeniedError as error:
        return refused(engine, user, "policy.rollback", error)
    try:
        result = rollback(engine, actor=user.name, check=allowlist.problems)
    except ConflictError as error:
        return f"Refused: {error}."
    return f"Rolled back to {result.version} (was {result.previous}) by {user.name}."
