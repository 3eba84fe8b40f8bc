"""What of a Messages request is scanned, and where each text is: the Claude Code shapes from
docs/claude-code-traffic.md (attribution block, interleaved system messages, tool_result lists)."""

from __future__ import annotations

import json
from pathlib import Path

from core.secrets.blocks import SYSTEM, Located, Skipped, scannable

FIXTURES = Path(__file__).parents[1] / "e2e" / "fixtures"


def _located(body: dict[str, object]) -> list[tuple[int, int, int | None, str, str]]:
    return [(i.message_index, i.block_index, i.part_index, i.kind, i.text) for i in scannable(body)
            if isinstance(i, Located)]


def test_claude_code_request_shape() -> None:
    body = {
        "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.330.abc; cc_entrypoint=cli;"},
                   {"type": "text", "text": "You are Claude Code."}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "<system-reminder>attr</system-reminder>"},
                                         {"type": "text", "text": "read .env"}]},
            {"role": "system", "content": "env: cwd=/repo"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "the user wants sk-ant-...", "signature": "sig"},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "text", "text": "Reading it."},
                {"type": "tool_use", "id": "t1", "name": "Read", "input": {"file_path": ".env"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "DB_PASSWORD=..."},
                {"type": "tool_result", "tool_use_id": "t2", "content": [
                    {"type": "text", "text": "part one"}, {"type": "image", "source": {"type": "base64"}},
                    {"type": "text", "text": "part two"}]}]},
        ],
    }
    assert _located(body) == [
        (SYSTEM, 1, None, "system", "You are Claude Code."),  # the attribution block is left alone
        (0, 0, None, "text", "<system-reminder>attr</system-reminder>"),
        (0, 1, None, "text", "read .env"),
        (1, 0, None, "text", "env: cwd=/repo"),  # interleaved role: system messages are user-side
        # message 2 (assistant: thinking, redacted_thinking, text, tool_use) is not scanned
        (3, 0, None, "tool_result", "DB_PASSWORD=..."),
        (3, 1, 0, "tool_result", "part one"),
        (3, 1, 2, "tool_result", "part two"),
    ]
    skipped = [item for item in scannable(body) if isinstance(item, Skipped)]
    assert skipped == [Skipped(3, 1, 1, "image")]


def test_documents_and_search_results() -> None:
    body = {"messages": [{"role": "user", "content": [
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain doc"}},
        {"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "chunk"}]}},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}},
        {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}},
        {"type": "search_result", "source": "s", "title": "t", "content": [{"type": "text", "text": "found"}]},
        {"type": "tool_result", "tool_use_id": "t", "content": [
            {"type": "document", "source": {"type": "text", "data": "doc in a tool result"}}]},
    ]}]}
    assert _located(body) == [
        (0, 0, None, "document", "plain doc"),
        (0, 1, 0, "document", "chunk"),
        (0, 4, 0, "search_result", "found"),
        (0, 5, 0, "document", "doc in a tool result"),
    ]
    assert [i for i in scannable(body) if isinstance(i, Skipped)] == [Skipped(0, 2, None, "document")]


def test_a_first_system_block_that_is_not_attribution_is_scanned() -> None:
    assert _located({"system": [{"type": "text", "text": "my own prompt"}]}) == [
        (SYSTEM, 0, None, "system", "my own prompt")]
    assert _located({"system": "a string prompt"}) == [(SYSTEM, 0, None, "system", "a string prompt")]
    assert _located({"system": "x-anthropic-billing-header: cc_version=1;"}) == []


def test_malformed_shapes_are_ignored_not_raised() -> None:
    for body in ({"messages": "nope"}, {"messages": [None, 3, {"role": "user", "content": 7}]},
                 {"messages": [{"role": "user", "content": [None, {"type": "text", "text": 5},
                                                            {"type": "tool_result", "content": {"x": 1}}]}]},
                 {"system": [None, {"type": "text"}]}):
        assert _located(body) == []  # type: ignore[arg-type]


def test_the_recorded_claude_code_requests() -> None:
    for name in ("claude-code-2.1.330-main.json", "claude-code-2.1.330-tool-result.json"):
        recorded = json.loads((FIXTURES / name).read_text())
        body = recorded["body"] if isinstance(recorded["body"], dict) else json.loads(recorded["body"])
        located = [item for item in scannable(body) if isinstance(item, Located)]
        assert located, name
        assert not any(item.text.startswith("x-anthropic-billing-header") for item in located)
        roles = {body["messages"][item.message_index]["role"] for item in located if item.message_index != SYSTEM}
        assert roles <= {"user", "system"}
