"""Policy versions are immutable, activation is one pointer, rollback walks back the activation
history; every change lands in the audit log. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Engine

from store.audit import list_audit, verify_audit
from store.errors import ConflictError, NotFoundError
from store.policies import activate, active_policy, active_state, create_version, get_version, list_versions, rollback
from tests.control.policies import policy

T0 = datetime(2026, 11, 2, 9, 0)


def test_create_is_idempotent_for_the_same_document_and_refuses_a_different_one(db_engine: Engine) -> None:
    stored, created = create_version(db_engine, policy("v1"), actor="alice", note="first", now=T0)
    assert created and stored.version == "v1" and stored.created_by == "alice"
    again, created_again = create_version(db_engine, policy("v1"), actor="bob")
    assert not created_again and again.created_by == "alice" and again.created_at == T0
    with pytest.raises(ConflictError, match="immutable"):
        create_version(db_engine, policy("v1", small_model="claude-haiku-9"), actor="bob")
    assert get_version(db_engine, "v1").policy() == policy("v1")
    assert [e.action for e in list_audit(db_engine)] == ["policy.create"]  # no-ops record nothing


def test_the_document_round_trips_with_defaults_included(db_engine: Engine) -> None:
    original = policy("v1", budgets=[{"scope": "team", "name": "payments", "monthly_usd": "1234.567891234"}])
    create_version(db_engine, original, actor="alice")
    stored = get_version(db_engine, "v1")
    assert stored.policy() == original
    assert stored.document["fallback"]["max_hops"] == 3  # defaults are part of the version


def test_unknown_versions_are_not_found(db_engine: Engine) -> None:
    with pytest.raises(NotFoundError):
        get_version(db_engine, "nope")
    with pytest.raises(NotFoundError):
        activate(db_engine, "nope", actor="alice")
    assert active_policy(db_engine) is None and active_state(db_engine) is None


def test_activate_then_rollback_walks_back_the_chain(db_engine: Engine) -> None:
    for version, parent in (("v1", None), ("v2", "v1"), ("v3", "v2")):
        create_version(db_engine, policy(version, parent), actor="alice")
    assert activate(db_engine, "v1", actor="alice").previous is None
    assert activate(db_engine, "v3", actor="bob").previous == "v1"  # skipping v2: history, not parents
    assert not activate(db_engine, "v3", actor="bob").changed
    state = active_state(db_engine)
    assert state is not None and (state.version, state.activated_by) == ("v3", "bob")
    assert active_policy(db_engine).version == "v3"  # type: ignore[union-attr]

    back = rollback(db_engine, actor="carol")
    assert (back.version, back.previous) == ("v1", "v3")
    with pytest.raises(ConflictError, match="no predecessor"):
        rollback(db_engine, actor="carol")  # v1 was the first and has no parent
    entries = list_audit(db_engine)
    assert [(e.action, e.subject, e.actor) for e in entries[:3]] == [
        ("policy.rollback", "v1", "carol"), ("policy.activate", "v3", "bob"), ("policy.activate", "v1", "alice")]
    assert entries[0].detail == {"previous": "v3", "rolled_back": "v3"}
    assert verify_audit(db_engine) == []


def test_repeated_rollbacks_go_back_step_by_step(db_engine: Engine) -> None:
    for version in ("v1", "v2", "v3"):
        create_version(db_engine, policy(version), actor="alice")
        activate(db_engine, version, actor="alice")
    assert rollback(db_engine, actor="bob").version == "v2"
    assert rollback(db_engine, actor="bob").version == "v1"  # not back to v3


def test_rollback_without_history_goes_to_the_parent(db_engine: Engine) -> None:
    create_version(db_engine, policy("v1"), actor="alice")
    create_version(db_engine, policy("v2", "v1"), actor="alice")
    activate(db_engine, "v2", actor="alice")
    assert rollback(db_engine, actor="bob").version == "v1"


def test_rollback_needs_an_active_policy_and_a_stored_target(db_engine: Engine) -> None:
    with pytest.raises(ConflictError, match="no policy is active"):
        rollback(db_engine, actor="bob")
    create_version(db_engine, policy("v2", "v1-never-stored"), actor="alice")
    activate(db_engine, "v2", actor="alice")
    with pytest.raises(ConflictError, match="not stored"):
        rollback(db_engine, actor="bob")


def test_list_versions_oldest_first(db_engine: Engine) -> None:
    create_version(db_engine, policy("b"), actor="alice", now=datetime(2026, 11, 1))
    create_version(db_engine, policy("a"), actor="alice", now=datetime(2026, 11, 2))
    assert [v.version for v in list_versions(db_engine)] == ["b", "a"]
