"""Escalation: right after this turn the developer asked for a higher tier (e.g. ``/model opus``
after a haiku answer), a strong sign the answer was not good enough. Read off the *requested*
model of the next turn in the same thread: what the gateway served may differ by policy."""

from __future__ import annotations

from dataclasses import dataclass

from evals.protocol import Score, TurnContext, not_applicable
from evals.tiers import TierLookup


@dataclass(frozen=True, slots=True)
class EscalationEvaluator:
    tiers: TierLookup
    name: str = "escalation"
    version: str = "1"

    def score(self, ctx: TurnContext) -> Score:
        following = ctx.next
        if following is None:
            return not_applicable("no next turn in the thread")
        here, there = self.tiers.rank(ctx.turn.requested_model), self.tiers.rank(following.requested_model)
        if here is None or there is None:
            return not_applicable("unknown tier")
        if there > here:
            return Score(0.0, "escalated",
                         f"next turn asked for {following.requested_model} after {ctx.turn.requested_model}")
        return Score(1.0, "ok")
