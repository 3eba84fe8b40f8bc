"""Reading pyproject.toml's requirements and the lock files (requirements/*.txt) for the tests."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_LOCK = ROOT / "requirements" / "runtime.txt"
DEV_LOCK = ROOT / "requirements" / "dev.txt"
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)"
                  r"\s*(?:;\s*(?P<marker>[^\\]+?))?\s*\\?$")


def project() -> dict:  # type: ignore[type-arg]
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]  # type: ignore[no-any-return]


def requirements(extra: str | None = None) -> list[Requirement]:
    meta = project()
    listed = meta["dependencies"] if extra is None else meta["optional-dependencies"][extra]
    return [Requirement(line) for line in listed]


def pins(lock: Path) -> dict[str, list[tuple[Version, Marker | None]]]:
    """name → the versions pinned (several when a marker forks them, e.g. by Python version)."""
    found: dict[str, list[tuple[Version, Marker | None]]] = {}
    for line in lock.read_text().splitlines():
        match = _PIN.match(line)
        if match:
            marker = Marker(match["marker"]) if match["marker"] else None
            found.setdefault(canonicalize_name(match["name"]), []).append((Version(match["version"]), marker))
    return found


def pinned_here(lock: Path) -> dict[str, Version]:
    """name → the version this interpreter and platform install from the lock."""
    return {name: version for name, entries in pins(lock).items() for version, marker in entries
            if marker is None or marker.evaluate()}
