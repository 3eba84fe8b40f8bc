"""The virtual-key file: hashed key records as JSON, written atomically with owner-only permissions.

The proxy reads it at start-up and again whenever its modification time changes, so a key created
or revoked with `switchyard keys` takes effect within one reload interval, without a restart.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import orjson

from core.keys import KeyRing

from .private_files import private_dir


class KeyFileError(ValueError):
    """The keys file exists but cannot be used; the message says why."""


def load_keyring(path: Path) -> KeyRing:
    """The key ring in ``path``; an empty ring when the file does not exist yet."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return KeyRing()
    try:
        return KeyRing.from_document(orjson.loads(raw))
    except ValueError as exc:  # orjson.JSONDecodeError is a ValueError
        raise KeyFileError(f"{path}: not a switchyard keys file ({exc})") from exc


def save_keyring(path: Path, ring: KeyRing) -> None:
    """Replace ``path`` atomically (write a temporary file, then rename) with mode 0600."""
    private_dir(path.parent)
    payload = orjson.dumps({"keys": [r.to_dict() for r in ring.records()]}, option=orjson.OPT_INDENT_2)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".keys-", suffix=".json")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def modification_stamp(path: Path) -> tuple[int, int] | None:
    """What changes when the file does: (mtime in ns, size); None when absent."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_mtime_ns, stat.st_size
