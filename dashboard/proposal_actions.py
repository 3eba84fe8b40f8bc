"""Deciding on the optimizer's proposals: approve (store the candidate as a version, mark the
proposal approved, activate it) or reject, for approvers only. Each step goes through the store
(store.proposals, store.policies), which audits it with the signed-in user. Returns a sentence
for the page; raises nothing a person could cause."""

from __future__ import annotations

from sqlalchemy import Engine

from core.upstreams import Allowlist
from dashboard.auth import AccessDeniedError, SignedInUser
from dashboard.refusals import refused
from dashboard.settings import Role
from store.errors import ConflictError, NotFoundError
from store.proposal_decisions import approve
from store.proposals import set_status


def approve_proposal(engine: Engine, user: SignedInUser, proposal_id: str | None, allowlist: Allowlist) -> str:
    try:
        user.require(Role.approver)
    except AccessDeniedError as error:
        return refused(engine, user, "proposal.approve", error, proposal=proposal_id)
    try:
        if not proposal_id:
            return "Pick a proposal first."
        result = approve(engine, proposal_id, actor=user.name, check=allowlist.problems)
    except (NotFoundError, ConflictError) as error:
        return f"Refused: {error}."
    return f"Approved: {result.version} is now active (was {result.previous or 'none'}), by {user.name}."


def reject_proposal(engine: Engine, user: SignedInUser, proposal_id: str | None) -> str:
    try:
        user.require(Role.approver)
    except AccessDeniedError as error:
        return refused(engine, user, "proposal.reject", error, proposal=proposal_id)
    try:
        if not proposal_id:
            return "Pick a proposal first."
        proposal = set_status(engine, proposal_id, "rejected", actor=user.name)
    except (NotFoundError, ConflictError) as error:
        return f"Refused: {error}."
    return f"Rejected the proposal for {proposal.candidate_version}, by {user.name}."
