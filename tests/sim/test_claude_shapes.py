"""Claude-Code-shaped bodies and headers: realistic, deterministic, and a full tool loop against the fake."""

from __future__ import annotations

import itertools
import json
import re

import pytest

from core.facts import extract_facts
from sim.claude_shapes import (
    build_headers,
    build_request_body,
    encode_body,
    make_session,
    quota_request_body,
    title_request_body,
    with_tool_results,
)
from sim.claude_tools import claude_code_tools
from sim.upstream import FakeUpstream
from tests.sim.wire import assemble, check_anthropic_order, parse_sse, post_messages


def test_same_seed_same_bytes_other_seed_other_history() -> None:
    assert encode_body(build_request_body(3)) == encode_body(build_request_body(3))
    assert build_request_body(3)["messages"] != build_request_body(4)["messages"]
    # tools depend only on the CLI version: shared by the whole fleet, as in production
    assert build_request_body(3)["tools"] == build_request_body(4)["tools"]


@pytest.mark.parametrize("history_chars", [20_000, 200_000])
def test_body_size_follows_the_history(history_chars: int) -> None:
    size = len(encode_body(build_request_body(1, history_chars=history_chars)))
    assert history_chars + 30_000 < size < history_chars + 80_000


def test_body_has_the_fields_claude_code_sends() -> None:
    body = build_request_body(5)
    assert list(body) == [
        "model", "messages", "system", "tools", "metadata", "max_tokens",
        "thinking", "context_management", "output_config", "stream",
    ]  # fmt: skip
    assert body["stream"] is True and body["thinking"] == {"type": "adaptive", "display": "updates"}
    user_id = json.loads(body["metadata"]["user_id"])  # a JSON *string*
    assert set(user_id) == {"device_id", "account_uuid", "session_id"}
    assert user_id["session_id"] == make_session(5).session_id
    markers = [
        b for m in body["messages"] if isinstance(m["content"], list) for b in m["content"] if "cache_control" in b
    ]
    assert markers == [body["messages"][-1]["content"][-1]]  # only the newest block carries the marker
    billing, identity, instructions = body["system"]
    assert (
        billing["text"].startswith("x-anthropic-billing-header: cc_version=2.1.330.") and "cache_control" not in billing
    )
    assert identity["text"].startswith("You are Claude Code") and len(instructions["text"]) > 6000
    assert body["messages"][1]["role"] == "system" and isinstance(body["messages"][1]["content"], str)


def test_first_turn_is_opened_like_the_cli_does() -> None:
    user, environment = build_request_body(5, history_chars=0, prompt="Write the note.")["messages"]
    assert user["role"] == "user" and user["content"][0]["text"].startswith("<system-reminder>")
    assert user["content"][1] == {"type": "text", "text": "Write the note.", "cache_control": {"type": "ephemeral"}}
    assert environment["role"] == "system" and environment["content"][0]["cache_control"] == {"type": "ephemeral"}


def test_history_alternates_and_every_tool_use_has_its_result() -> None:
    messages = build_request_body(2, history_chars=60_000)["messages"]
    roles = [message["role"] for message in messages]
    assert roles[:3] == ["user", "system", "assistant"] and roles[-1] == "user"
    assert all(a != b for a, b in itertools.pairwise(roles))
    blocks = [block for message in messages if isinstance(message["content"], list) for block in message["content"]]
    uses = {b["id"] for b in blocks if b["type"] == "tool_use"}
    results = {b["tool_use_id"] for b in blocks if b["type"] == "tool_result"}
    assert uses == results and len(uses) >= 5
    thinking = [b for b in blocks if b["type"] == "thinking"]
    assert thinking and all(len(block["signature"]) > 200 for block in thinking)


def test_tools_have_realistic_schemas() -> None:
    tools = claude_code_tools()
    names = [tool["name"] for tool in tools]
    assert len(tools) >= 15 and len(set(names)) == len(names)
    assert {"Bash", "Read", "Write", "Edit", "Glob", "Grep", "TodoWrite", "WebFetch", "Task"} <= set(names)
    for tool in tools:
        schema = tool["input_schema"]
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert set(schema["required"]) <= set(schema["properties"])
        assert len(tool["description"]) >= 1000
    assert len(claude_code_tools(5)) == 5


