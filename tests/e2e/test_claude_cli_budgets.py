"""What the real Claude Code CLI (2.1.330) shows of a budget, through switchyard.

Found with these tests, and written up in docs/identity.md:

* signed in with ``/login`` (a gateway bearer): past 75 % and 95 % the notice "You've used NN% of
  your usage credits · resets <date>" under the answer; ``/usage`` shows a "Spend limit" bar and
  "$96.14 / $100.0 spent this month" (from ``GET /api/oauth/usage``); at the cap, the 429's message;
* a virtual key (``ANTHROPIC_BASE_URL`` + ``ANTHROPIC_AUTH_TOKEN``): no notice and no spend limit
  in ``/usage`` (the CLI reads those only for a gateway sign-in), and at the cap the 429's message
  behind "API Error: Request rejected (429) ·", once: ``x-should-retry: false`` stops its retries.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import yaml

from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from store.testing import migrated_sqlite_url
from tests.e2e.claude_cli import require_claude, run_claude
from tests.e2e.claude_login import SETTLE_S, interactive_env, login_command, prepare_home, run_login
from tests.e2e.terminal import Terminal
from tests.gateway import PROVIDER_KEY
from tests.proxy.group_gateway import group_gateway, policy
from tests.signin.harness import SigninGateway, signin_gateway

pytestmark = pytest.mark.e2e

CAP_MESSAGE = re.compile(r"Your monthly spend limit of \$100\.00 is reached \(\$100\.00 spent\); it resets "
                         r"\w{3} \d\d \w{3} 00:00 UTC, so wait until then or ask an admin to raise it\.")


def _refused(url: str) -> float:
    """How many requests the proxy itself answered with a 429 (its /metrics counter)."""
    for line in httpx.get(url + "/metrics", timeout=10).text.splitlines():
        if line.startswith('switchyard_proxy_requests_total{code="429",origin="proxy"}'):
            return float(line.split()[-1])
    return 0.0


def test_a_virtual_key_client_prints_the_cap_message_once(tmp_path: Path, receiver) -> None:
    require_claude()
    work = tmp_path / "work"
    work.mkdir()
    with FakeUpstream(UpstreamConfig(expected_api_key=PROVIDER_KEY)) as upstream:
        document = policy(upstream, budgets=[{"scope": "developer", "name": "*", "monthly_usd": "100", "hard": 1.0}])
        with group_gateway(tmp_path, upstream, receiver, document, now=datetime.now(UTC)) as gw:
            ledger = gw.gateway.app.ledger
            ledger.current()
            ledger.totals[(ledger.month, "developer", "alice")] = Decimal(100)
            run = run_claude("Say hello.", gw.url, gw.gateway.key, work, auth="bearer", max_turns=2)
            assert run.final_text is not None, run.describe()
            assert run.final_text.startswith("API Error: Request rejected (429) · "), run.final_text
            assert CAP_MESSAGE.search(run.final_text), run.final_text
            assert _refused(gw.url) == 1  # not retried
            assert not [r for r in upstream.requests if r.path == "/v1/messages"]


def _budget_policy(tmp_path: Path):  # type: ignore[no-untyped-def]
    def settings(upstream: FakeUpstream) -> dict[str, object]:
        path = tmp_path / "policy.yaml"
        path.write_text(yaml.safe_dump({
            "version": "budgets", "targets": [{"name": "up", "base_url": upstream.base_url}],
            "default": {"route": ["up"]},
            "budgets": [{"scope": "developer", "name": "*", "monthly_usd": "100", "hard": 1.0}]}))
        return {"policy_file": path, "allowed_upstreams": [upstream.base_url]}
    return settings


def _spend(gateway: SigninGateway, developer: str, usd: str) -> None:
    ledger = gateway.app.ledger
    ledger.current()
    ledger.totals[(ledger.month, "developer", developer)] = Decimal(usd)


def _ask(terminal: Terminal, prompt: str = "Say hello.") -> None:
    terminal.type(prompt)
    time.sleep(SETTLE_S)
    terminal.press("enter")


def _open_usage(terminal: Terminal) -> None:
    terminal.type("/usage")
    time.sleep(SETTLE_S)
    terminal.press("enter")


@pytest.mark.slow
def test_what_the_cli_shows_signed_in_and_with_a_virtual_key(tmp_path: Path) -> None:
    binary = require_claude()
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    prepare_home(home, work)
    with signin_gateway(tmp_path / "gateway", migrated_sqlite_url(tmp_path), proxy=_budget_policy(tmp_path)) as gw:
        terminal = Terminal(login_command(binary, home, tmp_path, gw.url, "user-settings"), env=interactive_env(home),
                            cwd=work)
        try:
            run_login(terminal, gw, "alice", "alice-password")
            _spend(gw, "alice@example.com", "96.14")
            # once the managed settings are approved the CLI restarts itself to apply them (else: "Login successful")
            terminal.wait_for(r"Login\s*successful|Restarting\s*Claude\s*Code")
            terminal.wait_for(r"Claude\s*Code\s*v\d")
            time.sleep(2 * SETTLE_S)  # the prompt takes keys a moment after the login screen closes
            _ask(terminal)
            terminal.wait_for(r"Simulated\s*coding\s*session", timeout=60)
            terminal.wait_for(r"You've used 96% of your usage credits · resets \w{3} 1, \d{4}", timeout=60)
            _open_usage(terminal)
            terminal.wait_for(r"Spend limit")
            terminal.wait_for(r"96%\s*used")
            terminal.wait_for(r"\$96\.\d\d\s*/\s*\$100\.0 spent this month")  # 96.14 and the turn
            terminal.press("escape")
            time.sleep(SETTLE_S)
            _spend(gw, "alice@example.com", "100")
            _ask(terminal, "Say hello again.")
            terminal.wait_for(CAP_MESSAGE.pattern.replace(" ", r"\s*"), timeout=60)
        finally:
            terminal.close()

        # A virtual key (no /login) to the same gateway: the same headers, none of it shown.
        plain_home = tmp_path / "plain-home"
        prepare_home(plain_home, work)
        env = interactive_env(plain_home) | {"ANTHROPIC_BASE_URL": gw.url, "ANTHROPIC_AUTH_TOKEN": gw.virtual_key}
        _spend(gw, "ci-bot", "96.14")
        plain = Terminal([str(binary)], env=env, cwd=work)
        try:
            plain.wait_for(r"/effort|for shortcuts|auto mode", timeout=60)
            time.sleep(SETTLE_S)
            answered = len([r for r in gw.upstream.requests if r.path == "/v1/messages"])
            _ask(plain)
            plain.wait_for(r"Simulated\s*coding\s*session", timeout=60)
            sent = [r for r in gw.upstream.requests if r.path == "/v1/messages"][answered:]
            assert sent, "the virtual key's turn never reached the upstream"
            _open_usage(plain)
            plain.wait_for(r"Session")
            plain.wait_for(r"Usage by model")
            shown = plain.text()
            assert "You've used" not in shown and "Spend limit" not in shown, shown[-2000:]
        finally:
            plain.close()
