"""Turns through other providers of Claude, over loopback: the proxy in front of the fake Bedrock
(runtime and Mantle), the fake Vertex AI and the fake Anthropic, each fake checking what the real
service checks (SigV4 recomputed, URL shapes, betas and fields refused with the real texts)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import yaml

from core.sse import SSEParser
from sim.bedrock import FakeBedrock
from sim.bedrock_config import BedrockConfig
from sim.claude_shapes import build_headers, build_request_body, encode_body, make_session
from sim.fake_credentials import (
    TEST_AWS_ACCESS_KEY_ID,
    TEST_AWS_SECRET_ACCESS_KEY,
    TEST_BEDROCK_API_KEY,
    TEST_VERTEX_ACCESS_TOKEN,
    TEST_VERTEX_PROJECT,
    TEST_VERTEX_REGION,
)
from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from sim.vertex import FakeVertex
from sim.vertex_config import VertexConfig
from tests.gateway import PROVIDER_KEY, Gateway, make_gateway

BEDROCK_MODEL = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
VERTEX_MODEL = "claude-haiku-4-5@20251001"


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The standard AWS chain finds the fake's test credentials in the environment, nothing else."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", TEST_AWS_ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TEST_AWS_SECRET_ACCESS_KEY)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def fakes() -> Iterator[tuple[FakeUpstream, FakeBedrock, FakeVertex]]:
    instant = UpstreamConfig(event_interval_s=0.0)
    with FakeUpstream(UpstreamConfig(expected_api_key=PROVIDER_KEY)) as anthropic, \
            FakeBedrock(BedrockConfig(pacing=instant)) as bedrock, \
            FakeVertex(VertexConfig(pacing=instant)) as vertex:
        yield anthropic, bedrock, vertex


def _policy(anthropic: FakeUpstream, bedrock: FakeBedrock, vertex: FakeVertex, route: list[str],
            **fallback: object) -> dict:
    return {
        "version": "v1",
        "targets": [
            {"name": "anthropic", "base_url": anthropic.base_url, "tier": "haiku"},
            {"name": "bedrock", "provider": "bedrock", "base_url": bedrock.base_url, "region": "us-east-1",
             "model": BEDROCK_MODEL, "tier": "haiku"},
            {"name": "bedrock-key", "provider": "bedrock", "base_url": bedrock.base_url, "region": "us-east-1",
             "model": BEDROCK_MODEL, "auth": "bearer", "provider_key": "bedrock-api-key"},
            {"name": "mantle", "provider": "bedrock-mantle", "base_url": bedrock.mantle_base_url,
             "region": "us-east-1", "model": "anthropic.claude-haiku-4-5-20251001-v1:0", "auth": "bearer",
             "provider_key": "bedrock-api-key"},
            {"name": "vertex", "provider": "vertex", "base_url": vertex.base_url, "region": TEST_VERTEX_REGION,
             "project": TEST_VERTEX_PROJECT, "model": VERTEX_MODEL, "auth": "bearer", "provider_key": "vertex-token"},
        ],
        "default": {"route": route},
        "fallback": {"cooldown_s": 30, "max_hops": 3, **fallback},
    }


def _gateway(tmp_path: Path, fakes, receiver, route: list[str], **settings: object) -> Iterator[Gateway]:
    anthropic, bedrock, vertex = fakes
    policy = _policy(anthropic, bedrock, vertex, route)
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(policy))
    allowed = sorted({t["base_url"] for t in policy["targets"]})
    yield from make_gateway(tmp_path, anthropic, receiver, policy_file=tmp_path / "policy.yaml",
                            allowed_upstreams=allowed, provider_keys={
                                "bedrock-api-key": TEST_BEDROCK_API_KEY, "vertex-token": TEST_VERTEX_ACCESS_TOKEN},
                            **settings)


def _send(gateway: Gateway, seed: int = 1, stream: bool = True, path: str = "/v1/messages",
          **headers: str) -> httpx.Response:
    session = make_session(seed)
    sent = build_headers(session, api_key=gateway.key)
    sent.update(headers)
    body = build_request_body(seed, session=session, history_chars=2_000, model="claude-haiku-4-5-20251001")
    body["stream"] = stream
    return httpx.post(gateway.url + path, headers=sent, content=encode_body(body), timeout=30)


def _events(response: httpx.Response) -> list[tuple[str, dict]]:
    return [(e.event, orjson.loads(e.data)) for e in SSEParser().feed(response.content)]


@pytest.mark.parametrize("target", ["bedrock", "bedrock-key", "mantle", "vertex"])
def test_a_streamed_turn_through_each_provider_reads_like_anthropics(
        tmp_path, fakes, receiver, aws_environment, target) -> None:
    anthropic, bedrock, vertex = fakes
    for gateway in _gateway(tmp_path, fakes, receiver, [target]):
        response = _send(gateway)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _events(response)
        names = [name for name, _ in events]
        assert names[0] == "message_start" and names[-1] == "message_stop"
        assert "content_block_delta" in names
        assert anthropic.requests == []  # nothing went to Anthropic
        fake = vertex if target == "vertex" else bedrock
        sent = fake.requests[-1]
        if target in ("bedrock", "bedrock-key"):
            assert sent.path == "/model/us.anthropic.claude-haiku-4-5-20251001-v1%3A0/invoke-with-response-stream"
            assert "model" not in sent.json() and sent.json()["anthropic_version"] == "bedrock-2023-05-31"
        elif target == "vertex":
            assert sent.path.endswith(f"/models/{VERTEX_MODEL}:streamRawPredict")
        turn = gateway.receiver.wait_for_turns(1)[-1]
        assert turn.target == target and turn.provider == ("bedrock" if target == "bedrock-key" else
                                                           {"mantle": "bedrock-mantle"}.get(target, target))
        assert turn.status_code == 200 and turn.error_type is None
        assert turn.input_tokens > 0 and turn.output_tokens > 0
        # Claude Code's betas no provider takes were left out, and said so on the span
        assert any(d.startswith("beta:") for d in turn.dropped_capabilities), turn.dropped_capabilities


def test_provider_credentials_never_reach_the_client_or_the_span(tmp_path, fakes, receiver, aws_environment) -> None:
    for gateway in _gateway(tmp_path, fakes, receiver, ["vertex", "bedrock-key"]):
        fakes[2].inject("403")
        response = _send(gateway)
        turn = gateway.receiver.wait_for_turns(1)[-1]
        seen = response.text + repr(turn)
        for secret in (TEST_VERTEX_ACCESS_TOKEN, TEST_BEDROCK_API_KEY, TEST_AWS_SECRET_ACCESS_KEY, TEST_VERTEX_PROJECT):
            assert secret not in seen


def test_a_529_wall_at_anthropic_falls_over_to_bedrock_before_the_first_byte(
        tmp_path, fakes, receiver, aws_environment) -> None:
    anthropic, bedrock, _ = fakes
    for gateway in _gateway(tmp_path, fakes, receiver, ["anthropic", "bedrock"]):
        anthropic.inject("529")
        response = _send(gateway)
        assert response.status_code == 200
        assert response.headers["x-switchyard-fallback"] == "anthropic:529"
        assert len(bedrock.requests) == 1
        turn = gateway.receiver.wait_for_turns(1)[-1]
        assert turn.fallback_hops == ("anthropic:529", "bedrock:200")
        assert turn.provider == "bedrock" and turn.served_model == BEDROCK_MODEL
        assert turn.region == "us-east-1"


def test_a_throttling_frame_right_after_the_200_is_a_429_the_chain_falls_back_on(
        tmp_path, fakes, receiver, aws_environment) -> None:
    _, bedrock, vertex = fakes
    for gateway in _gateway(tmp_path, fakes, receiver, ["bedrock", "vertex"]):
        bedrock.inject("exception:throttlingException:0")
        response = _send(gateway)
        assert response.status_code == 200
        assert response.headers["x-switchyard-fallback"] == "bedrock:429"
        assert len(vertex.requests) == 1


def test_an_exception_frame_mid_stream_ends_it_with_an_anthropic_error_event(
        tmp_path, fakes, receiver, aws_environment) -> None:
    _, bedrock, _ = fakes
    for gateway in _gateway(tmp_path, fakes, receiver, ["bedrock"]):
        bedrock.inject("exception:modelStreamErrorException:3")
        response = _send(gateway)
        assert response.status_code == 200
        events = _events(response)
        assert events[-1][0] == "error" and events[-1][1]["error"]["type"] == "api_error"
        assert [name for name, _ in events][:1] == ["message_start"]
        turn = gateway.receiver.wait_for_turns(1)[-1]
        assert turn.error_type == "api_error"


def test_the_proxy_pings_while_bedrock_is_silent(tmp_path, fakes, receiver, aws_environment) -> None:
    _, bedrock, _ = fakes
    for gateway in _gateway(tmp_path, fakes, receiver, ["bedrock"], provider_ping_s=0.2):
        bedrock.inject("pause:1.2:2")
        response = _send(gateway)
        names = [name for name, _ in _events(response)]
        assert names.count("ping") >= 3
        assert names[0] == "message_start" and names[-1] == "message_stop"


def test_input_too_long_reaches_claude_code_word_for_word(tmp_path, fakes, receiver, aws_environment) -> None:
    _, bedrock, _ = fakes
    for gateway in _gateway(tmp_path, fakes, receiver, ["bedrock"]):
        bedrock.inject("too-long")
        response = _send(gateway)
        assert response.status_code == 400
        assert response.json()["error"] == {"type": "invalid_request_error",
                                             "message": "Input is too long for requested model."}


def test_count_tokens_goes_to_bedrocks_count_tokens_and_mantle_says_not_supported(
        tmp_path, fakes, receiver, aws_environment) -> None:
    _, bedrock, _ = fakes
    for gateway in _gateway(tmp_path, fakes, receiver, ["bedrock"]):
        counted = _send(gateway, stream=False, path="/v1/messages/count_tokens")
        assert counted.status_code == 200, counted.text
        assert counted.json()["input_tokens"] > 0
        assert bedrock.requests[-1].path == "/model/anthropic.claude-haiku-4-5-20251001-v1%3A0/count-tokens"
    for gateway in _gateway(tmp_path / "mantle", fakes, receiver, ["mantle"]):
        refused = _send(gateway, stream=False, path="/v1/messages/count_tokens")
        assert refused.status_code == 501 and refused.headers["x-should-retry"] == "false"


def test_a_non_streamed_turn_through_bedrock_is_anthropics_json(tmp_path, fakes, receiver, aws_environment) -> None:
    for gateway in _gateway(tmp_path, fakes, receiver, ["bedrock"]):
        response = _send(gateway, stream=False)
        assert response.status_code == 200 and response.json()["type"] == "message"
        assert fakes[1].requests[-1].path.endswith("/invoke")


def test_missing_aws_credentials_skip_the_target_and_never_crash(
        tmp_path, fakes, receiver, monkeypatch, caplog) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    _, bedrock, vertex = fakes
    for gateway in _gateway(tmp_path, fakes, receiver, ["bedrock", "vertex"]):
        response = _send(gateway)
        assert response.status_code == 200
        assert bedrock.requests == [] and len(vertex.requests) == 1
        # reported at start, and its circuit opened: the chain went straight to the next target
        assert "target bedrock is unhealthy: no AWS credentials" in caplog.text
        assert gateway.receiver.wait_for_turns(1)[-1].target == "vertex"
    for gateway in _gateway(tmp_path / "alone", fakes, receiver, ["bedrock"]):
        alone = _send(gateway)
        assert alone.status_code == 502 and "AWS credentials" in alone.json()["error"]["message"]


def _with_thinking_history(gateway: Gateway, thinking: str, signature: str, in_loop: bool) -> httpx.Response:
    session = make_session(7)
    headers = build_headers(session, api_key=gateway.key)
    think = {"type": "thinking", "thinking": thinking, "signature": signature}
    messages: list[dict] = [{"role": "user", "content": "first question"},
                            {"role": "assistant", "content": [think, {"type": "text", "text": "an answer"}]},
                            {"role": "user", "content": "second question"}]
    if in_loop:  # the signed block belongs to the tool loop still running: it cannot be left out
        messages[1:] = [{"role": "assistant", "content": [think, {"type": "tool_use", "id": "toolu_1", "name": "Read",
                                                                   "input": {"file_path": "a"}}]},
                        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                                      "content": "x"}]}]
    body = {"model": "claude-haiku-4-5-20251001", "max_tokens": 1024, "stream": True, "messages": messages,
            "thinking": {"type": "enabled", "budget_tokens": 512}}
    return httpx.post(gateway.url + "/v1/messages", headers=headers, content=orjson.dumps(body), timeout=30)


@pytest.mark.parametrize("in_loop", [False, True], ids=["earlier-turn", "running-loop"])
def test_thinking_another_provider_signed_is_left_out_of_earlier_turns_once(
        tmp_path, receiver, aws_environment, in_loop) -> None:
    from sim.provider_signatures import provider_signature

    instant = UpstreamConfig(event_interval_s=0.0)
    with FakeUpstream(UpstreamConfig(expected_api_key=PROVIDER_KEY)) as anthropic, \
            FakeBedrock(BedrockConfig(pacing=instant, reject_foreign_signatures=True)) as bedrock, \
            FakeVertex(VertexConfig(pacing=instant)) as vertex:
        for gateway in _gateway(tmp_path, (anthropic, bedrock, vertex), receiver, ["anthropic", "bedrock"]):
            anthropic.inject("529")
            response = _with_thinking_history(gateway, "let me think", provider_signature("anthropic", "let me think"),
                                              in_loop)
            turn = gateway.receiver.wait_for_turns(1)[-1]
            if in_loop:  # nothing to leave out: Bedrock's refusal reaches the client as it came, once
                assert response.status_code == 400 and "signature" in response.json()["error"]["message"]
                assert len(bedrock.requests) == 1 and "thinking:earlier-turns" not in turn.dropped_capabilities
                continue
            assert response.status_code == 200, response.text
            assert len(bedrock.requests) == 2
            first, retried = bedrock.requests[0].json(), bedrock.requests[1].json()
            assert first["messages"][1]["content"][0]["type"] == "thinking"
            assert retried["messages"][1]["content"] == [{"type": "text", "text": "an answer"}]
            assert retried["messages"][0] == first["messages"][0] and retried["messages"][2] == first["messages"][2]
            assert "thinking:earlier-turns" in turn.dropped_capabilities
