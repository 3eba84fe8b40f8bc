"""The fake Bedrock's stream is the AWS binary event stream, checked by botocore's decoder (not ours):
correct CRCs, Bedrock's headers, base64 chunks that re-form exactly the fake Anthropic's events, usage
on message_stop, frames cut across writes, and pacing a streaming client can see."""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson
import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from sim.bedrock import FakeBedrock
from sim.bedrock_client import (
    HAIKU_PROFILE,
    Frame,
    anthropic_events,
    decode_frames,
    invoke_body,
    iter_frames,
    model_path,
    post_signed,
    signed_headers,
)
from sim.bedrock_config import BedrockConfig
from sim.claude_shapes import ANTHROPIC_BETAS, build_request_body, make_session
from sim.provider_signatures import provider_signature
from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from tests.sim.wire import assemble, check_anthropic_order, exchange, http_request, parse_sse, post_messages

STREAM = model_path(HAIKU_PROFILE)
BETAS = "interleaved-thinking-2025-05-14,context-management-2025-06-27,effort-2025-11-24"


def tool_loop_body(text: str = "Write it ✅ [[sim:write /tmp/a.txt héllo 日本]]") -> dict[str, Any]:
    return {
        "model": "claude-haiku-4-5-20251001",
        "max_tokens": 4096,
        "stream": True,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "tools": [{"name": "Write", "description": "write a file", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}],
    }


def stream(bedrock: FakeBedrock, body: dict[str, Any], betas: str | None = BETAS) -> list[Frame]:
    response = post_signed(bedrock.base_url, STREAM, invoke_body(body, betas))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.amazon.eventstream"
    assert response.headers["x-amzn-bedrock-content-type"] == "application/json"
    return decode_frames(response.content)


