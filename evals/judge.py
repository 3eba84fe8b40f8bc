"""An optional LLM judge (off by default): asks an Anthropic-compatible endpoint to grade a turn
against a rubric and answer ``{"score": 0..1, "label": "...", "reason": "..."}``.

Pure apart from the ``complete`` function it is given (request body → response message JSON; see
:mod:`evals.judge_client` for the HTTP one), so it is tested against the fake upstream and never
needs the network at import time. Bodies are not stored by default, so by default the judge sees
what the gateway recorded about the turn (model, sizes, tools, stop reason, errors, telemetry);
``describe`` can be replaced to show it more (e.g. a redacted transcript when bodies are kept).
The version includes a hash of the rubric and model: a new rubric scores every turn afresh.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from evals.protocol import EvaluatorUnavailableError, Score, TurnContext

Complete = Callable[[dict[str, Any]], dict[str, Any]]

DEFAULT_RUBRIC = (
    "You grade one call that a coding agent (Claude Code) made to a model. Judge whether the call "
    "moved the task forward: answers that were cut off, tool calls that failed or were rejected, "
    "errors, and needless repetition are failures. Answer with a JSON object only: "
    '{"score": <number from 0 (failed) to 1 (clearly useful)>, "label": <one or two words>, '
    '"reason": <one sentence>}.'
)
_VERDICT_SCHEMA = {
    "type": "object",
    "properties": {"score": {"type": "number"}, "label": {"type": "string"}, "reason": {"type": "string"}},
    "required": ["score", "label", "reason"],
}
_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


class JudgeUnavailableError(EvaluatorUnavailableError):
    """The judge endpoint failed or answered something that is not a verdict; the turn is left
    unscored by this evaluator (the runner counts it) instead of storing a made-up score."""


def describe_turn(ctx: TurnContext) -> str:
    turn = ctx.turn
    facts = {
        "requested_model": turn.requested_model, "served_model": turn.served_model,
        "input_tokens_total": turn.total_input_tokens, "output_tokens": turn.output_tokens,
        "stop_reason": turn.stop_reason, "status": turn.status_code, "error": turn.error_type,
        "error_message": turn.error_message, "tools_called": list(turn.tool_use_names),
        "tool_results_failed_next_turn": [
            name for tool_id, name in zip(turn.tool_use_ids, turn.tool_use_names, strict=False)
            if ctx.thread is not None and tool_id in ctx.thread.error_ids
        ],
        "tool_errors": [event.error for event in ctx.events_for_turn() if event.error],
        "duration_ms": round(turn.duration_ms),
    }
    return "The call, as the gateway recorded it:\n" + json.dumps(facts, indent=1, default=str)


def _verdict(message: dict[str, Any]) -> Score:
    texts = [block.get("text", "") for block in message.get("content") or [] if block.get("type") == "text"]
    found = _JSON_OBJECT.search("".join(texts))
    if found is None:
        raise JudgeUnavailableError("the judge answered without a JSON verdict")
    try:
        verdict = json.loads(found.group(0))
        value = min(1.0, max(0.0, float(verdict["score"])))
    except (ValueError, KeyError, TypeError) as error:
        raise JudgeUnavailableError(f"unusable verdict: {error}") from error
    label = str(verdict.get("label") or "judged")[:64]
    return Score(value, label, str(verdict.get("reason") or "")[:300] or None)


@dataclass(frozen=True, slots=True)
class LLMJudgeEvaluator:
    complete: Complete
    model: str = "claude-haiku-4-5"
    rubric: str = DEFAULT_RUBRIC
    max_tokens: int = 300
    describe: Callable[[TurnContext], str] = field(default=describe_turn)
    name: str = "llm_judge"

    @property
    def version(self) -> str:
        digest = hashlib.sha256(f"{self.model}\n{self.rubric}".encode()).hexdigest()[:10]
        return f"1-{digest}"

    def request_body(self, ctx: TurnContext) -> dict[str, Any]:
        return {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "system": [{"type": "text", "text": self.rubric}],
            "messages": [{"role": "user", "content": self.describe(ctx)}],
            "output_config": {"format": {"type": "json_schema", "schema": _VERDICT_SCHEMA}},
        }

    def score(self, ctx: TurnContext) -> Score:
        return _verdict(self.complete(self.request_body(ctx)))
