"""Policy proposals: the optimizer's candidate policies awaiting review.

A proposal holds the candidate policy's JSON form, its PolicyDiff against the parent version
(``PolicyDiff.to_dict``) and the evidence behind it. Its status goes proposed → approved or
rejected, once, or → superseded when another version than its parent becomes active (it was made
against a policy that no longer routes: store.policies calls :func:`supersede_stale` in the
activation's own transaction, so a stale proposal never waits for a human to reject it, and the
loop, which proposes only when nothing is pending, runs again). Every change is written to the
audit log in the same transaction. Approving does not activate: the reviewer (or the
CLI/dashboard) stores and activates the version via store.policies, so activation stays in one
place.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Connection, Engine, Row, select

from store.audit import append, audited
from store.errors import ConflictError, NotFoundError
from store.schema import policy_proposals, policy_state

PROPOSED = "proposed"
SUPERSEDED = "superseded"  # fits the status column (16 characters): no migration
CREATE = "proposal.create"
SUPERSEDE = "proposal.supersede"
Decision = Literal["approved", "rejected"]
_ACTION = {"approved": "proposal.approve", "rejected": "proposal.reject"}


@dataclass(frozen=True, slots=True)
class Proposal:
    id: str
    parent_version: str
    candidate_version: str
    document: Mapping[str, Any]
    diff: Mapping[str, Any]
    evidence: Mapping[str, Any]
    status: str
    created_at: datetime
    created_by: str
    decided_at: datetime | None
    decided_by: str | None
    note: str | None


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _proposal(row: Row[Any]) -> Proposal:
    return Proposal(row.id, row.parent_version, row.candidate_version, row.document, row.diff, row.evidence,
                    row.status, row.created_at, row.created_by, row.decided_at, row.decided_by, row.note)


def _get(connection: Connection, proposal_id: str) -> Proposal | None:
    row = connection.execute(select(policy_proposals).where(policy_proposals.c.id == proposal_id)).first()
    return None if row is None else _proposal(row)


class StaleParentError(ConflictError):
    """The proposal was made against a version that is no longer the active one."""

    def __init__(self, parent: str, active: str | None) -> None:
        super().__init__(f"the proposal was made against {parent} but {active or 'no version'} is active now")
        self.parent = parent
        self.active = active


def _active_version(connection: Connection) -> str | None:
    return connection.execute(select(policy_state.c.active_version)).scalar_one_or_none()


def create_proposal(engine: Engine, *, parent_version: str, candidate_version: str, document: Mapping[str, Any],
                    diff: Mapping[str, Any], evidence: Mapping[str, Any], actor: str,
                    now: datetime | None = None, require_active_parent: bool = False) -> Proposal:
    """Store a proposal, status proposed. With ``require_active_parent`` (the optimizer's own
    writes) a parent that is not the active version any more is refused (StaleParentError), checked
    in the insert's transaction: a proposal computed while someone activated or rolled back
    another version describes a policy nobody runs."""
    at = (now or _utc_now()).replace(tzinfo=None)
    proposal = Proposal(uuid.uuid4().hex, parent_version, candidate_version, dict(document), dict(diff),
                        dict(evidence), PROPOSED, at, actor, None, None, None)

    def change(connection: Connection) -> Proposal:
        if require_active_parent:
            active = _active_version(connection)
            if active != parent_version:
                raise StaleParentError(parent_version, active)
        connection.execute(policy_proposals.insert().values(
            id=proposal.id, parent_version=parent_version, candidate_version=candidate_version,
            document=proposal.document, diff=proposal.diff, evidence=proposal.evidence, status=PROPOSED,
            created_at=at, created_by=actor))
        append(connection, at=at, actor=actor, action=CREATE, subject=proposal.id,
               detail={"parent": parent_version, "candidate": candidate_version})
        return proposal

    return audited(engine, change)


def get_proposal(engine: Engine, proposal_id: str) -> Proposal:
    with engine.connect() as connection:
        found = _get(connection, proposal_id)
    if found is None:
        raise NotFoundError(f"no policy proposal {proposal_id!r}")
    return found


def list_proposals(engine: Engine, *, status: str | None = None, limit: int | None = None) -> list[Proposal]:
    """Newest first; the newest ``limit`` of them when given."""
    query = select(policy_proposals).order_by(policy_proposals.c.created_at.desc(), policy_proposals.c.id)
    if status is not None:
        query = query.where(policy_proposals.c.status == status)
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as connection:
        return [_proposal(row) for row in connection.execute(query)]


def set_status(engine: Engine, proposal_id: str, status: Decision, *, actor: str, note: str | None = None,
               now: datetime | None = None) -> Proposal:
    """Approve or reject a proposal that is still proposed; deciding twice is a ConflictError."""
    if status not in _ACTION:
        raise ValueError(f"status must be approved or rejected, not {status!r}")
    at = (now or _utc_now()).replace(tzinfo=None)

    def change(connection: Connection) -> Proposal:
        found = _get(connection, proposal_id)
        if found is None:
            raise NotFoundError(f"no policy proposal {proposal_id!r}")
        if found.status != PROPOSED:
            raise ConflictError(f"proposal {proposal_id!r} is already {found.status}")
        connection.execute(policy_proposals.update().where(policy_proposals.c.id == proposal_id).values(
            status=status, decided_at=at, decided_by=actor, note=note))
        append(connection, at=at, actor=actor, action=_ACTION[status], subject=proposal_id,
               detail={"candidate": found.candidate_version, "note": note})
        updated = _get(connection, proposal_id)
        assert updated is not None
        return updated

    return audited(engine, change)


def supersede_stale(connection: Connection, active: str, *, at: datetime, actor: str) -> list[str]:
    """In the caller's (audited) transaction: mark every pending proposal whose parent is not
    ``active`` superseded, each with an audit entry; their ids."""
    query = select(policy_proposals.c.id, policy_proposals.c.parent_version, policy_proposals.c.candidate_version) \
        .where(policy_proposals.c.status == PROPOSED, policy_proposals.c.parent_version != active) \
        .order_by(policy_proposals.c.created_at, policy_proposals.c.id)
    stale = connection.execute(query).all()
    note = f"{active} became the active version"
    for row in stale:
        connection.execute(policy_proposals.update().where(policy_proposals.c.id == row.id).values(
            status=SUPERSEDED, decided_at=at, decided_by=actor, note=note))
        append(connection, at=at, actor=actor, action=SUPERSEDE, subject=row.id,
               detail={"parent": row.parent_version, "candidate": row.candidate_version, "active": active})
    return [row.id for row in stale]


def supersede_stale_proposals(engine: Engine, *, actor: str, now: datetime | None = None) -> list[str]:
    """Mark pending proposals made against another version than the active one superseded: the
    loop's sweep for any that activation did not catch (stored before this check existed, or
    written by hand). Nothing happens while no version is active."""
    at = (now or _utc_now()).replace(tzinfo=None)

    def change(connection: Connection) -> list[str]:
        active = _active_version(connection)
        return [] if active is None else supersede_stale(connection, active, at=at, actor=actor)

    return audited(engine, change)