def test_frames_have_bedrocks_headers_and_valid_crcs(bedrock: FakeBedrock) -> None:
    frames = stream(bedrock, tool_loop_body())  # botocore's buffer checks both CRCs of every frame
    assert frames and all(
        frame.headers == {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
        for frame in frames
    )
    payload = orjson.loads(frames[0].payload)
    assert set(payload) == {"bytes", "p"}  # Bedrock's padding field rides along


def test_a_corrupted_byte_fails_the_crc() -> None:
    with FakeBedrock() as bedrock:
        raw = post_signed(bedrock.base_url, STREAM, invoke_body(tool_loop_body(), BETAS)).content
    for position in (5, 20, len(raw) // 2):  # in the prelude, the headers, a payload
        corrupted = bytearray(raw)
        corrupted[position] ^= 0x01
        buffer = EventStreamBuffer()
        buffer.add_data(bytes(corrupted))
        with pytest.raises(ChecksumMismatch):
            list(buffer)


def _normalised(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ids and signatures differ by provider on purpose, and input tokens with the body (Bedrock's has no
    model but a version); everything else must be identical."""
    out = []
    for event in events:
        event = orjson.loads(orjson.dumps(event))
        if event["type"] == "message_start":
            event["message"]["id"] = "msg"
            event["message"]["usage"].pop("input_tokens")
        if event["type"] == "message_delta":
            event["usage"].pop("input_tokens")
        if event["type"] == "content_block_start" and event["content_block"]["type"] == "tool_use":
            event["content_block"]["id"] = "toolu"
        if event.get("delta", {}).get("type") == "signature_delta":
            event["delta"]["signature"] = "sig"
        event.pop("amazon-bedrock-invocationMetrics", None)
        out.append(event)
    return out


def test_chunks_reform_exactly_the_fake_anthropics_events() -> None:
    body = tool_loop_body()
    with FakeUpstream(UpstreamConfig(text_deltas=5)) as upstream:
        anthropic = [data for name, data in parse_sse(post_messages(upstream.port, body).body) if name != "ping"]
    with FakeBedrock(BedrockConfig(pacing=UpstreamConfig(text_deltas=5))) as bedrock:
        events = anthropic_events(stream(bedrock, body))
    assert _normalised(events) == _normalised(anthropic)
    assert all(e["type"] != "ping" for e in events)  # Bedrock's stream has no pings …
    pairs = [(e["type"], e) for e in events]
    check_anthropic_order([pairs[0], ("ping", {}), *pairs[1:]])  # … the order check wants one
    message = assemble([(e["type"], e) for e in events])
    thinking, _text, tool = message["content"]
    assert thinking["signature"] == provider_signature("bedrock", thinking["thinking"])
    assert thinking["signature"] != provider_signature("anthropic", thinking["thinking"])
    assert tool["input"] == {"file_path": "/tmp/a.txt", "content": "héllo 日本"}
    assert message["id"].startswith("msg_bdrk_01") and message["model"] == "claude-haiku-4-5-20251001"


def test_usage_rides_on_message_stop_as_invocation_metrics(bedrock: FakeBedrock) -> None:
    session = make_session(7)
    body = build_request_body(7, session=session, history_chars=20_000)
    first = anthropic_events(stream(bedrock, body, ",".join(ANTHROPIC_BETAS[:3]) + ",effort-2025-11-24"))
    again = anthropic_events(stream(bedrock, body, ",".join(ANTHROPIC_BETAS[:3]) + ",effort-2025-11-24"))
    for events in (first, again):
        usage = events[0]["message"]["usage"]
        metrics = events[-1]["amazon-bedrock-invocationMetrics"]
        assert events[-1]["type"] == "message_stop"
        assert metrics["inputTokenCount"] == usage["input_tokens"]
        assert metrics["outputTokenCount"] == next(e for e in events if e["type"] == "message_delta")["usage"][
            "output_tokens"]
        assert metrics["cacheReadInputTokenCount"] == usage["cache_read_input_tokens"]
        assert metrics["cacheWriteInputTokenCount"] == usage["cache_creation_input_tokens"]
        assert {"invocationLatency", "firstByteLatency"} <= set(metrics)
    assert first[-1]["amazon-bedrock-invocationMetrics"]["cacheWriteInputTokenCount"] > 0
    assert again[-1]["amazon-bedrock-invocationMetrics"]["cacheReadInputTokenCount"] > 0


def test_invoke_answers_the_same_message_as_json_with_usage_headers(bedrock: FakeBedrock) -> None:
    response = post_signed(bedrock.base_url, model_path(HAIKU_PROFILE, "invoke"), invoke_body(tool_loop_body(), BETAS))
    assert response.status_code == 200
    message = response.json()
    assert [block["type"] for block in message["content"]] == ["thinking", "text", "tool_use"]
    assert message["stop_reason"] == "tool_use"
    assert int(response.headers["x-amzn-bedrock-output-token-count"]) == message["usage"]["output_tokens"]
    assert int(response.headers["x-amzn-bedrock-input-token-count"]) == message["usage"]["input_tokens"]


def test_frames_with_multibyte_text_are_cut_across_two_writes(bedrock: FakeBedrock) -> None:
    body = orjson.dumps(invoke_body(tool_loop_body("naïve café 日本語 please"), BETAS))
    # The raw-socket client sends "Host: 127.0.0.1": sign for exactly that.
    headers = signed_headers("POST", f"http://127.0.0.1{STREAM}", body)
    answer = exchange(bedrock.port, http_request(STREAM, body, headers))
    assert answer.status == 200 and answer.finished
    # Each HTTP chunk is one write: a whole frame is exactly as long as its prelude says.
    torn = [chunk for chunk in answer.chunks if int.from_bytes(chunk[:4], "big") != len(chunk)]
    assert torn, "no frame was split"
    text = "".join(e["delta"].get("text", "") for e in anthropic_events(decode_frames(answer.body))
                   if e["type"] == "content_block_delta")
    assert text.startswith("Simulated answer — I read 1 message(s).")


def test_a_streaming_client_sees_the_first_frame_long_before_the_last() -> None:
    interval = 0.05
    config = BedrockConfig(pacing=UpstreamConfig(event_interval_s=interval, text_deltas=10))
    with FakeBedrock(config) as bedrock:
        raw = orjson.dumps(invoke_body(tool_loop_body("hello"), BETAS))
        url = bedrock.base_url + STREAM
        arrivals: list[float] = []
        started = time.monotonic()
        with httpx.stream("POST", url, content=raw, headers=signed_headers("POST", url, raw), timeout=10) as response:
            for _ in iter_frames(response.iter_raw()):
                arrivals.append(time.monotonic() - started)
    assert len(arrivals) >= 15
    # The first frame came while the fake still had (n-1) pauses of writing ahead of it.
    assert arrivals[-1] - arrivals[0] >= (len(arrivals) - 1) * interval * 0.8
