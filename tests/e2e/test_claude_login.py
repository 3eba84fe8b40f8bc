"""The real Claude Code CLI signs in to switchyard with ``/login`` (the device flow through the test
IdP), then completes an agentic tool loop through the proxy with the bearer it got, and signs out
with ``/logout``, which revokes its tokens."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest
from sqlalchemy import select

from sim.agent_script import FINAL_TEXT
from store.schema import signin_device_grants, signin_refresh_tokens
from store.testing import migrated_sqlite_url
from tests.conftest import require_or_skip
from tests.e2e.claude_cli import require_claude, run_claude
from tests.e2e.claude_login import interactive_env, login_command, overlay_works, prepare_home, run_login, run_logout
from tests.e2e.terminal import Terminal
from tests.gateway import PROVIDER_KEY
from tests.loopback import wait_until
from tests.signin.harness import signin_gateway

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.parametrize("via", ["user-settings", "managed-settings"])
def test_login_then_the_agentic_loop_with_the_bearer_then_logout(tmp_path: Path, via: str) -> None:
    binary = require_claude()
    if via == "managed-settings":
        require_or_skip(overlay_works(tmp_path), "giving the CLI a managed-settings file without touching the "
                                                 "host needs root, unshare and overlayfs")
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    prepare_home(home, work)
    with signin_gateway(tmp_path / "gateway", migrated_sqlite_url(tmp_path)) as gateway:
        terminal = Terminal(login_command(binary, home, tmp_path, gateway.url, via), env=interactive_env(home),
                            cwd=work)
        try:
            run_login(terminal, gateway, "alice", "alice-password")
            credentials = json.loads((home / ".claude" / ".credentials.json").read_text())["enterpriseGateway"]
            assert credentials["url"] == gateway.url
            bearer = credentials["jwt"]
            claims = jwt.decode(bearer, options={"verify_signature": False})
            assert (claims["developer"], claims["groups"]) == ("alice@example.com", ["platform", "claude-users"])
            engine = gateway.signin.ctx.engine
            with engine.connect() as connection:  # what the CLI sent when it asked for its code
                assert connection.execute(select(signin_device_grants.c.surface)).scalar_one() == "claude_code"

            # The agentic loop, non-interactive, with nothing but the sign-in in HOME: no
            # ANTHROPIC_BASE_URL, no key. The file is written by the CLI's own Write tool.
            target = work / "hello.txt"
            run = run_claude(f"Please create the file. [[sim:write {target} héllo-wörld-✓]]", None, None, work,
                             home=home)
            assert run.returncode == 0, run.describe()
            assert target.read_text(encoding="utf-8") == "héllo-wörld-✓"
            assert run.final_text is not None and FINAL_TEXT in run.final_text
            calls = [r for r in gateway.upstream.requests if r.path == "/v1/messages"]
            assert len(calls) >= 2
            assert all(r.header("x-api-key") == PROVIDER_KEY and bearer not in str(r.headers) for r in calls)
            turns = gateway.receiver.wait_for_turns(len(calls))
            assert {(t.developer, t.team) for t in turns} == {("alice@example.com", "platform")}
            assert gateway.messages(bearer).status_code == 200

            # /logout: the CLI revokes its bearer and its refresh token (RFC 7009); both stop working.
            run_logout(terminal)
            wait_until(lambda: gateway.messages(bearer).status_code == 401, timeout=30, what="the bearer revoked")
            # the refresh token's revocation is a request of its own, which may land a moment later

            def refresh_states() -> set[str]:
                with engine.connect() as connection:
                    return set(connection.execute(select(signin_refresh_tokens.c.state)).scalars())

            wait_until(lambda: refresh_states() == {"revoked"}, timeout=30, what="the refresh token revoked")
        finally:
            terminal.close()
