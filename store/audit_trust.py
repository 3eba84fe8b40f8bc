"""What makes the audit chain trustworthy lives outside the database: the HMAC key that chains the
entries, and an append-only checkpoint of the newest entry (a file, and a log line).

Someone who can write the database but cannot read the key cannot recompute an edited entry's
hash, and someone who deletes the newest entries is caught by the checkpoint. The key comes from
``SWITCHYARD_AUDIT_KEY``, or ``SWITCHYARD_AUDIT_KEY_FILE``, or else ``<directory>/audit.key``, which
is generated (0600) on the first audited change; ``directory`` is the SQLite database's directory, or
the data directory for PostgreSQL."""

from __future__ import annotations

import json
import logging
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from store.private_files import append_private_line, create_private_exclusive
from store.settings import MIN_AUDIT_KEY_CHARS

KEY_FILENAME = "audit.key"
CHECKPOINT_FILENAME = "audit.checkpoint"
log = logging.getLogger("switchyard.audit")


class AuditKeyError(RuntimeError):
    """The audit key is configured but unusable; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class AuditTrust:
    directory: Path  # where the default key file and the checkpoint live
    key: str | None = field(default=None, repr=False)
    key_file: Path | None = None
    # One checkpoint file per database: a data directory shared by several databases (PostgreSQL
    # schemas, say) must not mix their heads (store.engine names it after the database).
    checkpoint_name: str = CHECKPOINT_FILENAME

    @property
    def key_path(self) -> Path:
        return self.key_file if self.key_file is not None else self.directory / KEY_FILENAME

    @property
    def checkpoint_path(self) -> Path:
        return self.directory / self.checkpoint_name

    def load_key(self, *, create: bool) -> bytes | None:
        """The key; None when there is none yet and ``create`` is false. Generated (0600) into the
        directory only when no key or key file is configured."""
        if self.key is not None:
            return self.key.encode("utf-8")
        path = self.key_path
        if not path.exists():
            if self.key_file is not None:
                raise AuditKeyError(f"SWITCHYARD_AUDIT_KEY_FILE={path} does not exist")
            if not create:
                return None
            if create_private_exclusive(path, secrets.token_hex(32) + "\n"):
                log.warning("generated a new audit key in %s: keep a copy elsewhere, the audit log cannot be "
                            "verified without it", path)
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise AuditKeyError(f"the audit key file {path} is readable by others (mode {mode & 0o777:o}): "
                                f"chmod 600 {path}")
        key = path.read_text(encoding="utf-8").strip()
        if len(key) < MIN_AUDIT_KEY_CHARS:
            raise AuditKeyError(f"the audit key in {path} is shorter than {MIN_AUDIT_KEY_CHARS} characters")
        return key.encode("utf-8")

    def checkpoint(self, seq: int, digest: str) -> None:
        """Record the newest entry outside the database, in the file and in the log stream."""
        log.info("audit head seq=%d hash=%s", seq, digest)
        append_private_line(self.checkpoint_path, json.dumps({"seq": seq, "hash": digest}))

    def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint written here (empty when there is no file). A line that is not a
        checkpoint is kept as seq 0 so that verification reports it."""
        try:
            lines = self.checkpoint_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        found = []
        for line in lines:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                found.append(Checkpoint(int(record["seq"]), str(record["hash"])))
            except (ValueError, KeyError, TypeError):
                found.append(Checkpoint(0, line[:100]))
        return found
