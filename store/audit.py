"""The append-only audit log of control-plane changes, hash-chained so tampering shows.

Each entry's ``hash`` is sha256(``prev_hash`` + the canonical JSON of the entry: seq, at, actor,
action, subject, detail); the first entry's ``prev_hash`` is 64 zeros. Editing an entry breaks its
own hash; recomputing that hash breaks the next entry's ``prev_hash``; removing or reordering
entries breaks the sequence or the chain. Dropping the newest entries cannot be seen from the log
alone: keep ``audit_head()`` somewhere else (a ticket, a commit) to anchor it.

Entries are written by the store functions that make a change, in the same transaction
(``audited``), so a change and its record commit together or not at all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Row, select, text
from sqlalchemy.exc import IntegrityError

from store.schema import audit_log

GENESIS_HASH = "0" * 64
# On PostgreSQL, audited changes take this transaction-scoped advisory lock first, so they run one
# at a time (they are rare: people changing policies and keys). SQLite serialises writers itself.
_ADVISORY_LOCK = 0x5357_4155_4449_54  # "SWAUDIT"
# Should two changes still race for the same next entry or the same new row, the unique
# constraints refuse the loser, whose transaction is then redone and sees the winner's commit.
_ATTEMPTS = 5
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: datetime  # naive UTC
    actor: str
    action: str  # e.g. "policy.activate"
    subject: str  # what it acted on: a policy version, a key id
    detail: Mapping[str, Any]
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": self.at.isoformat(timespec="microseconds") + "Z", "actor": self.actor,
                "action": self.action, "subject": self.subject, "detail": dict(self.detail),
                "prev_hash": self.prev_hash, "hash": self.hash}


@dataclass(frozen=True, slots=True)
class AuditProblem:
    seq: int
    message: str

    def __str__(self) -> str:
        return f"audit entry {self.seq}: {self.message}"


def canonical_json(value: object) -> str:
    """One text per value: sorted keys, no whitespace, no NaN. What the hash is computed over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_hash(prev_hash: str, seq: int, at: datetime, actor: str, action: str, subject: str,
               detail: Mapping[str, Any]) -> str:
    content = {"seq": seq, "at": at.isoformat(timespec="microseconds"), "actor": actor, "action": action,
               "subject": subject, "detail": detail}
    return hashlib.sha256((prev_hash + canonical_json(content)).encode("utf-8")).hexdigest()


def append(connection: Connection, *, at: datetime, actor: str, action: str, subject: str,
           detail: Mapping[str, Any]) -> AuditEntry:
    """Add an entry after the newest one, in the caller's transaction."""
    at = at.replace(tzinfo=None)
    detail = json.loads(canonical_json(detail))  # JSON-native (and a copy): what the database gives back
    last = connection.execute(select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc())
                              .limit(1)).first()
    seq, prev_hash = (last.seq + 1, last.hash) if last is not None else (1, GENESIS_HASH)
    digest = entry_hash(prev_hash, seq, at, actor, action, subject, detail)
    entry = AuditEntry(seq, at, actor, action, subject, detail, prev_hash, digest)
    connection.execute(audit_log.insert().values(
        seq=seq, at=at, actor=actor, action=action, subject=subject, detail=detail, prev_hash=prev_hash,
        hash=digest))
    return entry


def audited(engine: Engine, change: Callable[[Connection], T]) -> T:
    """Run ``change`` (which reads, writes and calls ``append``) in one transaction; when a
    concurrent change won a race for the same row or the same next audit entry (a unique
    violation), run it again from the start."""
    for attempt in range(_ATTEMPTS):
        try:
            with engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
                return change(connection)
        except IntegrityError:
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _entry(row: Row[Any]) -> AuditEntry:
    return AuditEntry(row.seq, row.at, row.actor, row.action, row.subject, row.detail, row.prev_hash, row.hash)


def list_audit(engine: Engine, *, limit: int = 100, before: int | None = None, subject: str | None = None,
               action: str | None = None) -> list[AuditEntry]:
    """Newest first; ``before`` pages back (entries with a smaller seq)."""
    query = select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit)
    if before is not None:
        query = query.where(audit_log.c.seq < before)
    if subject is not None:
        query = query.where(audit_log.c.subject == subject)
    if action is not None:
        query = query.where(audit_log.c.action == action)
    with engine.connect() as connection:
        return [_entry(row) for row in connection.execute(query)]


def audit_head(engine: Engine) -> tuple[int, str] | None:
    """(seq, hash) of the newest entry: write it down elsewhere to detect a truncated log."""
    with engine.connect() as connection:
        row = connection.execute(select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc())
                                 .limit(1)).first()
    return None if row is None else (row.seq, row.hash)


def _entries_in_order(connection: Connection, page: int = 1000) -> Iterator[AuditEntry]:
    after = 0
    while True:
        rows = connection.execute(select(audit_log).where(audit_log.c.seq > after).order_by(audit_log.c.seq)
                                  .limit(page)).all()
        for row in rows:
            yield _entry(row)
        if len(rows) < page:
            return
        after = rows[-1].seq


def verify_audit(engine: Engine) -> list[AuditProblem]:
    """Every break in the chain: an empty list means the log is as written (up to its newest entry)."""
    problems: list[AuditProblem] = []
    expected_seq, expected_prev = 1, GENESIS_HASH
    with engine.connect() as connection:
        for entry in _entries_in_order(connection):
            if entry.seq != expected_seq:
                problems.append(AuditProblem(entry.seq, f"expected entry {expected_seq} here: entries are missing"))
            if entry.prev_hash != expected_prev:
                problems.append(AuditProblem(entry.seq, "prev_hash is not the previous entry's hash: an entry "
                                                        "before it was removed, reordered or re-hashed"))
            recomputed = entry_hash(entry.prev_hash, entry.seq, entry.at, entry.actor, entry.action, entry.subject,
                                    entry.detail)
            if recomputed != entry.hash:
                problems.append(AuditProblem(entry.seq, "hash does not match the entry's content: it was edited"))
            expected_seq, expected_prev = entry.seq + 1, entry.hash
    return problems
