"""The project's shape is checked like its behaviour: import rules, lint, strict types on core."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_import_contracts_hold() -> None:
    result = _run(str(BIN / "lint-imports"), "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean() -> None:
    result = _run(str(BIN / "ruff"), "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_is_strictly_typed() -> None:
    result = _run(str(BIN / "mypy"), "core")
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_module_over_the_size_limit() -> None:
    too_long = []
    for package in ("core", "store", "ingest", "proxy", "serving", "signin", "sim", "switchyard", "evals",
                    "optimizer", "dashboard"):
        for path in (ROOT / package).rglob("*.py") if (ROOT / package).exists() else ():
            if "migrations" not in path.parts and len(path.read_text().splitlines()) > 500:
                too_long.append(str(path.relative_to(ROOT)))
    assert too_long == []
