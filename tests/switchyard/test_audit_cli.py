"""`switchyard audit verify` passes on an intact log and fails on an edited one."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from core.policy.load import load_policy
from store.audit import entry_hash
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


def test_audit_verify_detects_a_deleted_newest_entry_and_a_public_rehash(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        create_version(engine, load_policy(POLICY), actor="alice")
        activate(engine, "v1", actor="alice")
        runner = CliRunner()
        with engine.begin() as connection:  # the newest entry goes: only the checkpoint can tell
            connection.execute(delete(audit_log).where(audit_log.c.seq == 2))
        deleted = runner.invoke(app, ["audit", "verify", "--database-url", url])
        assert deleted.exit_code == 1
        assert "newest entries were deleted" in deleted.output
        with engine.begin() as connection:  # an edit re-hashed with the unkeyed (public) rule
            row = connection.execute(select(audit_log)).one()
            forged = entry_hash(row.prev_hash, 1, row.at, "mallory", row.action, row.subject, row.detail, key=None)
            connection.execute(update(audit_log).values(actor="mallory", hash=forged))
        (tmp_path / "audit.checkpoint").unlink()
        rehashed = runner.invoke(app, ["audit", "verify", "--database-url", url])
        assert rehashed.exit_code == 0  # alone, an unkeyed first entry reads as one from before the key…
        assert "predate the audit key" in rehashed.output  # …and verify says so
        create_version(engine, load_policy(POLICY.replace("v1", "v2")), actor="alice")
        with engine.begin() as connection:  # …but once a keyed entry follows it, re-hashing shows
            connection.execute(update(audit_log).where(audit_log.c.seq == 1).values(actor="eve"))
            row = connection.execute(select(audit_log).where(audit_log.c.seq == 1)).one()
            forged = entry_hash(row.prev_hash, 1, row.at, "eve", row.action, row.subject, row.detail, key=None)
            connection.execute(update(audit_log).where(audit_log.c.seq == 1).values(hash=forged))
        assert runner.invoke(app, ["audit", "verify", "--database-url", url]).exit_code == 1
    finally:
        engine.dispose()


def test_audit_verify_without_the_key_says_so(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        create_version(engine, load_policy(POLICY), actor="alice")
    finally:
        engine.dispose()
    (tmp_path / "audit.key").unlink()
    result = CliRunner().invoke(app, ["audit", "verify", "--database-url", url])
    assert result.exit_code == 1
    assert "no audit key" in result.output
