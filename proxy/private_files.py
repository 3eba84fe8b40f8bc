"""Files the proxy writes (the turn journal, dead letters) readable by its own user only, whatever
the umask: they hold developers' prompts' metadata and ids. (store.private_files does the same for
the database side; the proxy never imports store.)"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO


def private_dir(path: Path) -> None:
    """Create ``path`` (and parents) with mode 700; an existing directory keeps its mode."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def open_private(path: Path) -> BinaryIO:
    """``path`` opened for appending, created with mode 600."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")


def write_private(path: Path, data: bytes) -> None:
    """``path`` replaced by ``data``, created with mode 600."""
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
        handle.write(data)
