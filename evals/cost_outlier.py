"""Cost outlier: a turn that cost far more than it should have, judged by a robust z-score.

Within a conversation thread the measure is the *residual*: log(actual cost / expected cost),
where the expected cost (:mod:`evals.expected_cost`) reads back what the prompt cache could hold
and pays for the answer actually received (a truncated answer is a runaway, so it is priced at the
thread's typical answer length instead). Its baseline is the same residual over the turn's nearest
neighbours in the thread (the session's baseline), so a big context or a chatty thread is not an
outlier against itself, while a cache miss on a long context (a model switch, a prompt that changes
every turn) or a runaway answer is. A thread too short for a baseline is judged against its
expected cost alone. Turns outside any thread, or on models without a price, are judged on log cost
against the developer's recent turns on the same model.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from core.spans import Turn
from evals.baselines import robust_baseline
from evals.expected_cost import RateLookup, answered, expected_cost, warm_prefix
from evals.protocol import CostBaseline, Score, Thread, TurnContext, not_applicable


def model_of(turn: Turn) -> str | None:
    return turn.served_model or turn.requested_model


def truncated(turn: Turn) -> bool:
    return turn.stop_reason == "max_tokens"


@dataclass(frozen=True, slots=True)
class CostOutlierEvaluator:
    rates: RateLookup
    threshold: float = 3.5
    min_thread_turns: int = 5
    neighbours: int = 8
    # log(3): neighbours costing over three times their expected cost are left out of the baseline
    # (a median cannot survive a thread where most turns are wasteful)
    wasteful_residual: float = math.log(3.0)
    min_developer_turns: int = 20
    # with the default threshold: a turn is flagged from about 4× its expected cost (e^(3.5 × 0.4))
    scale_floor: float = 0.4
    name: str = "cost_outlier"
    version: str = "1"

    def _residual(self, thread: Thread, index: int, typical_output: float) -> float | None:
        turn, cost = thread.turns[index], thread.costs[index]
        rates = self.rates(model_of(turn), turn.start_ns)
        if rates is None or cost <= 0:
            return None
        output = typical_output if truncated(turn) else turn.output_tokens
        expected = expected_cost(turn, warm_prefix(thread.turns, index), output, rates)
        return math.log(cost / expected) if expected > 0 else None

    def _against_thread(self, ctx: TurnContext) -> Score | None:
        thread = ctx.thread
        if thread is None or not answered(ctx.turn):
            return None
        others = sorted((abs(i - ctx.index), i) for i, turn in enumerate(thread.turns)
                        if i != ctx.index and answered(turn) and thread.costs[i] > 0)
        nearest = [i for _, i in others[: self.neighbours]]
        outputs = [thread.turns[i].output_tokens for i in nearest if not truncated(thread.turns[i])]
        typical_output = statistics.median(outputs) if outputs else 0.0
        residual = self._residual(thread, ctx.index, typical_output)
        if residual is None:
            return None
        residuals = [r for i in nearest
                     if (r := self._residual(thread, i, typical_output)) is not None and r < self.wasteful_residual]
        baseline = robust_baseline(residuals, self.scale_floor)
        against = "its thread's neighbours"
        if baseline is None or baseline.count < self.min_thread_turns:
            baseline, against = CostBaseline(0.0, self.scale_floor, 0), "its expected cost"
        return self._verdict(ctx, baseline.z(residual), f"{math.exp(residual):.1f}× its expected cost, "
                                                         f"against {against}")

    def _verdict(self, ctx: TurnContext, z: float, detail: str) -> Score:
        value = 1.0 / (1.0 + math.exp(min(z - self.threshold, 50.0)))
        label = "outlier" if z > self.threshold else "ok"
        return Score(value, label, f"${ctx.cost_usd:.4f}, {detail}: z={z:.1f}")

    def score(self, ctx: TurnContext) -> Score:
        if ctx.cost_usd <= 0:
            return not_applicable("no cost")
        verdict = self._against_thread(ctx)
        if verdict is not None:
            return verdict
        developer = ctx.developer_baseline
        if developer is None or developer.count < self.min_developer_turns:
            return not_applicable("no baseline yet")
        z = developer.z(math.log(ctx.cost_usd))
        return self._verdict(ctx, z, f"against the developer's turns on {model_of(ctx.turn)}")
