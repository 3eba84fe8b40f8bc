"""The streamed answers: schema and order of events, block kinds, the agentic script, usage."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx

from sim.claude_shapes import build_request_body, make_session
from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from tests.sim.wire import assemble, check_anthropic_order, parse_sse, post_messages, simple_body

WRITE_TOOL = {"name": "Write", "description": "Writes a file", "input_schema": {"type": "object"}}
BASH_TOOL = {"name": "Bash", "description": "Runs a command", "input_schema": {"type": "object"}}


def stream(upstream: FakeUpstream, body: dict, headers: dict[str, str] | None = None) -> list[tuple[str, dict]]:
    answer = post_messages(upstream.port, body, headers)
    assert answer.status == 200 and answer.finished
    assert answer.header("content-type") == "text/event-stream; charset=utf-8"
    events = parse_sse(answer.body)
    check_anthropic_order(events)
    return events


def test_plain_text_answer_has_the_real_event_sequence(upstream: FakeUpstream) -> None:
    events = stream(upstream, simple_body("What is a gateway?"))
    names = [name for name, _ in events]
    assert names == [
        "message_start", "content_block_start", "ping",
        *["content_block_delta"] * 5,
        "content_block_stop", "message_delta", "message_stop",
    ]  # fmt: skip
    start = events[0][1]["message"]
    assert start["id"].startswith("msg_01") and start["model"] == "claude-opus-5-5"
    assert start["role"] == "assistant" and start["content"] == [] and start["stop_reason"] is None
    usage = start["usage"]
    assert set(usage) >= {"input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens"}
    assert set(usage["cache_creation"]) == {"ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"}
    message = assemble(events)
    assert message["stop_reason"] == "end_turn"
    text = message["content"][0]["text"]
    assert message["usage"]["output_tokens"] == max(1, len(text.encode()) // 4)
    assert any(ord(char) > 0x7F for char in text)  # multi-byte characters are part of the answer


def test_response_headers_look_like_anthropic(upstream: FakeUpstream) -> None:
    answer = post_messages(upstream.port, simple_body())
    assert (answer.header("request-id") or "").startswith("req_")
    assert answer.header("anthropic-ratelimit-unified-status") == "allowed"


def test_thinking_block_comes_first_with_a_signature(upstream: FakeUpstream) -> None:
    body = simple_body(thinking={"type": "enabled", "budget_tokens": 2000})
    events = stream(upstream, body)
    deltas = [data["delta"]["type"] for name, data in events if name == "content_block_delta" and data["index"] == 0]
    assert deltas[-1] == "signature_delta" and set(deltas[:-1]) == {"thinking_delta"} and len(deltas) >= 3
    thinking, text = assemble(events)["content"]
    assert thinking["type"] == "thinking" and thinking["thinking"]
    assert len(thinking["signature"]) >= 200 and base64.b64decode(thinking["signature"], validate=True)
    assert text["type"] == "text"


def test_write_directive_streams_a_tool_use_whose_fragments_make_the_json(upstream: FakeUpstream) -> None:
    content = "line one\nzweite Zeile — ✅"
    body = simple_body(f"please [[sim:write /tmp/out.txt {content}]]", tools=[WRITE_TOOL, BASH_TOOL])
    events = stream(upstream, body)
    fragments = [
        data["delta"]["partial_json"]
        for name, data in events
        if name == "content_block_delta" and data["delta"]["type"] == "input_json_delta"
    ]
    assert len(fragments) >= 3
    assert json.loads("".join(fragments)) == {"file_path": "/tmp/out.txt", "content": content}
    message = assemble(events)
    tool_use = message["content"][-1]
    assert tool_use["type"] == "tool_use" and tool_use["name"] == "Write" and tool_use["id"].startswith("toolu_01")
    assert message["stop_reason"] == "tool_use"


def test_bash_directive_gives_a_bash_tool_use(upstream: FakeUpstream) -> None:
    events = stream(upstream, simple_body("run [[sim:bash ls -la /tmp]] now", tools=[WRITE_TOOL, BASH_TOOL]))
    tool_use = assemble(events)["content"][-1]
    assert tool_use["name"] == "Bash" and tool_use["input"]["command"] == "ls -la /tmp"
    assert tool_use["input"]["description"]


def test_directive_without_the_tool_is_answered_in_text(upstream: FakeUpstream) -> None:
    message = assemble(stream(upstream, simple_body("[[sim:bash ls]]", tools=[WRITE_TOOL])))
    assert [block["type"] for block in message["content"]] == ["text"]
    assert message["stop_reason"] == "end_turn"


def test_tool_result_gets_the_final_multibyte_answer(upstream: FakeUpstream) -> None:
    body = simple_body(tools=[WRITE_TOOL])
    body["messages"] += [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01x", "name": "Write", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01x", "content": "ok"}]},
    ]
    message = assemble(stream(upstream, body))
    assert message["stop_reason"] == "end_turn"
    assert message["content"][0]["text"].startswith("Done ✅ — the file is written. 日本語テキスト 🚀")
    body["messages"][-1]["content"][0]["is_error"] = True
    failed = assemble(stream(upstream, body))
    assert failed["content"][0]["text"].startswith("The tool failed ❌") and failed["stop_reason"] == "end_turn"


def test_model_override_and_context_management(upstream: FakeUpstream) -> None:
    with FakeUpstream(UpstreamConfig(model_override="claude-haiku-4-5-20251001")) as other:
        events = stream(other, simple_body(context_management={"edits": []}))
    assert events[0][1]["message"]["model"] == "claude-haiku-4-5-20251001"
    assert events[-2][1]["context_management"] == {"applied_edits": []}


def test_side_requests_get_short_answers(upstream: FakeUpstream) -> None:
    quota = assemble(stream(upstream, simple_body("quota", max_tokens=1)))
    assert quota["stop_reason"] == "max_tokens" and quota["usage"]["output_tokens"] == 1
    schema = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
    titled = simple_body("fix the bug", output_config={"format": {"type": "json_schema", "schema": schema}})
    title = assemble(stream(upstream, titled))["content"][0]["text"]
    assert isinstance(json.loads(title)["title"], str)
    prompt = simple_body("fix it", system="Write a 3-word title for this conversation.")
    assert assemble(stream(upstream, prompt))["content"][0]["text"] == "Simulated coding session"


def test_non_streaming_answer_is_the_same_message(upstream: FakeUpstream) -> None:
    body = simple_body("[[sim:write a.txt x]]", tools=[WRITE_TOOL], thinking={"type": "enabled", "budget_tokens": 9})
    streamed = assemble(stream(upstream, body))
    response = httpx.post(f"{upstream.base_url}/v1/messages", json={**body, "stream": False})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    message = response.json()
    for block in (*message["content"], *streamed["content"]):
        block.pop("id", None)
    assert message["content"] == streamed["content"]
    assert message["stop_reason"] == "tool_use" and message["usage"]["output_tokens"] > 1


def test_prompt_cache_simulation_reads_a_repeated_prefix(upstream: FakeUpstream) -> None:
    session = make_session(7)
    first = build_request_body(1, session=session, history_chars=20_000)
    second = build_request_body(1, session=session, history_chars=20_000)
    second["messages"] += [
        {"role": "assistant", "content": [{"type": "text", "text": "sure"}]},
        {"role": "user", "content": [{"type": "text", "text": "and then?", "cache_control": {"type": "ephemeral"}}]},
    ]
    first_usage = stream(upstream, first)[0][1]["message"]["usage"]
    second_usage = stream(upstream, second)[0][1]["message"]["usage"]
    assert first_usage["cache_read_input_tokens"] == 0 and first_usage["cache_creation_input_tokens"] > 4000
    assert first_usage["cache_creation"]["ephemeral_5m_input_tokens"] == first_usage["cache_creation_input_tokens"]
    assert second_usage["cache_read_input_tokens"] >= first_usage["cache_creation_input_tokens"]
    assert 0 < second_usage["cache_creation_input_tokens"] < 100
    assert second_usage["input_tokens"] < 400


def test_invalid_requests_get_invalid_request_error(upstream: FakeUpstream) -> None:
    not_json = httpx.post(f"{upstream.base_url}/v1/messages", content=b"{nope")
    missing = httpx.post(f"{upstream.base_url}/v1/messages", json={"model": "claude-opus-5-5", "messages": []})
    for response in (not_json, missing):
        assert response.status_code == 400
        assert response.json()["error"]["type"] == "invalid_request_error"
        assert response.headers["x-should-retry"] == "false"


def test_api_key_is_checked_when_configured() -> None:
    with FakeUpstream(UpstreamConfig(expected_api_key="sk-good")) as fake:
        url = f"{fake.base_url}/v1/messages"
        body = {**simple_body(), "stream": False}
        assert httpx.post(url, json=body, headers={"x-api-key": "sk-bad"}).json()["error"]["type"] == (
            "authentication_error"
        )
        assert httpx.post(url, json=body, headers={"x-api-key": "sk-good"}).status_code == 200
        assert httpx.post(url, json=body, headers={"authorization": "Bearer sk-good"}).status_code == 200


def real_cli_body(name: str) -> dict:
    fixture = Path(__file__).parents[1] / "e2e" / "fixtures" / f"claude-code-2.1.330-{name}.json"
    return json.loads(fixture.read_text())["body"]


def test_real_cli_requests_drive_the_tool_loop(upstream: FakeUpstream) -> None:
    main = real_cli_body("main")
    main["messages"][0]["content"][-1]["text"] = "[[sim:write note.txt héllo ✓]]"
    main["messages"].append({"role": "system", "content": "<total_tokens>14999978 tokens left</total_tokens>"})
    first = assemble(stream(upstream, main))
    assert [block["type"] for block in first["content"]] == ["thinking", "text", "tool_use"]  # adaptive thinking
    assert first["content"][-1]["input"] == {"file_path": "note.txt", "content": "héllo ✓"}
    second = assemble(stream(upstream, real_cli_body("tool-result")))
    assert second["stop_reason"] == "end_turn" and second["content"][-1]["text"].startswith("Done ✅")
