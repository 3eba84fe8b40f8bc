"""The egress secret guardrail with the real Claude Code CLI (issue 21, "Done when"): CLI → a
recording tap → the proxy (guardrails: block) → the fake upstream.

- A prompt holding a planted key: the CLI gets the block message and no request carrying the key
  (the CLI's main request, its side requests) reaches the upstream.
- A key a tool read (`cat .env` through Bash): the request carrying its output is refused, the key
  never leaves, and the developer is told where it is.
- The same session without the secret passes untouched: every request body the upstream got is
  byte for byte one the CLI sent (the tap recorded what the CLI sent).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from tests.e2e.claude_cli import ClaudeRun, require_claude, run_claude
from tests.e2e.recording_relay import RecordingRelay, recording_relay
from tests.gateway import PROVIDER_KEY, Gateway, make_gateway
from tests.otlp_receiver import OtlpReceiver

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Planted, built at run time: no key-shaped literal sits in this file.
GITHUB_KEY = "ghp_" + "Vb7Rk2Lq9Xz4Wm8Tn3Pc6Hd1Fj5Gs0Ya2Uex"
AWS_SECRET = "wJ8rXUtnFEMI" + "K7MDENGbPxRfiCYzb9Kq3Vt2Lm4N"
BLOCKED = "Request blocked by the gateway's secret guardrail"


@pytest.fixture
def gateway(tmp_path: Path, receiver: tuple[OtlpReceiver, str]) -> Iterator[tuple[Gateway, RecordingRelay, str]]:
    require_claude()
    config = UpstreamConfig(expected_api_key=PROVIDER_KEY, event_interval_s=0.01, text_deltas=4)
    with FakeUpstream(config) as fake:
        policy_file = tmp_path / "policy.yaml"
        policy_file.write_text(yaml.safe_dump({
            "version": "guarded", "targets": [{"name": "up", "base_url": fake.base_url}],
            "default": {"route": ["up"]}, "guardrails": {"secrets": "block"}}))
        for running in make_gateway(tmp_path, fake, receiver, policy_file=policy_file,
                                    guardrail_salt="e2e-guardrail-salt-0123456789"):
            with recording_relay(running.url) as (tap_url, tap):
                yield running, tap, tap_url


def _shown(run: ClaudeRun) -> str:
    """Everything the CLI put in front of the developer: its result and its stream."""
    return run.stderr + "\n".join(str(event) for event in run.events)


def _upstream_bodies(gateway: Gateway) -> list[bytes]:
    return [r.body for r in gateway.upstream.requests if r.path.startswith("/v1/messages")]


def test_a_prompt_with_a_key_is_blocked_and_nothing_carrying_it_reaches_the_upstream(
        tmp_path: Path, gateway: tuple[Gateway, RecordingRelay, str]) -> None:
    running, tap, tap_url = gateway
    run = run_claude(f"Why does this token fail? {GITHUB_KEY}", tap_url, running.key, tmp_path, timeout=90)
    shown = _shown(run)
    assert BLOCKED in shown and "a GitHub token in a text block" in shown, run.describe()
    assert run.duration < 60, run.describe()  # x-should-retry: false: no minutes of retries
    carrying = [(r, status) for r, status in tap.messages() if GITHUB_KEY.encode() in r.body]
    assert carrying and all(status == 400 for _, status in carrying)  # the CLI sent it; every one refused
    assert not any(GITHUB_KEY.encode() in body for body in _upstream_bodies(running))
    turns = running.receiver.wait_for_turns(1)
    assert "blocked" in {t.guardrail for t in turns}
    assert all(GITHUB_KEY not in repr(t) for t in turns)


def test_a_key_a_tool_read_is_blocked_with_where_it_is(tmp_path: Path,
                                                      gateway: tuple[Gateway, RecordingRelay, str]) -> None:
    running, tap, tap_url = gateway
    (tmp_path / ".env").write_text(f"AWS_REGION=eu-west-1\nAWS_SECRET_ACCESS_KEY={AWS_SECRET}\n")
    run = run_claude("Check the settings. [[sim:bash cat .env]]", tap_url, running.key, tmp_path, timeout=90,
                     extra_args=("--allowedTools", "Bash(cat:*)"))
    shown = _shown(run)
    assert BLOCKED in shown and "an AWS secret access key in a tool result" in shown, run.describe()
    sent = [r for r, _ in tap.messages()]
    assert any(AWS_SECRET.encode() in r.body for r in sent)  # the tool really ran and the CLI sent its output
    assert any(b"sim:bash" in body for body in _upstream_bodies(running))  # the first request went through
    assert not any(AWS_SECRET.encode() in body for body in _upstream_bodies(running))


def test_the_same_session_without_the_secret_passes_byte_for_byte(
        tmp_path: Path, gateway: tuple[Gateway, RecordingRelay, str]) -> None:
    running, tap, tap_url = gateway
    target = tmp_path / "notes.txt"
    run = run_claude(f"Why does this token fail? [[sim:write {target} no-secret-here-✓]]", tap_url, running.key,
                     tmp_path, timeout=90)
    assert run.returncode == 0, run.describe()
    assert target.read_text(encoding="utf-8") == "no-secret-here-✓"  # the tool loop ran to its end
    sent = [r.body for r, status in tap.messages() if status == 200]
    received = _upstream_bodies(running)
    assert len(received) >= 2 and sorted(received) == sorted(sent)  # every body untouched, none held back
    assert all(status == 200 for _, status in tap.messages())
    turns = running.receiver.wait_for_turns(len(received))
    assert {t.guardrail for t in turns} == {None}
