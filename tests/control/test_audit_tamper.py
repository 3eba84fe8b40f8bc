"""The audit chain against someone who can write the database but not read the audit key: edited
and re-hashed, inserted and deleted entries (the newest included) all show; entries from before the
key verify by the old rule only as the chain's first entries; the key and the checkpoint are 0600."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from store.audit import audit_report, audit_trust, entry_hash, verify_audit
from store.audit_trust import AuditKeyError
from store.engine import make_engine
from store.keys import create_key, revoke_key
from store.migrate import upgrade
from store.policies import activate, create_version
from store.schema import audit_log
from store.settings import StoreSettings
from store.testing import empty_all_tables
from tests.control.policies import policy


@pytest.fixture
def engine(db_url: str, tmp_path: Path) -> Iterator[Engine]:
    """An engine whose key and checkpoint live in this test's own directory."""
    made = make_engine(db_url, data_dir=tmp_path / "data",
                       settings=StoreSettings(audit_key_file=_key_file(tmp_path / "secret")))
    empty_all_tables(made)
    audit_trust(made).checkpoint_path.unlink(missing_ok=True)
    yield made
    made.dispose()


def _key_file(path: Path) -> Path:
    path.write_text("k" * 40 + "\n")
    path.chmod(0o600)
    return path


def _history(engine: Engine) -> None:
    create_version(engine, policy("v1"), actor="alice")
    activate(engine, "v1", actor="alice")
    _, stored = create_key(engine, developer="dana", team="payments", actor="bob")
    revoke_key(engine, stored.record.key_id, actor="bob")


def _rehash_from(engine: Engine, seq: int, key: bytes | None) -> None:
    """What an attacker with write access does after editing entry ``seq``: recompute every later hash."""
    with engine.begin() as connection:
        rows = connection.execute(select(audit_log).order_by(audit_log.c.seq)).all()
        prev = rows[seq - 2].hash if seq > 1 else "0" * 64
        for row in rows[seq - 1:]:
            digest = entry_hash(prev, row.seq, row.at, row.actor, row.action, row.subject, row.detail, key=key)
            connection.execute(update(audit_log).where(audit_log.c.seq == row.seq)
                               .values(prev_hash=prev, hash=digest))
            prev = digest


@pytest.mark.parametrize("attacker_key", [None, b"not the key, but long enough to be one"])
def test_an_edit_re_hashed_without_the_key_shows(engine: Engine, attacker_key: bytes | None) -> None:
    _history(engine)
    assert verify_audit(engine) == []
    with engine.begin() as connection:
        connection.execute(update(audit_log).where(audit_log.c.seq == 2).values(actor="mallory"))
    _rehash_from(engine, 2, attacker_key)
    problems = verify_audit(engine)
    assert problems and {p.seq for p in problems} >= {2, 3, 4}


def test_deleting_the_newest_entry_shows(engine: Engine) -> None:
    _history(engine)
    with engine.begin() as connection:
        connection.execute(audit_log.delete().where(audit_log.c.seq == 4))
    problems = verify_audit(engine)
    assert [(p.seq, "newest entries were deleted" in p.message) for p in problems] == [(4, True)]


def test_an_inserted_entry_shows(engine: Engine) -> None:
    _history(engine)
    with engine.begin() as connection:  # make room after entry 2, then slip an entry in
        for seq in (4, 3):
            connection.execute(update(audit_log).where(audit_log.c.seq == seq).values(seq=seq + 1))
        before = connection.execute(select(audit_log).where(audit_log.c.seq == 2)).one()
        forged = entry_hash(before.hash, 3, before.at, "mallory", "key.create", "x", {}, key=None)
        connection.execute(update(audit_log).where(audit_log.c.seq == 4).values(prev_hash=forged))
        connection.execute(audit_log.insert().values(
            seq=3, at=before.at, actor="mallory", action="key.create", subject="x", detail={},
            prev_hash=before.hash, hash=forged))
    assert {p.seq for p in verify_audit(engine)} >= {3, 4}


def test_the_right_key_is_needed_to_verify(engine: Engine, db_url: str, tmp_path: Path) -> None:
    _history(engine)
    other = make_engine(db_url, data_dir=tmp_path / "data",
                        settings=StoreSettings(audit_key="another key that is long enough to use"))
    try:
        problems = verify_audit(other)
    finally:
        other.dispose()
    assert [p.seq for p in problems if "edited" in p.message] == [1, 2, 3, 4]


def test_entries_from_before_the_key_verify_by_the_old_rule_and_are_anchored(engine: Engine) -> None:
    _history(engine)
    _rehash_from(engine, 1, None)  # a database written before this change: plain SHA-256 everywhere
    audit_trust(engine).checkpoint_path.unlink()
    report = audit_report(engine)
    assert (report.problems, report.unkeyed) == ([], 4)
    create_key(engine, developer="erin", team=None, actor="bob")  # the first keyed entry anchors them
    report = audit_report(engine)
    assert (report.problems, report.entries, report.unkeyed) == ([], 5, 4)
    with engine.begin() as connection:  # rewrite an old entry and its old-rule successors
        connection.execute(update(audit_log).where(audit_log.c.seq == 2).values(actor="mallory"))
    _rehash_from(engine, 2, None)  # …which also re-hashes entry 5 by the old rule
    messages = {p.seq: p.message for p in verify_audit(engine)}
    assert "without the audit key after keyed entries" not in messages.get(2, "")
    assert 5 in messages  # the keyed entry no longer verifies, the checkpoint disagrees


def test_an_unkeyed_entry_after_keyed_ones_shows(engine: Engine) -> None:
    _history(engine)
    _rehash_from(engine, 4, None)
    audit_trust(engine).checkpoint_path.unlink()
    assert [(p.seq, "without the audit key" in p.message) for p in verify_audit(engine)] == [(4, True)]


def test_a_missing_key_is_generated_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    data = tmp_path / "fresh" / "data"
    old = os.umask(0o022)
    try:
        engine = make_engine(None, data_dir=data, settings=StoreSettings())
        try:
            upgrade(engine)
            _history(engine)
            assert verify_audit(engine) == []
            written = sorted(path.name for path in data.iterdir())
            modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in data.iterdir()}
        finally:
            engine.dispose()
    finally:
        os.umask(old)
    assert {"audit.key", "audit.checkpoint", "switchyard.sqlite3", "switchyard.sqlite3-wal"} <= set(written)
    assert modes == dict.fromkeys(written, 0o600)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700


def test_a_key_file_others_can_read_is_refused(db_url: str, tmp_path: Path) -> None:
    key_file = _key_file(tmp_path / "key")
    key_file.chmod(0o644)
    engine = make_engine(db_url, data_dir=tmp_path / "data", settings=StoreSettings(audit_key_file=key_file))
    try:
        with pytest.raises(AuditKeyError, match="chmod 600"):
            create_key(engine, developer="dana", team=None, actor="bob")
    finally:
        engine.dispose()


def test_a_short_audit_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        StoreSettings(audit_key="short")
