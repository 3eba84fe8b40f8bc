"""The real Claude Code CLI, signed in to switchyard with ``/login``, fetches its managed settings from
the gateway and takes them: the default document turns on the routing hint headers, which its model
requests then carry, with the checksum of the settings it applied — ours, to the byte.

(The pinned CLI, 2.1.330, signed in to a gateway, fetched unconditionally at every start: it sent no
If-None-Match, so the 304 path is tested over loopback with the header its code sends, in
tests/proxy/test_managed_settings.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.policy.managed_settings import DEFAULT_SETTINGS, checksum
from store.testing import migrated_sqlite_url
from tests.e2e.claude_cli import require_claude, run_claude
from tests.e2e.claude_login import interactive_env, login_command, prepare_home, run_login
from tests.e2e.terminal import Terminal
from tests.loopback import wait_until
from tests.signin.harness import signin_gateway

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _answers(app: object, status: int) -> float:
    registry = app.metrics.registry  # type: ignore[attr-defined]
    return registry.get_sample_value("switchyard_managed_settings_total", {"status": str(status)}) or 0.0


def test_the_cli_takes_its_managed_settings_from_the_gateway(tmp_path: Path) -> None:
    binary = require_claude()
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    prepare_home(home, work)
    with signin_gateway(tmp_path / "gateway", migrated_sqlite_url(tmp_path)) as gateway:
        terminal = Terminal(login_command(binary, home, tmp_path, gateway.url, "user-settings"),
                            env=interactive_env(home), cwd=work)
        try:
            run_login(terminal, gateway, "alice", "alice-password")
            # once signed in, the CLI asks the gateway for its settings: the document, with its ETag
            wait_until(lambda: _answers(gateway.app, 200) >= 1, timeout=60, what="GET /managed/settings answered")
        finally:
            terminal.close()
        fetched = _answers(gateway.app, 200)

        run = run_claude("Say hello.", None, None, work, home=home)
        assert run.returncode == 0, run.describe()
        calls = [r for r in gateway.upstream.requests if r.path == "/v1/messages"]
        assert calls, "no model request reached the upstream"
        # the hint headers the default document switched on, and the checksum of what the CLI applied
        assert all(r.header("x-claude-code-request-class") for r in calls), [r.headers for r in calls]
        assert {r.header("x-claude-code-managed-settings-checksum") for r in calls} == {checksum(DEFAULT_SETTINGS)}
        assert _answers(gateway.app, 200) > fetched  # the new process asked for them again at its start
