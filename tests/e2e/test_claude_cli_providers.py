"""The real Claude Code CLI through switchyard to other providers of Claude: CLI → proxy → the fake
Bedrock or the fake Vertex AI (each checking what the real service checks). The agentic tool loop must
work as it does against Anthropic, and a 529 wall at Anthropic mid-session must fall over to Bedrock
without the CLI noticing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from core.price_memo import PriceMemo, turn_day, turn_usage
from core.pricing import builtin_price_table
from sim.agent_script import FINAL_TEXT
from sim.assemble import assemble_content
from sim.bedrock import FakeBedrock
from sim.bedrock_config import BedrockConfig
from sim.fake_credentials import (
    TEST_AWS_ACCESS_KEY_ID,
    TEST_AWS_SECRET_ACCESS_KEY,
    TEST_VERTEX_ACCESS_TOKEN,
    TEST_VERTEX_PROJECT,
    TEST_VERTEX_REGION,
)
from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from sim.vertex import FakeVertex
from sim.vertex_config import VertexConfig
from tests.e2e.claude_cli import require_claude, run_claude
from tests.gateway import PROVIDER_KEY, Gateway, make_gateway

pytestmark = pytest.mark.e2e

PACED = UpstreamConfig(event_interval_s=0.03, text_deltas=8)
BEDROCK_MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
VERTEX_MODEL = "claude-sonnet-4-5@20250929"


class _Event:
    def __init__(self, payload: dict[str, Any]) -> None:
        self.event = payload["type"]
        self.data = orjson.dumps(payload).decode()


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", TEST_AWS_ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TEST_AWS_SECRET_ACCESS_KEY)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _gateway(tmp_path: Path, anthropic: FakeUpstream, bedrock: FakeBedrock, vertex: FakeVertex, receiver,
             route: list[str]) -> Iterator[Gateway]:
    policy = {
        "version": "v1",
        "targets": [
            {"name": "anthropic", "base_url": anthropic.base_url},
            {"name": "bedrock", "provider": "bedrock", "base_url": bedrock.base_url, "region": "us-east-1",
             "model": BEDROCK_MODEL},
            {"name": "vertex", "provider": "vertex", "base_url": vertex.base_url, "region": TEST_VERTEX_REGION,
             "project": TEST_VERTEX_PROJECT, "model": VERTEX_MODEL, "auth": "bearer", "provider_key": "vertex"},
        ],
        "default": {"route": route},
        "fallback": {"cooldown_s": 60},
    }
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(policy))
    yield from make_gateway(tmp_path, anthropic, receiver, policy_file=tmp_path / "policy.yaml",
                            allowed_upstreams=sorted({t["base_url"] for t in policy["targets"]}),
                            provider_keys={"vertex": TEST_VERTEX_ACCESS_TOKEN})


def _check_the_loop(run, target: Path, main_calls: list, expected_text: str) -> dict[str, Any]:
    """The tool ran; the thinking and tool_use blocks the CLI received went back identical; the
    tool_result names the tool_use; the multi-byte final text arrived intact and delta by delta."""
    assert run.returncode == 0, run.describe()
    assert target.read_text(encoding="utf-8") == expected_text
    streamed = [_Event(line.event["event"]) for line in run.stream_events()]
    first_stop = next(i for i, e in enumerate(streamed) if e.event == "message_stop")
    first_answer = assemble_content(streamed[: first_stop + 1])
    second = main_calls[-1].json()
    echoed = [m for m in second["messages"] if m["role"] == "assistant"][-1]["content"]
    kept = ("thinking", "tool_use")
    assert [b["type"] for b in first_answer if b["type"] in kept] == ["thinking", "tool_use"]
    assert [b for b in echoed if b["type"] in kept] == [b for b in first_answer if b["type"] in kept]
    tool_use = next(b for b in first_answer if b["type"] == "tool_use")
    results = [b for m in second["messages"] if m["role"] == "user" and isinstance(m["content"], list)
               for b in m["content"] if b.get("type") == "tool_result"]
    assert [r["tool_use_id"] for r in results] == [tool_use["id"]]
    assert run.final_text is not None and FINAL_TEXT in run.final_text
    deltas = run.text_deltas()
    last = [d for d in deltas if d.at >= deltas[-1].at - 2]
    assert len(last) >= 4 and last[-1].at - last[0].at >= 0.03 * 3
    return {"streamed": streamed, "tool_use": tool_use}


@pytest.mark.parametrize("provider", ["bedrock", "vertex"])
def test_the_agentic_loop_through_the_proxy_to_another_provider(
        tmp_path: Path, receiver, aws_environment, provider: str) -> None:
    require_claude()
    work = tmp_path / "work"
    work.mkdir()
    target = work / "hello.txt"
    with FakeUpstream(UpstreamConfig(expected_api_key=PROVIDER_KEY)) as anthropic, \
            FakeBedrock(BedrockConfig(pacing=PACED)) as bedrock, FakeVertex(VertexConfig(pacing=PACED)) as vertex:
        for gateway in _gateway(tmp_path, anthropic, bedrock, vertex, receiver, [provider]):
            run = run_claude(f"Please create the file. [[sim:write {target} héllo-wörld-✓]]", gateway.url,
                             gateway.key, work, extra_env={"CLAUDE_CODE_GATEWAY_HINT_HEADERS": "1"})
            fake = bedrock if provider == "bedrock" else vertex
            main_calls = [r for r in fake.requests if b"sim:write" in r.body]
            seen = _check_the_loop(run, target, main_calls, "héllo-wörld-✓")
            assert anthropic.requests == []  # nothing went to Anthropic
            if provider == "bedrock":
                assert main_calls[0].path.startswith("/model/us.anthropic.claude-sonnet-4-5")
                assert main_calls[0].header("authorization").startswith("AWS4-HMAC-SHA256 ")
            else:
                assert main_calls[0].path.endswith(f"/models/{VERTEX_MODEL}:streamRawPredict")
            # spans: provider, region, the tokens the provider reported, and its regional price
            turns = gateway.receiver.wait_for_turns(2)
            by_response = {t.response_id: t for t in turns}
            memo, table = PriceMemo(builtin_price_table()), builtin_price_table()
            for start in (e for e in seen["streamed"] if e.event == "message_start"):
                message = orjson.loads(start.data)["message"]
                turn = by_response[message["id"]]
                assert turn.provider == provider and turn.target == provider
                assert turn.region == ("us-east-1" if provider == "bedrock" else TEST_VERTEX_REGION)
                assert turn.input_tokens == message["usage"]["input_tokens"]
                assert turn.output_tokens > 0 and turn.session_id == run.session_id
                cost = memo.cost_of_turn(turn)
                assert cost.price_id == "regional-claude-sonnet-4-5"
                listed = table.cost("claude-sonnet-4-5", turn_usage(turn), turn_day(turn.start_ns))
                assert cost.usd > listed.usd  # the regional premium


def test_a_529_wall_at_anthropic_mid_session_falls_over_to_bedrock(tmp_path: Path, receiver, aws_environment) -> None:
    require_claude()
    work = tmp_path / "work"
    work.mkdir()
    target = work / "fallback.txt"
    with FakeUpstream(UpstreamConfig(expected_api_key=PROVIDER_KEY, event_interval_s=0.03, text_deltas=8)) \
            as anthropic, FakeBedrock(BedrockConfig(pacing=PACED)) as bedrock, \
            FakeVertex(VertexConfig(pacing=PACED)) as vertex:
        for gateway in _gateway(tmp_path, anthropic, bedrock, vertex, receiver, ["anthropic", "bedrock"]):
            # the wall goes up as soon as Anthropic has answered the loop's first call
            stop = threading.Event()

            def raise_the_wall(stop: threading.Event = stop) -> None:
                while not stop.wait(0.005):
                    if any(b"sim:write" in r.body for r in anthropic.requests):
                        anthropic.inject("529", times=1000)
                        return

            watcher = threading.Thread(target=raise_the_wall, daemon=True)
            watcher.start()
            try:
                run = run_claude(f"Please create the file. [[sim:write {target} über-✓-日本]]", gateway.url,
                                 gateway.key, work)
            finally:
                stop.set()
                watcher.join()
            first = [r for r in anthropic.requests if b"sim:write" in r.body]
            after = [r for r in bedrock.requests if b"sim:write" in r.body]
            assert len(first) >= 1 and len(after) >= 1
            _check_the_loop(run, target, [*first, *after], "über-✓-日本")
            turns = gateway.receiver.wait_for_turns(2)
            fell = [t for t in turns if t.provider == "bedrock"]
            assert fell and fell[0].served_model == BEDROCK_MODEL
            # the decided target is the first hop either way: it answered 529, or its circuit was open
            assert fell[0].fallback_hops in (("anthropic:529", "bedrock:200"),
                                             ("anthropic:breaker_open", "bedrock:200"))
            assert any(t.provider == "anthropic" and t.status_code == 200 for t in turns)
