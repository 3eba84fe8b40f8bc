"""The signing keys on disk: created private, refused when others can read them, rotated by whichever
process gets there first (the others then only read), usable from a read-only volume."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from signin.keys_file import KeysFileError, load_or_create, read_keys, rotate_if_due

DAY = 86400


def test_created_private_and_refused_when_others_can_read_it(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signin-keys.json"
    keyset = load_or_create(path, "ES256", 1000)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_or_create(path, "RS256", 2000).current.kid == keyset.current.kid  # only created once
    os.chmod(path, 0o640)
    with pytest.raises(KeysFileError, match="chmod 600"):
        read_keys(path)


def test_one_rotation_however_many_processes_check(tmp_path: Path) -> None:
    path = tmp_path / "signin-keys.json"
    first = load_or_create(path, "ES256", 0)
    a = rotate_if_due(path, 31 * DAY, rotate_after_s=30 * DAY, keep_retired_s=3600)
    b = rotate_if_due(path, 31 * DAY, rotate_after_s=30 * DAY, keep_retired_s=3600)  # a second process
    assert a.current.kid == b.current.kid != first.current.kid and len(b.keys) == 2


def test_a_key_file_is_only_read_when_nothing_is_due(tmp_path: Path) -> None:
    """So it can sit on a read-only volume (a mounted secret): no lock file, no rewrite."""
    made = load_or_create(tmp_path / "made" / "signin-keys.json", "ES256", 0)
    secret = tmp_path / "secret"
    secret.mkdir()
    path = secret / "signin-keys.json"
    path.write_bytes((tmp_path / "made" / "signin-keys.json").read_bytes())
    os.chmod(path, 0o400)
    before = path.stat().st_mtime_ns
    assert load_or_create(path, "ES256", 10).current.kid == made.current.kid
    assert rotate_if_due(path, 10, rotate_after_s=0, keep_retired_s=3600).current.kid == made.current.kid
    assert sorted(p.name for p in secret.iterdir()) == ["signin-keys.json"] and path.stat().st_mtime_ns == before
