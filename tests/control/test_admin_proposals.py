"""The optimizer's proposals through the admin API (real HTTP, SQLite and PostgreSQL): list, read,
approve (stored and activated, audited with the token's actor), reject, and every refusal."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine

from core.policy.diff import diff
from store.audit import list_audit, verify_audit
from store.policies import activate, active_state, create_version
from store.proposals import Proposal, create_proposal
from tests.control.policies import policy
from tests.control.server import ADMIN_TOKEN

ALICE = {"authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def http(base_url: str, db_engine: Engine) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, headers=ALICE, timeout=30) as client:
        yield client


def _propose(engine: Engine, parent: str, candidate: str) -> Proposal:
    before, after = policy(parent), policy(candidate, parent, rules=[
        {"name": "small", "when": {"input_tokens": {"lt": 30000}}, "route": ["haiku", "sonnet"]}])
    return create_proposal(engine, parent_version=parent, candidate_version=candidate,
                           document=after.model_dump(mode="json"), diff=diff(before, after).to_dict(),
                           evidence={"delta_monthly_cost_usd": -120.5, "rationale": "cheaper, same quality"},
                           actor="optimizer")


def test_list_show_and_approve_a_proposal(http: httpx.Client, db_engine: Engine) -> None:
    create_version(db_engine, policy("v1"), actor="setup")
    activate(db_engine, "v1", actor="setup")
    proposal = _propose(db_engine, "v1", "v1.opt")
    listed = http.get("/admin/proposals", params={"status": "proposed"}).json()["proposals"]
    assert [(p["id"], p["candidate"], p["delta_monthly_cost_usd"]) for p in listed] == [
        (proposal.id, "v1.opt", -120.5)]
    shown = http.get(f"/admin/proposals/{proposal.id}").json()
    # the rule-level review an approver reads: the rule, where it stands, its condition in words
    assert shown["document"]["version"] == "v1.opt"
    assert "~ rule small (changed, position 1 of 1)" in shown["diff_text"]
    assert "changed: estimated input tokens below 20,000 → 30,000" in shown["diff_text"]
    assert shown["evidence"]["rationale"] == "cheaper, same quality"

    approved = http.post(f"/admin/proposals/{proposal.id}/approve")
    assert approved.status_code == 200, approved.text
    assert approved.json() == {"version": "v1.opt", "previous": "v1", "changed": True}
    state = active_state(db_engine)
    assert state is not None and (state.version, state.activated_by) == ("v1.opt", "alice")
    assert http.get("/admin/proposals", params={"status": "proposed"}).json()["proposals"] == []
    assert http.get(f"/admin/proposals/{proposal.id}").json()["decided_by"] == "alice"
    actions = {(e.action, e.actor) for e in list_audit(db_engine, limit=20)}
    assert {("proposal.approve", "alice"), ("policy.activate", "alice")} <= actions
    assert verify_audit(db_engine) == []

    again = http.post(f"/admin/proposals/{proposal.id}/approve")
    assert again.status_code == 409 and "already approved" in again.json()["detail"]


def test_a_proposal_against_a_version_no_longer_active_is_superseded(http: httpx.Client, db_engine: Engine) -> None:
    """Activating another version marks the pending proposal superseded (audited) in the same
    transaction: it no longer counts as pending, and approving it is refused saying why."""
    for version in ("v1", "v2"):
        create_version(db_engine, policy(version), actor="setup")
    activate(db_engine, "v1", actor="setup")
    proposal = _propose(db_engine, "v1", "v1.opt")
    activate(db_engine, "v2", actor="bob")  # someone moved on since the optimizer ran
    shown = http.get(f"/admin/proposals/{proposal.id}").json()
    assert (shown["status"], shown["decided_by"]) == ("superseded", "bob")
    assert shown["note"] == "v2 became the active version"
    assert http.get("/admin/proposals", params={"status": "proposed"}).json()["proposals"] == []
    listed = http.get("/admin/proposals", params={"status": "superseded"}).json()["proposals"]
    assert [p["id"] for p in listed] == [proposal.id]
    refused = http.post(f"/admin/proposals/{proposal.id}/approve")
    assert refused.status_code == 409 and "superseded: it was made against v1" in refused.json()["detail"]
    assert http.post(f"/admin/proposals/{proposal.id}/reject").status_code == 409
    state = active_state(db_engine)
    assert state is not None and state.version == "v2"
    entries = list_audit(db_engine, subject=proposal.id)
    assert [(e.action, e.actor, e.detail["active"] if e.action == "proposal.supersede" else None)
            for e in entries] == [("proposal.supersede", "bob", "v2"), ("proposal.create", "optimizer", None)]
    assert verify_audit(db_engine) == []


def test_a_proposal_made_for_the_active_version_survives_activating_it_again(http: httpx.Client,
                                                                             db_engine: Engine) -> None:
    create_version(db_engine, policy("v1"), actor="setup")
    activate(db_engine, "v1", actor="setup")
    proposal = _propose(db_engine, "v1", "v1.opt")
    activate(db_engine, "v1", actor="bob")  # already active: nothing changes
    assert http.get(f"/admin/proposals/{proposal.id}").json()["status"] == "proposed"


def test_reject_with_a_note_and_unknown_ids(http: httpx.Client, db_engine: Engine) -> None:
    create_version(db_engine, policy("v1"), actor="setup")
    activate(db_engine, "v1", actor="setup")
    proposal = _propose(db_engine, "v1", "v1.opt")
    rejected = http.post(f"/admin/proposals/{proposal.id}/reject", params={"note": "wait for the quarter"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert rejected.json()["note"] == "wait for the quarter"
    assert http.post(f"/admin/proposals/{proposal.id}/approve").status_code == 409
    assert http.get("/admin/proposals/nope").status_code == 404
    assert http.post("/admin/proposals/nope/approve").status_code == 404
    assert http.get("/admin/proposals", params={"status": "maybe"}).status_code == 422
