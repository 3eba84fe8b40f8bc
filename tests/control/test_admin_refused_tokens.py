"""Wrong admin tokens are audited without letting a guesser fill the audit log: one entry per
interval, carrying how many were refused since the previous one."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from ingest.app import create_app
from store.audit import list_audit, verify_audit
from store.audit_trust import AuditKeyError
from store.engine import make_engine
from store.settings import StoreSettings
from store.testing import migrated_sqlite_url
from tests.control.server import SettableClock, control_settings, serve_ingest

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


def test_ingest_refuses_to_start_with_an_audit_key_file_others_can_read(tmp_path: Path) -> None:
    key_file = tmp_path / "audit.key"
    key_file.write_text("k" * 40)
    key_file.chmod(0o644)
    url = migrated_sqlite_url(tmp_path)
    engine = make_engine(url, settings=StoreSettings(audit_key_file=key_file))
    try:
        with pytest.raises(AuditKeyError, match="readable by others"):
            create_app(control_settings(url), engine)
        key_file.chmod(0o600)
        create_app(control_settings(url), engine)
    finally:
        engine.dispose()
