"""Scripted answers for the simulated fleet: the request header ``x-sim-script`` tells the fake
upstream exactly what the model does on this turn, so a fleet run through the real proxy has a
known ground truth. Without the header the fake answers as before (sim.agent_script).

The header is a ``;``-separated list of ``key=value`` items::

    tools=Edit,Read;outcome=ok;output=420;malformed=0

- ``tools``: the tool calls the answer makes, in order (any tool name);
- ``outcome``: ``ok`` (default), ``truncate`` (stop at the request's max_tokens, no tool calls),
  ``bad-tool-input`` (the calls listed in ``malformed`` leave out a required parameter),
  ``timeout`` (HTTP 504 timeout_error) or ``overloaded`` (HTTP 529 overloaded_error);
- ``output``: the output token count to report (default: estimated from the content);
- ``malformed``: comma-separated indices into ``tools`` (``bad-tool-input`` only; default 0).

Tool failures that happen while the *client* runs a tool need nothing here: the client reports
them in its next request (``tool_result`` with ``is_error``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sim.agent_script import Block, ReplyPlan, TextBlock, ThinkingBlock, ToolUseBlock, output_tokens
from sim.anthropic_ids import thinking_signature

SCRIPT_HEADER = "x-sim-script"
OUTCOMES = ("ok", "truncate", "bad-tool-input", "timeout", "overloaded")
ERROR_STATUS = {"timeout": 504, "overloaded": 529}
# A valid input per tool, and the required parameter a malformed call leaves out.
TOOL_INPUTS: dict[str, dict[str, Any]] = {
    "Read": {"file_path": "/repo/src/payments/client.py"},
    "Edit": {"file_path": "/repo/src/payments/client.py", "old_string": "retries = 3", "new_string": "retries = 5"},
    "Bash": {"command": "pytest -q tests/payments", "description": "Run the payment tests"},
    "Grep": {"pattern": "def retry", "path": "/repo/src"},
    "Glob": {"pattern": "src/**/*.py"},
    "Write": {"file_path": "/repo/CHANGELOG.md", "content": "## Unreleased\n- retries\n"},
}
MISSING_PARAMETER = {"Read": "file_path", "Edit": "old_string", "Bash": "command", "Grep": "pattern",
                     "Glob": "pattern", "Write": "content"}


@dataclass(frozen=True, slots=True)
class Script:
    tools: tuple[str, ...] = ()
    outcome: str = "ok"
    output_tokens: int | None = None
    malformed: tuple[int, ...] = (0,)

    @property
    def error_status(self) -> int | None:
        return ERROR_STATUS.get(self.outcome)


def parse_script(value: str) -> Script:
    """Parse the header; raises ValueError with a message meant for the fleet's author."""
    items: dict[str, str] = {}
    for item in value.split(";"):
        if item.strip():
            key, sep, argument = item.partition("=")
            if not sep:
                raise ValueError(f"expected key=value, got {item!r}")
            items[key.strip()] = argument.strip()
    unknown = set(items) - {"tools", "outcome", "output", "malformed"}
    if unknown:
        raise ValueError(f"unknown keys: {', '.join(sorted(unknown))}")
    outcome = items.get("outcome", "ok")
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    tools = tuple(name for name in items.get("tools", "").split(",") if name)
    output = int(items["output"]) if items.get("output") else None
    if output is not None and output < 1:
        raise ValueError("output must be a positive token count")
    malformed = tuple(int(i) for i in items.get("malformed", "0").split(",") if i)
    if any(not 0 <= i < max(len(tools), 1) for i in malformed):
        raise ValueError("malformed indices must point into tools")
    return Script(tools, outcome, output, malformed)


def tool_input(tool: str, *, malformed: bool) -> dict[str, Any]:
    values = dict(TOOL_INPUTS.get(tool, {"input": "value"}))
    if malformed:
        values.pop(MISSING_PARAMETER.get(tool, "input"), None)
    return values




def scripted_plan(script: Script, body: dict[str, Any], mint_tool_id: Callable[[], str]) -> ReplyPlan:
    """The answer ``script`` asks for (errors are answered before this is called)."""
    blocks: list[Block] = []
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type", "disabled") != "disabled":
        thought = "The script says what to do on this turn."
        blocks.append(ThinkingBlock(thought, thinking_signature(thought)))
    if script.outcome == "truncate":
        blocks.append(TextBlock("Here is the full rewrite of the module, starting with the imports and"))
        max_tokens = body.get("max_tokens")
        limit = max_tokens if isinstance(max_tokens, int) else 4096
        return ReplyPlan(tuple(blocks), "max_tokens", limit)
    blocks.append(TextBlock("I'll do that now." if script.tools else "Done — the change is in place."))
    for index, tool in enumerate(script.tools):
        broken = script.outcome == "bad-tool-input" and index in script.malformed
        blocks.append(ToolUseBlock(mint_tool_id(), tool, tool_input(tool, malformed=broken)))
    stop_reason = "tool_use" if script.tools else "end_turn"
    return ReplyPlan(tuple(blocks), stop_reason, script.output_tokens or output_tokens(blocks))
