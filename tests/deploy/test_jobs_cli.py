"""`switchyard jobs`, the loop's scheduled jobs as a process of their own (the compose file's and the
Kubernetes manifests' `jobs` role): one round on demand, a failure reported in the exit code, and
SIGTERM (docker stop, a pod's termination) ending the loop between rounds."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from store.engine import default_database_url
from store.migrate import upgrade
from switchyard.cli import app
from switchyard.demo import prepare_store


def test_one_round_on_a_store_with_an_active_policy_succeeds(tmp_path: Path) -> None:
    prepare_store(default_database_url(tmp_path), "http://127.0.0.1:9")
    result = CliRunner().invoke(app, ["jobs", "--once", "--data-dir", str(tmp_path)], env={"DATABASE_URL": ""})
    assert result.exit_code == 0, result.output
    assert "jobs: 0 turns scored" in result.output and "errors" not in result.output


def test_a_failed_job_is_reported_in_the_exit_code(tmp_path: Path) -> None:
    upgrade(default_database_url(tmp_path))  # a schema, but no active policy to improve on
    result = CliRunner().invoke(app, ["jobs", "--once", "--data-dir", str(tmp_path)], env={"DATABASE_URL": ""})
    assert result.exit_code == 1
    assert "no active policy" in result.output


def test_sigterm_ends_the_loop(tmp_path: Path) -> None:
    prepare_store(default_database_url(tmp_path), "http://127.0.0.1:9")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    process = subprocess.Popen([sys.executable, "-m", "switchyard", "jobs", "--every", "1000", "--data-dir",
                                str(tmp_path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        # started (its SIGTERM handler in place) and waiting for its first round; a loaded machine
        # takes seconds to import the services, so wait for the line, not a fixed time
        deadline, seen = time.monotonic() + 60, b""
        while b"SIGTERM or Ctrl-C ends the loop" not in seen:
            assert process.poll() is None and time.monotonic() < deadline, seen.decode()
            if select.select([process.stdout], [], [], 0.5)[0]:
                seen += process.stdout.readline()  # type: ignore[union-attr]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()  # type: ignore[union-attr]
