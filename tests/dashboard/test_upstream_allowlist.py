"""The dashboard's approve and activate buttons refuse a policy whose targets are outside
SWITCHYARD_ALLOWED_UPSTREAMS, saying which target (issue 15, item 3)."""

from __future__ import annotations

from sqlalchemy import Engine

from dashboard.auth import SignedInUser
from dashboard.policy_actions import activate_version, roll_back
from dashboard.proposal_actions import approve_proposal
from dashboard.settings import DashboardSettings, Role
from store.policies import active_state
from store.proposals import get_proposal
from tests.dashboard.fleet import seed_policies, seed_proposal

ALICE = SignedInUser("alice", Role.approver)
# the fleet's policies also route to https://eu.example.com, which this operator does not allow
ANTHROPIC_ONLY = DashboardSettings(allowed_upstreams=["https://api.anthropic.com"]).allowlist()


def test_a_proposal_outside_the_allowlist_is_refused(db_engine: Engine) -> None:
    seed_policies(db_engine)
    proposal = seed_proposal(db_engine)
    said = approve_proposal(db_engine, ALICE, proposal.id, ANTHROPIC_ONLY)
    assert said.startswith("Refused") and "target 'secondary'" in said and "https://eu.example.com" in said
    assert get_proposal(db_engine, proposal.id).status == "proposed"


def test_a_version_outside_the_allowlist_is_not_activated(db_engine: Engine) -> None:
    seed_policies(db_engine)
    said = activate_version(db_engine, ALICE, "v2", ANTHROPIC_ONLY)
    assert said.startswith("Refused") and "target 'secondary'" in said and "SWITCHYARD_ALLOWED_UPSTREAMS" in said
    state = active_state(db_engine)
    assert state is not None and state.version == "v1"


def test_no_rollback_to_a_version_outside_the_allowlist(db_engine: Engine) -> None:
    seed_policies(db_engine)
    wide = DashboardSettings(allowed_upstreams=["https://api.anthropic.com", "https://eu.example.com"]).allowlist()
    assert "v2 is now active" in activate_version(db_engine, ALICE, "v2", wide)
    said = roll_back(db_engine, ALICE, ANTHROPIC_ONLY)
    assert said.startswith("Refused") and "cannot roll back to 'v1'" in said and "target 'secondary'" in said
    state = active_state(db_engine)
    assert state is not None and state.version == "v2"


def test_the_variable_the_proxy_reads_configures_the_dashboard(monkeypatch) -> None:
    monkeypatch.setenv("SWITCHYARD_ALLOWED_UPSTREAMS", '["https://gw.example/anthropic"]')
    assert str(DashboardSettings().allowlist()) == "https://gw.example/anthropic"
