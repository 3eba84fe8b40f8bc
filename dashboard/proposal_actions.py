"""Deciding on the optimizer's proposals: approve (store the candidate as a version, mark the
proposal approved, activate it) or reject, for approvers only. Each step goes through the store
(store.proposals, store.policies), which audits it with the signed-in user. Returns a sentence
for the page; raises nothing a person could cause."""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy import Engine

from core.policy.problems import errors_in
from core.policy.schema import Policy
from core.policy.validate import validate
from dashboard.auth import AccessDeniedError, SignedInUser
from dashboard.settings import Role
from store.errors import ConflictError, NotFoundError
from store.policies import activate, active_state, create_version
from store.proposals import PROPOSED, get_proposal, set_status


def approve_proposal(engine: Engine, user: SignedInUser, proposal_id: str | None) -> str:
    try:
        user.require(Role.approver)
        if not proposal_id:
            return "Pick a proposal first."
        proposal = get_proposal(engine, proposal_id)
        if proposal.status != PROPOSED:
            return f"Refused: that proposal is already {proposal.status}."
        state = active_state(engine)
        if state is None or state.version != proposal.parent_version:
            # Activating it now would silently undo whatever replaced its parent.
            active = state.version if state else "none"
            return (f"Refused: the proposal was made against {proposal.parent_version} but {active} is active now; "
                    "run the optimizer again.")
        policy = Policy.model_validate(proposal.document)
        problems = errors_in(validate(policy))
        if problems:
            return f"Refused: {policy.version} is not a valid policy: " + "; ".join(str(p) for p in problems)
        create_version(engine, policy, actor=user.name, note=f"optimizer proposal {proposal.id}")
        set_status(engine, proposal.id, "approved", actor=user.name)
        result = activate(engine, policy.version, actor=user.name)
    except (AccessDeniedError, NotFoundError, ConflictError) as error:
        return f"Refused: {error}."
    except ValidationError as error:  # a stored candidate this version of switchyard cannot read
        return f"Refused: the proposed document does not read as a policy ({error.error_count()} problem(s))."
    return f"Approved: {result.version} is now active (was {result.previous or 'none'}), by {user.name}."


def reject_proposal(engine: Engine, user: SignedInUser, proposal_id: str | None) -> str:
    try:
        user.require(Role.approver)
        if not proposal_id:
            return "Pick a proposal first."
        proposal = set_status(engine, proposal_id, "rejected", actor=user.name)
    except (AccessDeniedError, NotFoundError, ConflictError) as error:
        return f"Refused: {error}."
    return f"Rejected the proposal for {proposal.candidate_version}, by {user.name}."
