"""`switchyard audit verify` passes on an intact log and fails on an edited one."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import update
from typer.testing import CliRunner

from core.policy.load import load_policy
from store.engine import make_engine
from store.migrate import upgrade
from store.policies import activate, create_version
from store.schema import audit_log
from switchyard.cli import app

POLICY = "version: v1\ntargets: [{name: a, base_url: 'http://127.0.0.1:1'}]\ndefault: {route: [a]}\n"


def test_audit_verify_detects_an_edited_entry(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        create_version(engine, load_policy(POLICY), actor="alice")
        activate(engine, "v1", actor="alice")
        runner = CliRunner()
        intact = runner.invoke(app, ["audit", "verify", "--database-url", url])
        assert intact.exit_code == 0, intact.output
        assert "audit log intact: 2 entries" in intact.output
        with engine.begin() as connection:
            connection.execute(update(audit_log).where(audit_log.c.seq == 1).values(actor="mallory"))
        tampered = runner.invoke(app, ["audit", "verify", "--database-url", url])
        assert tampered.exit_code == 1
        assert "edited" in tampered.output
    finally:
        engine.dispose()
