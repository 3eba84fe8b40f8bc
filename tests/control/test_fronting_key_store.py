"""A fronting gateway's key made through the admin API is one in the store and in the proxies'
snapshot (SQLite and PostgreSQL), audited as such; other keys are not."""

from __future__ import annotations

from sqlalchemy import Engine

from ingest.snapshot import snapshot_content
from proxy.snapshot import parse_snapshot
from store.audit import list_audit
from store.keys import create_key, key_records


def test_the_flag_is_stored_audited_and_reaches_the_snapshot(db_engine: Engine) -> None:
    create_key(db_engine, developer="claude-gateway", team=None, actor="alice", fronting_gateway=True)
    create_key(db_engine, developer="dana", team="pay", actor="alice")
    assert {r.developer: r.fronting_gateway for r in key_records(db_engine)} == {"claude-gateway": True,
                                                                               "dana": False}
    snapshot = parse_snapshot({"generated_at": 0, **snapshot_content(db_engine, "2026-12")})
    assert {r.developer: r.fronting_gateway for r in snapshot.keys} == {"claude-gateway": True, "dana": False}
    created = [e.detail for e in list_audit(db_engine, action="key.create")]
    assert sorted(d["fronting_gateway"] for d in created) == [False, True]
