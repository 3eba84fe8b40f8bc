"""The built wheel is the deployable (issue 20, item 1): in a fresh virtualenv, with only the runtime
lock's versions, outside the checkout, `switchyard demo` runs the whole thing — so the wheel holds
every module and data file (price table, migrations, dashboard assets) the services need. These are
the Dockerfile's build steps, run on this machine (the image itself: test_image.py).

Slow (about a minute and a half: an install from pip's cache and a 20 s demo with no history)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.lockfiles import ROOT, RUNTIME_LOCK

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _run(args: list[str], cwd: Path, timeout: float = 600) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["COLUMNS"] = "200"
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)} → {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def test_the_wheel_runs_the_demo_in_a_fresh_venv_outside_the_checkout(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path / "dist"),
          str(ROOT)], cwd=outside)
    [wheel] = (tmp_path / "dist").glob("switchyard-*.whl")

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=outside)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    _run([*pip, "install", "--quiet", "--require-hashes", "--only-binary=:all:", "-r", str(RUNTIME_LOCK)], cwd=outside)
    _run([*pip, "install", "--quiet", "--no-deps", str(wheel)], cwd=outside)
    _run([*pip, "check"], cwd=outside)
    # the code that runs is the wheel's, not the checkout's
    where = _run([str(venv / "bin" / "python"), "-c", "import core, switchyard; print(core.__file__)"], cwd=outside)
    assert str(venv) in where and str(ROOT) not in where

    output = _run([str(venv / "bin" / "switchyard"), "demo", "--no-live", "--duration", "20", "--history-days", "0",
                   "--developers", "2", "--data-dir", str(tmp_path / "data")], cwd=outside)
    finished = re.search(r"demo finished: (\d+) turns, 0 errors", output)
    assert finished and int(finished[1]) > 0, output[-3000:]
