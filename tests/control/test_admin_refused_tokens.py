"""Wrong admin tokens are audited without letting a guesser fill the audit log: one entry per
interval, carrying how many were refused since the previous one."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import Engine

from store.audit import list_audit, verify_audit
from tests.control.server import SettableClock, serve_ingest

WRONG = {"authorization": "Bearer not-an-admin-token-at-all"}


def test_refused_tokens_are_audited_at_most_once_an_interval(db_url: str, db_engine: Engine) -> None:
    clock = SettableClock()
    with serve_ingest(db_url, db_engine, clock) as base, httpx.Client(base_url=base) as http:
        for _ in range(30):
            assert http.get("/admin/keys", headers=WRONG).status_code == 401
        assert http.get("/admin/keys").status_code == 401  # no token at all: not a guess, not counted
        assert http.get("/v1/snapshot", headers=WRONG).status_code == 401
        first = list_audit(db_engine, action="admin.token_refused")
        clock.now += timedelta(seconds=61)
        assert http.get("/admin/policies", headers=WRONG).status_code == 401
    entries = list_audit(db_engine, action="admin.token_refused")
    assert [(e.actor, e.detail["refused"]) for e in first] == [("anonymous", 1)]
    assert [e.detail["refused"] for e in entries] == [31, 1]  # 29 admin + 1 snapshot + the 61 s later one
    assert entries[0].detail["last_address"] == "127.0.0.1"
    assert verify_audit(db_engine) == []
