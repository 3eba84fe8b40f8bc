"""The signing key set on disk: created on first start (mode 600 in a 700 directory), rotated in place
under an exclusive lock (several processes may share the file), replaced atomically so a reader
never sees half a file. The proxy reads the same file to verify (proxy/bearer.py)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

from core.identity.keyset import KeySet, keyset_document, keyset_from_document, new_signing_key, rotated


class KeysFileError(RuntimeError):
    """The key set file cannot be used; the message says why and where."""


def _check_private(path: Path) -> None:
    if path.stat().st_mode & 0o077:
        raise KeysFileError(f"{path} is readable by group or others; chmod 600 it (it holds signing keys)")


def read_keys(path: Path) -> KeySet:
    _check_private(path)
    try:
        return keyset_from_document(json.loads(path.read_bytes()))
    except (ValueError, UnicodeDecodeError) as error:
        raise KeysFileError(f"{path}: {error}") from error


def _write(path: Path, keyset: KeySet) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
        json.dump(keyset_document(keyset), handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with os.fdopen(os.open(path.with_name(path.name + ".lock"), os.O_WRONLY | os.O_CREAT, 0o600), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def load_or_create(path: Path, alg: str, now: int) -> KeySet:
    """The key set in ``path``, created first if there is none. An existing file is only read, so it
    may sit on a read-only volume (a mounted secret) when rotation is off."""
    if path.exists():
        return read_keys(path)
    with _locked(path):
        if not path.exists():
            _write(path, KeySet((new_signing_key(alg, now),)))
        return read_keys(path)


def rotate_if_due(path: Path, now: int, *, rotate_after_s: int, keep_retired_s: int) -> KeySet:
    """The key set after a rotation check, written back when it changed (under the lock, checked
    again there: another process may have rotated meanwhile). Nothing due: only read."""
    if rotated(read_keys(path), now, rotate_after_s=rotate_after_s, keep_retired_s=keep_retired_s) is None:
        return read_keys(path)
    with _locked(path):
        keyset = read_keys(path)
        changed = rotated(keyset, now, rotate_after_s=rotate_after_s, keep_retired_s=keep_retired_s)
        if changed is not None:
            _write(path, changed)
            keyset = changed
        return keyset
