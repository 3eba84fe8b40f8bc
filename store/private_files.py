"""Owner-only files and directories, whatever the umask: the data directory is created 0700 and
every file switchyard writes into it (database, key, checkpoint) is 0600."""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) 0700. A directory that already exists is left as it is:
    it may be shared (``/tmp``) or set up by the operator on purpose."""
    if path.is_dir():
        return
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)  # mkdir's mode is filtered by the umask


def private_file(path: Path) -> None:
    """Make sure ``path`` exists, created 0600. An existing file of ours loses any access for others
    (the group's is left alone: sharing a database with a group is a deliberate choice)."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        narrow_for_others(path)
        return
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def narrow_for_others(path: Path) -> None:
    """Take away others' access to ``path`` when it is ours (someone else's file is theirs to set)."""
    status = path.stat()
    if status.st_uid == os.geteuid() and status.st_mode & 0o007:
        os.chmod(path, status.st_mode & 0o770)


def append_private_line(path: Path, line: str) -> None:
    """Append one line to ``path`` (created 0600). O_APPEND keeps concurrent writers' lines whole."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        os.write(fd, (line.rstrip("\n") + "\n").encode("utf-8"))
    finally:
        os.close(fd)


def create_private_exclusive(path: Path, content: str) -> bool:
    """Write ``content`` to a new ``path`` (0600); False when the file already exists."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, FILE_MODE)
        os.write(fd, content.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return True
