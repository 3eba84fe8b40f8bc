"""The real Claude Code CLI against a scripted fake, nothing in between: a complete tool loop.

This pins what the proxy tests rely on: the harness runs the CLI offline, the CLI executes a
streamed Write tool_use, echoes the assistant turn (thinking signature and tool_use) verbatim and
returns the tool_result under the same id, and relays multi-byte text deltas one by one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pytest

from tests.e2e.capture_upstream import capture_upstream, text_block, thinking_block, tool_loop, tool_use_block
from tests.e2e.claude_cli import require_claude, run_claude

pytestmark = pytest.mark.e2e

TOOL_ID = "toolu_01SwitchyardE2eDirect01"
SIGNATURE = "RXJzdGUgU2lnbmF0dXI=="
FILE_CONTENT = "héllo wörld ✓ 日本語 🎉\n"
FINAL_PIECES = ("Fertig", " — Datei ", "geschrieben ✓ ", "日本語 🎉")
DELTA_GAP = 0.3  # seconds the fake waits before each final text delta


def _tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        block
        for message in body["messages"]
        if message["role"] == "user" and isinstance(message["content"], list)
        for block in message["content"]
        if block.get("type") == "tool_result"
    ]


@pytest.mark.parametrize("auth", ["x-api-key", "bearer"])
def test_tool_loop_round_trips_through_the_real_cli(
    tmp_path: Path, auth: Literal["x-api-key", "bearer"]
) -> None:
    require_claude()
    work = tmp_path / "work"
    work.mkdir()
    target = work / "note.txt"
    tool_input = {"file_path": str(target), "content": FILE_CONTENT}
    responder = tool_loop(
        [thinking_block("I will write the note.", SIGNATURE), tool_use_block(TOOL_ID, "Write", tool_input)],
        [text_block(*FINAL_PIECES, delay=DELTA_GAP)],
    )

    with capture_upstream(responder) as (base_url, upstream):
        run = run_claude("Write the note.", base_url, "sk-test-fake", work, auth=auth,
                         extra_env={"CLAUDE_CODE_GATEWAY_HINT_HEADERS": "1"})

    assert run.returncode == 0, run.describe()
    assert run.result is not None and run.result["subtype"] == "success", run.describe()
    assert target.read_text(encoding="utf-8") == FILE_CONTENT

    assert [(r.method, r.path) for r in upstream.requests] == [("POST", "/v1/messages")] * 2
    first, second = upstream.requests
    for request in (first, second):
        assert request.query == "beta=true"
        if auth == "bearer":
            assert request.header("authorization") == "Bearer sk-test-fake"
            assert request.header("x-api-key") is None
        else:
            assert request.header("x-api-key") == "sk-test-fake"
        assert request.header("x-claude-code-session-id") == run.session_id
        assert request.header("x-claude-code-request-class") == "main"
    assert (second.header("x-claude-code-prev-tool-durations") or "").startswith("Write=")

    first_body = first.json()
    assert first_body["stream"] is True
    assert "Write" in [tool["name"] for tool in first_body["tools"]]
    assert _tool_results(first_body) == []

    # The assistant turn comes back verbatim: thinking with its signature, then the tool_use.
    second_body = second.json()
    echoed = [m for m in second_body["messages"] if m["role"] == "assistant"][-1]["content"]
    assert echoed == [
        {"type": "thinking", "thinking": "I will write the note.", "signature": SIGNATURE},
        {"type": "tool_use", "id": TOOL_ID, "name": "Write", "input": tool_input},
    ]
    results = _tool_results(second_body)
    assert [result["tool_use_id"] for result in results] == [TOOL_ID]
    assert not results[0].get("is_error"), results[0]

    # Multi-byte text (each SSE event was cut inside a character) arrives intact, delta by delta.
    deltas = run.text_deltas()
    assert [line.event["event"]["delta"]["text"] for line in deltas] == list(FINAL_PIECES)
    assert run.final_text == "".join(FINAL_PIECES)
    # Incremental, not buffered to the end: the fake spaced the deltas DELTA_GAP apart.
    assert deltas[-1].at - deltas[0].at >= DELTA_GAP * (len(deltas) - 1) / 2
    assert run.other_stdout == []
