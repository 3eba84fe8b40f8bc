"""Admin API for the optimizer's proposals: list, read (candidate, diff, evidence), approve (the
candidate is stored as a version and activated; proxies pick it up on their next snapshot poll)
and reject. Approval goes through store.proposal_decisions, the same path as the dashboard's
button; every decision is audited with the token's actor."""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at runtime, and
# they name dependencies local to the router factory.

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import ValidationError
from sqlalchemy import Engine

from core.policy.diff import PolicyDiff, render_diff
from core.policy.rule_diff import render_rule_diff, rule_diff
from core.policy.schema import Policy
from ingest.admin_policies import iso
from ingest.openapi_admin import responses
from ingest.upstreams import UpstreamCheck
from store.errors import NotFoundError
from store.policies import get_version
from store.proposal_decisions import approve
from store.proposals import Proposal, get_proposal, list_proposals, set_status

ProposalId = Annotated[str, Path(min_length=1, max_length=64, description="a proposal id")]
Note = Annotated[str | None, Query(max_length=2000)]


class Status(StrEnum):
    proposed = "proposed"
    approved = "approved"
    rejected = "rejected"
    superseded = "superseded"  # another version became active before anyone decided


def summary(proposal: Proposal) -> dict[str, Any]:
    evidence = proposal.evidence
    return {"id": proposal.id, "parent": proposal.parent_version, "candidate": proposal.candidate_version,
            "status": proposal.status, "created_at": iso(proposal.created_at), "created_by": proposal.created_by,
            "decided_at": iso(proposal.decided_at) if proposal.decided_at else None,
            "decided_by": proposal.decided_by, "note": proposal.note,
            "delta_monthly_cost_usd": evidence.get("delta_monthly_cost_usd"),
            "delta_quality": evidence.get("delta_quality"), "rationale": evidence.get("rationale")}


def _review_text(engine: Engine, proposal: Proposal) -> str:
    """The rule-level review an approver reads (conditions, routes, positions: the dashboard's and
    `switchyard policy diff`'s); the stored field-level diff when the parent or the candidate no
    longer reads as a policy."""
    try:
        parent = get_version(engine, proposal.parent_version).policy()
        candidate = Policy.model_validate(proposal.document)
    except (NotFoundError, ValidationError):
        return render_diff(PolicyDiff.from_dict(proposal.diff))
    return render_rule_diff(rule_diff(parent, candidate))


def proposals_router(engine: Engine, actor: Callable[..., str], clock: Callable[[], datetime],
                     upstreams: UpstreamCheck) -> APIRouter:
    router = APIRouter(prefix="/admin/proposals", tags=["admin: proposals"])
    Actor = Annotated[str, Depends(actor)]

    @router.get("", summary="Proposals, newest first", responses=responses(401, 422, 503))
    def list_all(_who: Actor, status: Status | None = None) -> dict[str, Any]:
        found = list_proposals(engine, status=None if status is None else status.value)
        return {"proposals": [summary(p) for p in found]}

    @router.get("/{proposal_id}", summary="One proposal: candidate, diff and evidence",
                responses=responses(401, 404, 422, 503))
    def show(proposal_id: ProposalId, _who: Actor) -> dict[str, Any]:
        proposal = get_proposal(engine, proposal_id)
        return {**summary(proposal), "document": proposal.document, "diff": proposal.diff,
                "diff_text": _review_text(engine, proposal), "evidence": proposal.evidence}

    @router.post("/{proposal_id}/approve", summary="Approve: store the candidate and make it the active policy",
                 responses=responses(401, 404, 409, 422, 503))
    def approve_one(proposal_id: ProposalId, who: Actor) -> dict[str, Any]:
        result = approve(engine, proposal_id, actor=who, now=clock(), check=upstreams)
        return {"version": result.version, "previous": result.previous, "changed": result.changed}

    @router.post("/{proposal_id}/reject", summary="Reject a proposal", responses=responses(401, 404, 409, 422, 503))
    def reject_one(proposal_id: ProposalId, who: Actor, note: Note = None) -> dict[str, Any]:
        return summary(set_status(engine, proposal_id, "rejected", actor=who, note=note, now=clock()))

    return router
