"""Policy versions and the active-policy pointer.

A version is immutable: storing the same version again with the same document is a no-op, with a
different document a ``ConflictError``. Activation moves the single pointer and records the
previously active version in the audit log; ``rollback`` reads that record to go back one step. An
activation that changes the secret guardrail's allow-list (what it lets through unflagged and
unblocked) also gets an entry of its own naming what was added and removed.
Checking that a document is a valid policy is the caller's job (core.policy.validate); this module
stores what it is given, as the policy's JSON form with defaults included.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, select

from core.policy.guardrails import allowlist_change
from core.policy.problems import Problem, errors_in
from core.policy.schema import Policy
from store.audit import append, audited
from store.errors import ConflictError, NotFoundError
from store.proposals import supersede_stale
from store.schema import audit_log, policy_state, policy_versions

ACTIVATE = "policy.activate"
ROLLBACK = "policy.rollback"
CREATE = "policy.create"
ALLOWLIST = "guardrails.allowlist"
_STATE_ROW = 1


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    version: str
    parent: str | None
    document: Mapping[str, Any]  # the policy's JSON form (Policy.model_validate reads it back)
    created_at: datetime  # naive UTC
    created_by: str
    note: str | None

    def policy(self) -> Policy:
        return Policy.model_validate(self.document)


@dataclass(frozen=True, slots=True)
class ActiveState:
    version: str
    activated_at: datetime
    activated_by: str


@dataclass(frozen=True, slots=True)
class Activation:
    version: str  # now active
    previous: str | None  # active before; None when there was none
    changed: bool  # False when ``version`` was already active (nothing recorded)


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def document_of(policy: Policy) -> dict[str, Any]:
    return policy.model_dump(mode="json")


def _version(row: Row[Any]) -> PolicyVersion:
    return PolicyVersion(row.version, row.parent, row.document, row.created_at, row.created_by, row.note)


def _get(connection: Connection, version: str) -> PolicyVersion | None:
    row = connection.execute(select(policy_versions).where(policy_versions.c.version == version)).first()
    return None if row is None else _version(row)


def create_version(engine: Engine, policy: Policy, *, actor: str, note: str | None = None,
                   now: datetime | None = None) -> tuple[PolicyVersion, bool]:
    """Store ``policy`` under its version: (the stored version, whether it was new)."""
    document = document_of(policy)

    def change(connection: Connection) -> tuple[PolicyVersion, bool]:
        existing = _get(connection, policy.version)
        if existing is not None:
            # compared as policies: a version stored before a field existed reads back with its default
            if dict(existing.document) != document and existing.policy() != policy:
                raise ConflictError(f"policy version {policy.version!r} already exists with a different document; "
                                    "versions are immutable: give the new document a new version")
            return existing, False
        at = (now or _utc_now()).replace(tzinfo=None)
        connection.execute(policy_versions.insert().values(
            version=policy.version, parent=policy.parent, document=document, created_at=at, created_by=actor,
            note=note))
        append(connection, at=at, actor=actor, action=CREATE, subject=policy.version,
               detail={"parent": policy.parent, "note": note})
        return PolicyVersion(policy.version, policy.parent, document, at, actor, note), True

    return audited(engine, change)


def get_version(engine: Engine, version: str) -> PolicyVersion:
    with engine.connect() as connection:
        found = _get(connection, version)
    if found is None:
        raise NotFoundError(f"no policy version {version!r}")
    return found


def list_versions(engine: Engine) -> list[PolicyVersion]:
    """Oldest first."""
    query = select(policy_versions).order_by(policy_versions.c.created_at, policy_versions.c.version)
    with engine.connect() as connection:
        return [_version(row) for row in connection.execute(query)]


def _state(connection: Connection) -> ActiveState | None:
    row = connection.execute(select(policy_state).where(policy_state.c.id == _STATE_ROW)).first()
    return None if row is None else ActiveState(row.active_version, row.activated_at, row.activated_by)


def active_state(engine: Engine) -> ActiveState | None:
    with engine.connect() as connection:
        return _state(connection)


def active_policy(engine: Engine) -> PolicyVersion | None:
    """The active version, or None before the first activation."""
    query = (select(policy_versions).join(policy_state, policy_state.c.active_version == policy_versions.c.version)
             .where(policy_state.c.id == _STATE_ROW))
    with engine.connect() as connection:
        row = connection.execute(query).first()
    return None if row is None else _version(row)


def _point_at(connection: Connection, version: str, *, actor: str, action: str, now: datetime | None,
              detail: Mapping[str, Any] | None = None) -> Activation:
    stored = _get(connection, version)
    if stored is None:
        raise NotFoundError(f"no policy version {version!r}")
    state = _state(connection)
    previous = state.version if state is not None else None
    if previous == version:
        return Activation(version, previous, changed=False)
    at = (now or _utc_now()).replace(tzinfo=None)
    values = {"active_version": version, "activated_at": at, "activated_by": actor}
    if state is None:
        connection.execute(policy_state.insert().values(id=_STATE_ROW, **values))
    else:
        connection.execute(policy_state.update().where(policy_state.c.id == _STATE_ROW).values(**values))
    append(connection, at=at, actor=actor, action=action, subject=version,
           detail={"previous": previous, **(detail or {})})
    before = _get(connection, previous) if previous is not None else None
    change = allowlist_change(before.policy().guardrails.allow if before is not None else None,
                              stored.policy().guardrails.allow)
    if change:  # who let which findings through, and when it took effect
        append(connection, at=at, actor=actor, action=ALLOWLIST, subject=version,
               detail={"previous": previous, **change.to_dict()})
    # proposals made against another version describe a policy nobody runs now (issue 16, item 4)
    supersede_stale(connection, version, at=at, actor=actor)
    return Activation(version, previous, changed=True)


def activate(engine: Engine, version: str, *, actor: str, now: datetime | None = None) -> Activation:
    """Make ``version`` the active policy. Activating the active version again changes nothing."""
    return audited(engine, lambda connection: _point_at(connection, version, actor=actor, action=ACTIVATE, now=now))


def _rollback_target(connection: Connection, current: str) -> str | None:
    # The activation that made ``current`` active says what was active before it. Rollback
    # entries are skipped: after rolling back v3 → v2, the next rollback goes to what preceded
    # v2 when v2 was activated (v1), not back to v3.
    query = (select(audit_log.c.detail).where(audit_log.c.action == ACTIVATE, audit_log.c.subject == current)
             .order_by(audit_log.c.seq.desc()).limit(1))
    detail = connection.execute(query).scalar_one_or_none()
    previous = detail.get("previous") if isinstance(detail, dict) else None
    if previous is not None:
        return str(previous)
    stored = _get(connection, current)
    return stored.parent if stored is not None else None


def rollback(engine: Engine, *, actor: str, now: datetime | None = None,
             check: Callable[[Policy], list[Problem]] | None = None) -> Activation:
    """Go back to the version that was active before the current one (per the audit log), or to
    the current version's parent when the log does not say. ``check``: the service's further checks
    on that version (its upstream allowlist); an error refuses the rollback."""

    def change(connection: Connection) -> Activation:
        state = _state(connection)
        if state is None:
            raise ConflictError("no policy is active: nothing to roll back")
        target = _rollback_target(connection, state.version)
        if target is None:
            raise ConflictError(f"policy {state.version!r} has no predecessor and no parent to roll back to")
        stored = _get(connection, target)
        if stored is None:
            raise ConflictError(f"cannot roll back to {target!r}: that version is not stored")
        errors = errors_in(check(stored.policy())) if check is not None else []
        if errors:
            raise ConflictError(f"cannot roll back to {target!r}: " + "; ".join(p.message for p in errors))
        return _point_at(connection, target, actor=actor, action=ROLLBACK, now=now,
                         detail={"rolled_back": state.version})

    return audited(engine, change)
