"""What each planned turn would have been on every tier: the probability that it succeeds and its
cost. This is the fleet's truth for judging a routing policy (and for computing the oracle) without
replaying sessions: any threshold policy's true quality and cost on a sample are exact sums.

The counterfactual holds the session's trajectory fixed (prompt sizes, cache state, tool calls,
answer lengths) and changes only the tier (a request that failed is priced as a cold read of its
whole prompt, with no answer, on every tier); in a real rerun a different tier would also change what
follows (cache hits after a switch, escalations). Success follows the planner exactly: the first
failure mode matching the turn on that tier that fires decides; else a natural overload; else the
tier's skill against the turn's difficulty. Turns inside an injected stuck loop fail on every tier
(the loop is the repo's, not the model's). Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from core.pricing import Usage
from sim.fleet_config import MODEL_OF_TIER, TIERS, FleetConfig, Outcome
from sim.fleet_plan import PlannedTurn, SessionPlan
from sim.fleet_usage import UNCACHED_TOKENS, Prices


@dataclass(frozen=True, slots=True)
class TierTruth:
    """n turns × 3 tiers (haiku, sonnet, opus), in plan order, with each turn's estimated tokens."""

    tokens: np.ndarray
    p_success: np.ndarray
    cost: np.ndarray

    def of_actions(self, actions: np.ndarray) -> tuple[float, float]:
        """(mean success probability, total cost in USD) when turn i is served on tier actions[i]."""
        rows = np.arange(len(actions))
        return float(self.p_success[rows, actions].mean()), float(self.cost[rows, actions].sum())


def _p_succeeded(config: FleetConfig, plan: SessionPlan, turn: PlannedTurn, tier: str, progress: float) -> float:
    if turn.outcome is Outcome.LOOP:
        return 0.0
    alive, succeeded = 1.0, 0.0
    for mode in config.modes:
        if mode.outcome is Outcome.LOOP or not mode.matches(tier=tier, tools=turn.tools, tokens=turn.total_tokens,
                                                            repo=plan.repo, team=plan.developer.team):
            continue
        fires = alive * mode.chance(progress)
        succeeded += fires if mode.outcome.succeeded else 0.0
        alive -= fires
    return succeeded + alive * (1 - config.overload_rate) * config.skills[tier].p_success(turn.difficulty)


def tier_truth(config: FleetConfig, plans: Iterable[SessionPlan], prices: Prices) -> TierTruth:
    tokens: list[int] = []
    p_success: list[list[float]] = []
    cost: list[list[float]] = []
    span_s = config.days * 86_400
    for plan in plans:
        progress = (plan.start - config.start).total_seconds() / span_s
        for turn in plan.turns:
            day = (plan.start + timedelta(seconds=turn.offset_s)).date()
            # A failed request has no usage; on any tier it would have read the whole prompt cold.
            usage = turn.usage if turn.status == 200 else Usage(
                input_tokens=UNCACHED_TOKENS, cache_creation_tokens=max(0, turn.total_tokens - UNCACHED_TOKENS))
            tokens.append(turn.total_tokens)
            p_success.append([_p_succeeded(config, plan, turn, tier, progress) for tier in TIERS])
            cost.append([prices.cost_usd(MODEL_OF_TIER[tier], usage, day) for tier in TIERS])
    return TierTruth(np.array(tokens, dtype=np.int64), np.array(p_success), np.array(cost))
