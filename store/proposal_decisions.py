"""Approving an optimizer proposal: store its candidate as a policy version, mark the proposal
approved and activate the candidate — refused (ConflictError) when the proposal was already
decided, when its parent is no longer the active version (activating it would silently undo
whatever replaced the parent), or when the stored candidate is not a valid policy any more. The
one place both the dashboard and the admin API approve through; each step is audited by the store
functions it calls, with the deciding actor.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import Engine

from core.policy.problems import Problem, errors_in
from core.policy.schema import Policy
from core.policy.validate import validate
from store.errors import ConflictError
from store.policies import Activation, activate, active_state, create_version
from store.proposals import PROPOSED, SUPERSEDED, get_proposal, set_status


def approve(engine: Engine, proposal_id: str, *, actor: str, now: datetime | None = None,
            check: Callable[[Policy], list[Problem]] | None = None, note: str | None = None) -> Activation:
    """``check``: the service's further checks on the candidate (its upstream allowlist), errors refused;
    ``note``: the approver's reason, kept with the proposal and in its audit entry."""
    proposal = get_proposal(engine, proposal_id)
    if proposal.status == SUPERSEDED:
        raise ConflictError(f"proposal {proposal_id!r} is already superseded: it was made against "
                            f"{proposal.parent_version} and {proposal.note or 'another version became active'}; "
                            "the optimizer proposes again against the active version")
    if proposal.status != PROPOSED:
        raise ConflictError(f"proposal {proposal_id!r} is already {proposal.status}")
    state = active_state(engine)
    if state is None or state.version != proposal.parent_version:
        active = state.version if state else "none"
        raise ConflictError(f"the proposal was made against {proposal.parent_version} but {active} is active now; "
                            "run the optimizer again")
    try:
        policy = Policy.model_validate(proposal.document)
    except ValidationError as error:  # a stored candidate this version of switchyard cannot read
        raise ConflictError(f"the proposed document does not read as a policy ({error.error_count()} problem(s))") \
            from None
    problems = errors_in(validate(policy) + (check(policy) if check is not None else []))
    if problems:
        raise ConflictError(f"{policy.version} is not a valid policy: " + "; ".join(str(p) for p in problems))
    create_version(engine, policy, actor=actor, note=f"optimizer proposal {proposal.id}", now=now)
    set_status(engine, proposal.id, "approved", actor=actor, note=note, now=now)
    return activate(engine, policy.version, actor=actor, now=now)
