import json

import pytest

from core.facts import extract_facts, session_from_metadata, tool_results


def _body(**extra):
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 32000,
        "stream": True,
        "thinking": {"type": "enabled", "budget_tokens": 8000},
        "tools": [{"name": n, "input_schema": {}} for n in ("Bash", "Read", "Write")],
        "metadata": {"user_id": json.dumps({"device_id": "d1", "account_uuid": "", "session_id": "sess-from-body"})},
        "messages": [{"role": "user", "content": "hi"}],
    }
    body.update(extra)
    return body


def test_claude_code_headers_are_attribution():
    headers = {
        "x-claude-code-session-id": "sess-header",
        "x-claude-code-request-class": "subagent",
        "x-claude-code-agent-type": "Explore",
        "x-claude-code-agent-id": "agent-2",
        "x-claude-code-parent-agent-id": "agent-1",
        "x-claude-code-prompt-id": "p-9",
        "x-switchyard-repo": "payments-api",
        "user-agent": "claude-cli/2.1.330 (external, cli)",
    }
    facts = extract_facts(headers, _body(), 4000)
    assert facts.session_id == "sess-header"  # the header wins over metadata
    assert (facts.request_class, facts.agent_type, facts.agent_id, facts.parent_agent_id, facts.prompt_id) == (
        "subagent", "Explore", "agent-2", "agent-1", "p-9")
    assert facts.repo == "payments-api"
    assert facts.cli_version == "2.1.330"
    assert (facts.model, facts.stream, facts.thinking, facts.tool_count, facts.max_tokens) == (
        "claude-sonnet-4-5", True, True, 3, 32000)
    assert facts.estimated_input_tokens == 1000


def test_session_falls_back_to_metadata_json_string():
    assert extract_facts({}, _body(), 10).session_id == "sess-from-body"


@pytest.mark.parametrize(
    ("user_id", "expected"),
    [
        (json.dumps({"session_id": "abc"}), "abc"),
        ("user_deadbeef_account_1234_session_0c1d2e", "0c1d2e"),
        ("{not json", None),
        (json.dumps(["session_id"]), None),
        ("plain", None),
        (42, None),
    ],
)
def test_session_from_metadata(user_id, expected):
    assert session_from_metadata({"metadata": {"user_id": user_id}}) == expected


def test_thinking_off_and_odd_types_do_not_raise():
    facts = extract_facts({"user-agent": "curl/8"}, _body(thinking={"type": "disabled"}, tools="x", max_tokens=True,
                                                          model=7, metadata="x"), 0)
    assert (facts.thinking, facts.tool_count, facts.max_tokens, facts.model, facts.cli_version) == (
        False, 0, None, None, None)
    assert facts.session_id is None


def test_tool_results_of_newest_user_message():
    body = {"messages": [
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "old", "is_error": True}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1"}, {"type": "tool_use", "id": "t2"}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": "ok"},
            {"type": "tool_result", "tool_use_id": "t2", "is_error": True, "content": "boom"},
            {"type": "text", "text": "go on"},
        ]},
    ]}
    assert tool_results(body) == (("t1", "t2"), ("t2",))
    # Claude Code appends system-role reminders after the user's turn
    body["messages"].append({"role": "system", "content": "<total_tokens>9000 tokens left</total_tokens>"})
    assert tool_results(body) == (("t1", "t2"), ("t2",))
    assert tool_results({"messages": [{"role": "assistant", "content": []}]}) == ((), ())


def test_no_body_still_attributes():
    facts = extract_facts({"x-claude-code-session-id": "s"}, None, 0)
    assert facts.session_id == "s" and facts.model is None
