"""The append-only audit log of control-plane changes, chained so tampering shows.

Each entry's ``hash`` is HMAC-SHA256, keyed by the audit key (``store.audit_trust``: never in the
database), over ``prev_hash`` + the canonical JSON of the entry (seq, at, actor, action, subject,
detail); the first entry's ``prev_hash`` is 64 zeros. Editing an entry breaks its own hash, and
without the key nobody can recompute it; removing or reordering entries breaks the sequence or the
chain. After every audited change the newest entry is checkpointed outside the database (a file
next to the key, and a log line), so deleting the newest entries shows too.

Entries written before the key existed (plain SHA-256, no key) still verify by that rule, but only
as the chain's first entries: a keyed entry after them anchors them, since its HMAC covers the last
one's hash, and an unkeyed entry after a keyed one is reported.

Entries are written by the store functions that make a change, in the same transaction
(``audited``), so a change and its record commit together or not at all.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Row, select, text
from sqlalchemy.exc import IntegrityError

from store.audit_trust import AuditKeyError, AuditTrust
from store.engine import AUDIT_TRUST_OPTION
from store.schema import audit_log

GENESIS_HASH = "0" * 64
# On PostgreSQL, audited changes take this transaction-scoped advisory lock first, so they run one
# at a time (they are rare: people changing policies and keys). SQLite serialises writers itself.
_ADVISORY_LOCK = 0x5357_4155_4449_54  # "SWAUDIT"
# Should two changes still race for the same next entry or the same new row, the unique
# constraints refuse the loser, whose transaction is then redone and sees the winner's commit.
_ATTEMPTS = 5
T = TypeVar("T")
log = logging.getLogger("switchyard.audit")


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
               detail: Mapping[str, Any], *, key: bytes | None) -> str:
    """HMAC-SHA256 under ``key``; ``key=None`` is the rule of entries written before the key existed."""
    content = {"seq": seq, "at": at.isoformat(timespec="microseconds"), "actor": actor, "action": action,
               "subject": subject, "detail": detail}
    message = (prev_hash + canonical_json(content)).encode("utf-8")
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def audit_trust(engine_or_connection: Engine | Connection) -> AuditTrust:
    """Where this engine's audit key and checkpoint are (set by ``store.engine.make_engine``)."""
    trust = engine_or_connection.get_execution_options().get(AUDIT_TRUST_OPTION)
    if not isinstance(trust, AuditTrust):
        raise AuditKeyError("this engine has no audit key: make it with store.engine.make_engine")
    return trust


def append(connection: Connection, *, at: datetime, actor: str, action: str, subject: str,
           detail: Mapping[str, Any]) -> AuditEntry:
    """Add an entry after the newest one, in the caller's transaction."""
    at = at.replace(tzinfo=None)
    detail = json.loads(canonical_json(detail))  # JSON-native (and a copy): what the database gives back
    last = connection.execute(select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc())
                              .limit(1)).first()
    seq, prev_hash = (last.seq + 1, last.hash) if last is not None else (1, GENESIS_HASH)
    key = audit_trust(connection).load_key(create=True)
    digest = entry_hash(prev_hash, seq, at, actor, action, subject, detail, key=key)
    entry = AuditEntry(seq, at, actor, action, subject, detail, prev_hash, digest)
    connection.execute(audit_log.insert().values(
        seq=seq, at=at, actor=actor, action=action, subject=subject, detail=detail, prev_hash=prev_hash,
        hash=digest))
    return entry


def audited(engine: Engine, change: Callable[[Connection], T]) -> T:
    """Run ``change`` (which reads, writes and calls ``append``) in one transaction; when a
    concurrent change won a race for the same row or the same next audit entry (a unique
    violation), run it again from the start. Once committed, the newest entry is checkpointed."""
    for attempt in range(_ATTEMPTS):
        try:
            with engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
                result = change(connection)
        except IntegrityError:
            if attempt == _ATTEMPTS - 1:
                raise
            continue
        _checkpoint_head(engine)
        return result
    raise AssertionError("unreachable")


def _checkpoint_head(engine: Engine) -> None:
    head = audit_head(engine)
    if head is None:
        return
    try:
        audit_trust(engine).checkpoint(*head)
    except OSError as error:
        # The change is committed; failing it now would tell the caller it was not. Say it loudly.
        log.error("could not checkpoint audit entry %d (%s): deleting it would go unnoticed", head[0], error)


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


@dataclass(frozen=True, slots=True)
class AuditReport:
    problems: list[AuditProblem]
    entries: int
    unkeyed: int  # leading entries written before the audit key existed (checked by the old rule)
    checkpoints: int


def verify_audit(engine: Engine) -> list[AuditProblem]:
    """Every break in the chain: an empty list means the log is as written, up to the newest
    checkpointed entry."""
    return audit_report(engine).problems


def audit_report(engine: Engine) -> AuditReport:
    trust = audit_trust(engine)
    key = trust.load_key(create=False)
    checkpoints = trust.checkpoints()
    expected_hashes: dict[int, set[str]] = {}
    for checkpoint in checkpoints:
        expected_hashes.setdefault(checkpoint.seq, set()).add(checkpoint.hash)
    problems: list[AuditProblem] = []
    expected_seq, expected_prev, entries, unkeyed, keyed_seen = 1, GENESIS_HASH, 0, 0, False
    with engine.connect() as connection:
        for entry in _entries_in_order(connection):
            entries += 1
            if entry.seq != expected_seq:
                problems.append(AuditProblem(entry.seq, f"expected entry {expected_seq} here: entries are missing"))
            if entry.prev_hash != expected_prev:
                problems.append(AuditProblem(entry.seq, "prev_hash is not the previous entry's hash: an entry "
                                                        "before it was removed, reordered or re-hashed"))
            fields = (entry.prev_hash, entry.seq, entry.at, entry.actor, entry.action, entry.subject, entry.detail)
            if key is not None and hmac.compare_digest(entry_hash(*fields, key=key), entry.hash):
                keyed_seen = True
            elif entry_hash(*fields, key=None) == entry.hash:
                if keyed_seen:
                    problems.append(AuditProblem(entry.seq, "hashed without the audit key after keyed entries: "
                                                            "it was written or rewritten by someone without the key"))
                unkeyed += 1
            elif key is None:
                problems.append(AuditProblem(entry.seq, f"cannot be checked: no audit key ({trust.key_path} is "
                                                        "missing; set SWITCHYARD_AUDIT_KEY or _FILE)"))
            else:
                problems.append(AuditProblem(entry.seq, "hash does not match the entry's content under the audit "
                                                        "key: it was edited"))
            for recorded in expected_hashes.pop(entry.seq, set()):
                if recorded != entry.hash:
                    problems.append(AuditProblem(entry.seq, f"the checkpoint in {trust.checkpoint_path} recorded "
                                                            "another hash for this entry: it was replaced"))
            expected_seq, expected_prev = entry.seq + 1, entry.hash
    for seq in sorted(expected_hashes):
        problems.append(AuditProblem(seq, f"checkpointed in {trust.checkpoint_path} but not in the log: the "
                                          "newest entries were deleted" if seq >= expected_seq else
                                          f"checkpointed in {trust.checkpoint_path} but not in the log"))
    return AuditReport(problems, entries, unkeyed, len(checkpoints))
