"""Latency beyond an SLO that scales with the work asked for: a fixed allowance, plus time per
thousand input tokens (prefill) and per output token (generation). A turn at the SLO scores 0.5;
half the SLO or less scores 1, one and a half times or more scores 0."""

from __future__ import annotations

from dataclasses import dataclass

from evals.protocol import Score, TurnContext, not_applicable

DEFAULT_BASE_MS = 6_000.0
DEFAULT_PER_1K_INPUT_MS = 40.0
DEFAULT_PER_OUTPUT_TOKEN_MS = 40.0


@dataclass(frozen=True, slots=True)
class LatencySLO:
    base_ms: float = DEFAULT_BASE_MS
    per_1k_input_ms: float = DEFAULT_PER_1K_INPUT_MS
    per_output_token_ms: float = DEFAULT_PER_OUTPUT_TOKEN_MS

    def budget_ms(self, total_input_tokens: int, output_tokens: int) -> float:
        return (self.base_ms + self.per_1k_input_ms * total_input_tokens / 1000
                + self.per_output_token_ms * output_tokens)


@dataclass(frozen=True, slots=True)
class LatencyEvaluator:
    slo: LatencySLO = LatencySLO()
    name: str = "latency_slo"
    version: str = "1"

    def score(self, ctx: TurnContext) -> Score:
        turn = ctx.turn
        if not turn.ok:
            return not_applicable("failed call: see upstream_error")
        budget = self.slo.budget_ms(turn.total_input_tokens, turn.output_tokens)
        ratio = turn.duration_ms / budget
        value = min(1.0, max(0.0, 1.5 - ratio))
        label = "slow" if ratio > 1 else "ok"
        return Score(value, label, f"{turn.duration_ms:.0f} ms against an SLO of {budget:.0f} ms ({ratio:.2f}×)")
