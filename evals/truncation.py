"""Truncation: the answer stopped at the output limit (``stop_reason == "max_tokens"``), so the
text or the tool call it was writing is cut off."""

from __future__ import annotations

from dataclasses import dataclass

from evals.protocol import Score, TurnContext, not_applicable


@dataclass(frozen=True, slots=True)
class TruncationEvaluator:
    name: str = "truncation"
    version: str = "1"

    def score(self, ctx: TurnContext) -> Score:
        stop_reason = ctx.turn.stop_reason
        if stop_reason is None:
            return not_applicable("no stop reason (the call failed or was not a message)")
        if stop_reason == "max_tokens":
            return Score(0.0, "truncated", f"stopped at max_tokens after {ctx.turn.output_tokens} output tokens")
        return Score(1.0, "ok")
