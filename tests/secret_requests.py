"""Claude Code requests that leak a planted secret through a tool result, for the guardrail tests
(the proxy's, the dashboard's). The key is built at run time, so no file holds a token-shaped literal."""

from __future__ import annotations

from typing import Any

from sim.claude_shapes import build_request_body, make_session, with_tool_results

KEY = "ghp_" + "q7Xk2LmP9vRt4WzB8nYc3HdF6jS1aGe5uKo0"


def leaky_body(leak: str | None = KEY, *, seed: int = 3, path: str = "/repo/src/settings.py", history: int = 8_000,
               tool: str = "Read") -> dict[str, Any]:
    """A Claude Code request whose newest tool result (a Read of ``path``) holds ``leak``."""
    session = make_session(seed)
    body = build_request_body(seed, session=session, history_chars=history)
    call = {"type": "tool_use", "id": "toolu_01LeakyRead0000000000000", "name": tool,
            "input": {"file_path": path} if tool == "Read" else {"command": "cat settings"}}
    text = "import os\n\nDEBUG = False\n" + (f"GITHUB_TOKEN = \"{leak}\"\n" if leak else "") + "TIMEOUT = 30\n"
    return with_tool_results(body, [{"type": "text", "text": "Reading it."}, call], text)
