"""The audit hash chain (verifies; an edited, re-hashed or removed entry shows; concurrent writers
never fork it), virtual keys in the database, and monthly balances from the rollup."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, update

from core.keys import KeyRing
from store.audit import audit_head, list_audit, verify_audit
from store.balances import Balance, month_balances, month_bounds
from store.errors import NotFoundError
from store.keys import create_key, key_records, list_keys, revoke_key
from store.policies import activate, create_version
from store.schema import audit_log, rollup_hourly
from tests.control.policies import policy


def _some_history(engine: Engine) -> None:
    create_version(engine, policy("v1"), actor="alice", note="ünïcode ✓")
    activate(engine, "v1", actor="alice")
    _, stored = create_key(engine, developer="dana", team="payments", actor="bob")
    revoke_key(engine, stored.record.key_id, actor="bob")


def test_the_chain_verifies_and_shows_an_edited_entry(db_engine: Engine) -> None:
    _some_history(db_engine)
    assert verify_audit(db_engine) == []
    head = audit_head(db_engine)
    assert head is not None and head[0] == 4
    with db_engine.begin() as connection:
        connection.execute(update(audit_log).where(audit_log.c.seq == 2).values(actor="mallory"))
    problems = verify_audit(db_engine)
    assert [(p.seq, "edited" in p.message) for p in problems] == [(2, True)]


def test_re_hashing_an_edited_entry_breaks_the_next_link(db_engine: Engine) -> None:
    _some_history(db_engine)
    with db_engine.begin() as connection:
        connection.execute(update(audit_log).where(audit_log.c.seq == 2).values(hash="f" * 64))
    problems = verify_audit(db_engine)
    assert sorted({p.seq for p in problems}) == [2, 3]
    assert any("checkpoint" in p.message for p in problems if p.seq == 2)  # the checkpoint saw entry 2


def test_a_removed_entry_shows(db_engine: Engine) -> None:
    _some_history(db_engine)
    with db_engine.begin() as connection:
        connection.execute(audit_log.delete().where(audit_log.c.seq == 2))
    problems = verify_audit(db_engine)
    assert {p.seq for p in problems} == {2, 3}  # 3 lost its predecessor; the checkpoint still has 2
    assert any("missing" in p.message for p in problems if p.seq == 3)


def test_an_edited_detail_shows(db_engine: Engine) -> None:
    _some_history(db_engine)
    with db_engine.begin() as connection:
        connection.execute(update(audit_log).where(audit_log.c.seq == 1).values(detail={"parent": None, "note": "x"}))
    assert [p.seq for p in verify_audit(db_engine)] == [1]


def test_concurrent_changes_never_fork_the_chain(db_engine: Engine) -> None:
    def work(worker: int) -> None:
        for index in range(4):
            create_key(db_engine, developer=f"dev{worker}-{index}", team=None, actor=f"worker{worker}")

    with ThreadPoolExecutor(max_workers=6) as pool:
        for done in [pool.submit(work, n) for n in range(6)]:
            done.result()  # re-raises a worker's error
    assert verify_audit(db_engine) == []
    assert sorted(e.seq for e in list_audit(db_engine, limit=100)) == list(range(1, 25))


def test_audit_listing_pages_back_and_filters(db_engine: Engine) -> None:
    _some_history(db_engine)
    assert [e.seq for e in list_audit(db_engine, limit=2)] == [4, 3]
    assert [e.seq for e in list_audit(db_engine, limit=2, before=3)] == [2, 1]
    assert [e.action for e in list_audit(db_engine, action="key.revoke")] == ["key.revoke"]


def test_keys_are_stored_hashed_and_revocation_takes_them_away(db_engine: Engine) -> None:
    plaintext, stored = create_key(db_engine, developer="dana", team="payments", actor="bob", rate_limit_rpm=30,
                                   now=datetime(2026, 11, 2, 9, 30, 15, 123456))
    assert plaintext.startswith("sk-sy-") and plaintext.split(".")[1] not in str(stored.record.to_dict())
    record = KeyRing(key_records(db_engine)).authenticate(plaintext)
    assert record is not None and (record.developer, record.team) == ("dana", "payments")
    assert record.created_at == "2026-11-02T09:30:15+00:00" and record.rate_limit_rpm == 30
    assert "salt" not in stored.public_dict() and "secret_hash" not in stored.public_dict()

    revoked = revoke_key(db_engine, stored.record.key_id, actor="carol")
    assert revoked.record.revoked and revoked.revoked_by == "carol"
    assert KeyRing(key_records(db_engine)).authenticate(plaintext) is None
    revoke_key(db_engine, stored.record.key_id, actor="carol")  # again: a no-op
    assert [e.action for e in list_audit(db_engine)] == ["key.revoke", "key.create"]
    assert [k.record.key_id for k in list_keys(db_engine)] == [stored.record.key_id]
    with pytest.raises(NotFoundError):
        revoke_key(db_engine, "0000", actor="carol")


def _rollup(hour: datetime, developer: str, team: str, repo: str, usd: str, model: str = "m") -> dict[str, object]:
    return {"hour": hour, "developer": developer, "team": team, "repo": repo, "model": model, "target": "t",
            "rule": "r", "requests": 1, "errors": 0, "unpriced": 0, "input_tokens": 1, "output_tokens": 1,
            "cache_write_tokens": 0, "cache_read_tokens": 0, "cost_usd": Decimal(usd)}


def test_month_balances_sum_the_rollup_per_principal(db_engine: Engine) -> None:
    rows = [
        _rollup(datetime(2026, 10, 31, 23), "alice", "payments", "api", "100"),  # October: not counted
        _rollup(datetime(2026, 11, 1, 0), "alice", "payments", "api", "1.000000001"),
        _rollup(datetime(2026, 11, 1, 0), "alice", "payments", "api", "2.5", model="other"),
        _rollup(datetime(2026, 11, 15, 12), "bob", "payments", "web", "0.25"),
        _rollup(datetime(2026, 11, 30, 23), "", "", "", "7"),  # unknown principals: in no balance
        _rollup(datetime(2026, 12, 1, 0), "bob", "payments", "web", "100"),  # December: not counted
    ]
    with db_engine.begin() as connection:
        connection.execute(rollup_hourly.insert(), rows)
    assert month_balances(db_engine, "2026-11") == [
        Balance("developer", "alice", Decimal("3.500000001")),
        Balance("developer", "bob", Decimal("0.25")),
        Balance("team", "payments", Decimal("3.750000001")),
        Balance("repo", "api", Decimal("3.500000001")),
        Balance("repo", "web", Decimal("0.25")),
    ]
    assert Balance("team", "payments", Decimal("3.750000001")).to_dict()["usd"] == "3.750000001"
    assert month_balances(db_engine, "2027-01") == []


def test_month_bounds_cover_december_and_refuse_nonsense() -> None:
    assert month_bounds("2026-12") == (datetime(2026, 12, 1), datetime(2027, 1, 1))
    with pytest.raises(ValueError):
        month_bounds("2026-13")
