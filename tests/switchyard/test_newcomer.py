"""The README's first command, run the way a newcomer runs it: in a fresh copy of the project with
no virtualenv, `make demo` creates one, installs the project from pyproject.toml and runs the demo
(bounded by --duration). The whole loop must show: turns stored, scored, failures clustered and a
proposed policy diff waiting for approval. (The second command, `make test`, is what .ci/run runs.)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from sqlalchemy import func, select

from tests.conftest import require_or_skip

ROOT = Path(__file__).resolve().parents[2]


def _fresh_copy(destination: Path) -> None:
    """What a clone of this working tree holds: tracked files and new ones git does not ignore."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def test_readme_names_the_two_commands_near_the_top() -> None:
    top = "\n".join((ROOT / "README.md").read_text().splitlines()[:30])
    assert re.search(r"^make demo\b", top, re.MULTILINE) and re.search(r"^make test\b", top, re.MULTILINE)


def test_make_demo_in_a_fresh_copy_shows_the_whole_loop(tmp_path: Path) -> None:
    require_or_skip(shutil.which("make") is not None and shutil.which("git") is not None and (ROOT / ".git").exists(),
                    "needs make, git and a git checkout")
    project = tmp_path / "switchyard"
    _fresh_copy(project)
    assert not (project / ".venv").exists()
    data = tmp_path / "demo-data"
    env = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["COLUMNS"] = "200"
    run = subprocess.run(["make", "demo", f"DEMO_ARGS=--no-live --duration 45 --data-dir {data}"], cwd=project,
                         env=env, capture_output=True, text=True, timeout=900)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert (project / ".venv" / "bin" / "switchyard").exists()
    assert "export ANTHROPIC_BASE_URL=http://127.0.0.1:" in output
    assert "export ANTHROPIC_AUTH_TOKEN=sk-sy-" in output
    assert re.search(r"demo finished: \d+ turns, 0 errors", output), output[-2000:]

    from store.engine import default_database_url, make_engine
    from store.schema import failure_clusters, policy_proposals, scores, turns

    engine = make_engine(default_database_url(data))
    try:
        with engine.connect() as connection:
            count = {table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
                     for table in (turns, scores, failure_clusters)}
            pending = connection.execute(select(func.count()).select_from(policy_proposals)
                                         .where(policy_proposals.c.status == "proposed")).scalar_one()
    finally:
        engine.dispose()
    assert count["turns"] > 1_000 and count["scores"] > count["turns"]  # every turn, several evaluators
    assert count["failure_clusters"] >= 3
    assert pending == 1, "the demo leaves a proposed policy diff to approve"
