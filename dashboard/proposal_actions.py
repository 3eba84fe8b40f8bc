"""Deciding on the optimizer's proposals: approve (store the candidate as a version, mark the
proposal approved, activate it) or reject, for approvers only, each with the approver's reason
(required to reject), kept with the proposal and in its audit entry. Each step goes through the
store (store.proposal_decisions, store.proposals), which audits it with the signed-in user.
Returns a sentence for the page; raises nothing a person could cause."""

from __future__ import annotations

import unicodedata

from sqlalchemy import Engine

from core.upstreams import Allowlist
from dashboard.auth import AccessDeniedError, SignedInUser
from dashboard.refusals import refused
from dashboard.settings import Role
from store.errors import ConflictError, NotFoundError
from store.proposal_decisions import approve
from store.proposals import set_status

MAX_REASON = 2_000  # characters, as the admin API's note


class ReasonError(ValueError):
    """A reason the page refuses (too long, control characters)."""


def clean_reason(text: str | None) -> str | None:
    """The reason as stored: stripped, None when empty; refused when longer than MAX_REASON or
    holding control characters other than line breaks and tabs (it is printed in terminals by
    `switchyard audit`, where an escape sequence would rewrite what an auditor sees)."""
    reason = (text or "").strip()
    if not reason:
        return None
    if len(reason) > MAX_REASON:
        raise ReasonError(f"the reason is {len(reason):,} characters; at most {MAX_REASON:,}")
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in reason):
        raise ReasonError("the reason holds control characters")
    return reason


def _with_reason(sentence: str, reason: str | None) -> str:
    return f"{sentence} Reason: {reason}" if reason else sentence


def approve_proposal(engine: Engine, user: SignedInUser, proposal_id: str | None, allowlist: Allowlist,
                     reason: str | None = None) -> str:
    try:
        user.require(Role.approver)
    except AccessDeniedError as error:
        return refused(engine, user, "proposal.approve", error, proposal=proposal_id)
    try:
        if not proposal_id:
            return "Pick a proposal first."
        note = clean_reason(reason)
        result = approve(engine, proposal_id, actor=user.name, check=allowlist.problems, note=note)
    except (NotFoundError, ConflictError, ReasonError) as error:
        return f"Refused: {error}."
    return _with_reason(f"Approved: {result.version} is now active (was {result.previous or 'none'}), by {user.name}.",
                        note)


def reject_proposal(engine: Engine, user: SignedInUser, proposal_id: str | None, reason: str | None = None) -> str:
    try:
        user.require(Role.approver)
    except AccessDeniedError as error:
        return refused(engine, user, "proposal.reject", error, proposal=proposal_id)
    try:
        if not proposal_id:
            return "Pick a proposal first."
        note = clean_reason(reason)
        if note is None:
            return "Refused: say why you reject it (the reason is kept with the proposal and in the audit log)."
        proposal = set_status(engine, proposal_id, "rejected", actor=user.name, note=note)
    except (NotFoundError, ConflictError, ReasonError) as error:
        return f"Refused: {error}."
    return _with_reason(f"Rejected the proposal for {proposal.candidate_version}, by {user.name}.", note)