def test_past_the_core_tools_come_mcp_servers_tools() -> None:
    """A project with MCP servers: Claude Code's own tools first, unchanged, then the servers' own,
    named ``mcp__<server>__<tool>``; any count, each name once, a request's facts count them all."""
    core = claude_code_tools()
    for count in (41, 90):
        tools = claude_code_tools(count)
        names = [tool["name"] for tool in tools]
        assert len(tools) == count and len(set(names)) == count and tools[: len(core)] == core
        assert all(re.fullmatch(r"mcp__[a-z0-9_]+__[a-z0-9_-]+", name) and len(name) <= 64
                   for name in names[len(core):])
        for tool in tools[len(core):]:
            schema = tool["input_schema"]
            assert schema["type"] == "object" and set(schema["required"]) <= set(schema["properties"])
        body = build_request_body(1, history_chars=0, tool_count=count, thinking=False)
        facts = extract_facts({}, body, len(encode_body(body)))
        assert (facts.tool_count, facts.thinking) == (count, False)
    assert claude_code_tools(41)[17]["name"] == "mcp__github__create_issue"


def test_headers_are_claude_codes() -> None:
    session = make_session(9)
    headers = build_headers(
        session, auth_token="vk-1", hint_headers=True, request_class="subagent", prev_tool_durations="Write=12"
    )
    assert headers["anthropic-version"] == "2023-06-01"
    assert headers["user-agent"] == "claude-cli/2.1.330 (external, cli)"
    assert headers["x-app"] == "cli" and headers["x-stainless-retry-count"] == "0"
    assert headers["x-claude-code-session-id"] == session.session_id
    assert headers["authorization"] == "Bearer vk-1" and "x-api-key" not in headers
    assert len(headers["anthropic-beta"].split(",")) >= 6
    assert headers["x-claude-code-request-class"] == headers["x-claude-1p-request-class"] == "subagent"
    assert headers["x-claude-code-prev-tool-durations"] == "Write=12"
    assert list(headers)[:4] == ["accept", "content-type", "user-agent", "x-claude-code-session-id"]
    assert list(headers)[-1] == "accept-encoding"
    plain = build_headers(session, api_key="sk-1")
    assert plain["x-api-key"] == "sk-1" and "x-claude-code-request-class" not in plain
    assert (
        build_headers(make_session(9, entrypoint="sdk-cli"))["user-agent"] == "claude-cli/2.1.330 (external, sdk-cli)"
    )


def run_turn(upstream: FakeUpstream, body: dict, headers: dict[str, str]) -> dict:
    answer = post_messages(upstream.port, body, headers)
    assert answer.status == 200
    events = parse_sse(answer.body)
    check_anthropic_order(events)
    return assemble(events)


def test_a_full_tool_loop_against_the_fake(upstream: FakeUpstream) -> None:
    session = make_session(11)
    headers = build_headers(session, api_key="sk-test")
    body = build_request_body(11, session=session, prompt="[[sim:write /tmp/notes.md # Notes ✅]]")
    first = run_turn(upstream, body, headers)
    assert first["stop_reason"] == "tool_use"
    assert first["content"][-1]["input"] == {"file_path": "/tmp/notes.md", "content": "# Notes ✅"}
    second = run_turn(upstream, with_tool_results(body, first["content"], "File written"), headers)
    assert second["stop_reason"] == "end_turn" and "✅" in second["content"][-1]["text"]
    recorded = upstream.requests
    assert recorded[1].json()["messages"][-2]["content"] == first["content"]  # thinking + signature came back
    result = recorded[1].json()["messages"][-1]["content"][0]
    assert list(result) == ["tool_use_id", "type", "content", "cache_control"]
    assert second["usage"]["cache_read_input_tokens"] > 10_000  # the prefix of turn one was cached


def test_side_request_bodies(upstream: FakeUpstream) -> None:
    session = make_session(12)
    quota = run_turn(upstream, {**quota_request_body(session), "stream": True}, build_headers(session))
    assert quota["stop_reason"] == "max_tokens"
    title = run_turn(upstream, title_request_body(session, "fix the flaky test"), build_headers(session))
    assert set(json.loads(title["content"][0]["text"])) == {"title"}
