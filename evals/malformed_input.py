"""Malformed tool input: the model called a tool with input the tool's schema rejects.

The proxy does not record tool inputs (request bodies are not stored by default), so the signal is
Claude Code's reaction: it refuses such a call and reports it as a failed ``tool_result``, and its
``claude_code.tool_result`` telemetry event carries the validation error text
(``InputValidationError: …``, or a JSON parse error for input that is not JSON at all). Without
telemetry this evaluator cannot tell malformed input from any other tool failure and says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from evals.protocol import Score, TurnContext, not_applicable

# What Claude Code writes when it rejects a call before running the tool.
MALFORMED_PATTERN = re.compile(
    r"InputValidationError|input validation|invalid (tool )?input|required parameter .* is missing|"
    r"is not valid JSON|unexpected token|JSON\.parse",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class MalformedToolInputEvaluator:
    name: str = "malformed_tool_input"
    version: str = "1"
    pattern: re.Pattern[str] = field(default=MALFORMED_PATTERN)

    def score(self, ctx: TurnContext) -> Score:
        if not ctx.turn.tool_use_ids:
            return not_applicable("no tool calls")
        events = ctx.events_for_turn()
        if not events:
            return not_applicable("no tool_result telemetry for this turn's calls")
        malformed = [event for event in events if event.success is False and event.error
                     and self.pattern.search(event.error)]
        if not malformed:
            return Score(1.0, "ok")
        tools = ", ".join(sorted({event.tool_name or "?" for event in malformed}))
        return Score(0.0, "malformed_input", f"{tools}: {malformed[0].error}"[:300])
