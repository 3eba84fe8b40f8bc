"""An activation (or a rollback) that changes the secret guardrail's allow-list writes its own audit
entry, in the same transaction, naming what was added and removed and who did it; one that leaves the
allow-list alone writes none. The chain still verifies. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine

from store.audit import list_audit, verify_audit
from store.policies import ALLOWLIST, activate, create_version, rollback
from tests.control.policies import policy

T0 = datetime(2026, 11, 2, 9, 0)
FP = "0123456789abcdef01234567"


def _allow(**allow: list[str]) -> dict[str, object]:
    return {"guardrails": {"secrets": "block", "allow": allow}}


def test_allow_list_changes_are_audited_with_what_changed_and_who(db_engine: Engine) -> None:
    create_version(db_engine, policy("v1"), actor="alice", now=T0)
    create_version(db_engine, policy("v2", "v1", **_allow(fingerprints=[FP])), actor="alice", now=T0)
    create_version(db_engine, policy("v3", "v2", **_allow(fingerprints=[FP], paths=["*/fixtures/*"])), actor="alice",
                   now=T0)
    create_version(db_engine, policy("v4", "v3", small_model="claude-haiku-9",
                                     **_allow(fingerprints=[FP], paths=["*/fixtures/*"])), actor="alice", now=T0)
    activate(db_engine, "v1", actor="alice", now=T0)  # nothing allowed: no entry
    activate(db_engine, "v2", actor="bob", now=T0 + timedelta(hours=1))
    activate(db_engine, "v3", actor="carol", now=T0 + timedelta(hours=2))
    activate(db_engine, "v4", actor="carol", now=T0 + timedelta(hours=3))  # the same allow-list: no entry
    rollback(db_engine, actor="dave", now=T0 + timedelta(hours=4))  # v4 → v3: the same allow-list
    rollback(db_engine, actor="dave", now=T0 + timedelta(hours=5))  # v3 → v2: the path is removed
    entries = list(reversed(list_audit(db_engine, action=ALLOWLIST)))
    assert [(e.subject, e.actor) for e in entries] == [("v2", "bob"), ("v3", "carol"), ("v2", "dave")]
    assert entries[0].detail == {"previous": "v1", "added_fingerprints": [FP], "removed_fingerprints": [],
                                 "added_paths": [], "removed_paths": []}
    assert entries[1].detail["added_paths"] == ["*/fixtures/*"] and entries[1].detail["added_fingerprints"] == []
    assert entries[2].detail["removed_paths"] == ["*/fixtures/*"] and entries[2].detail["previous"] == "v3"
    assert verify_audit(db_engine) == []
