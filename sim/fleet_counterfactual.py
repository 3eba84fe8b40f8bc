"""What each planned turn would have been on every tier: the probability that it succeeds and its
cost. This is the fleet's truth for judging a routing policy (and for computing the oracle) without
replaying sessions: any threshold policy's true quality and cost on a sample are exact sums.

The counterfactual holds the session's trajectory fixed (prompt sizes, tool calls, answer lengths,
timing) and changes only the tiers; the prompt cache follows them (a turn reads its session's last
answered prompt only on the tier that answered it, within the cache's lifetime), and a request that
failed is priced as a cold read of its whole prompt, with no answer, on every tier. In a real rerun a
different tier would also change what follows (answers, escalations). Success follows the planner exactly: the first
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
from sim.fleet_usage import CACHE_TTL_S, UNCACHED_TOKENS, Prices


@dataclass(frozen=True, slots=True)
class TierTruth:
    """n turns × 3 tiers (haiku, sonnet, opus), in plan order, with each turn's estimated tokens.

    A turn's cost depends on the tier its session's previous answered turn was served on: the
    prompt cache is per model, so on the same tier (and within the cache's lifetime) the turn reads
    what that turn wrote (``cost_warm``); on another tier it writes the whole prompt (``cost_cold``)."""

    tokens: np.ndarray
    p_success: np.ndarray
    cost_warm: np.ndarray
    cost_cold: np.ndarray
    last_ok: np.ndarray  # the row of the session's previous answered turn whose cache could serve this one, or −1
    # the routing facts a policy may select on besides tokens (sim.fleet_facts), per turn
    thinking: np.ndarray
    tool_count: np.ndarray
    repo: np.ndarray  # object: the session's repo
    session: np.ndarray  # the session's index in the plan

    def costs(self, actions: np.ndarray) -> np.ndarray:
        """Each turn's USD when turn i is served on tier actions[i]."""
        rows = np.arange(len(actions))
        earlier = np.maximum(self.last_ok, 0)
        warm = (self.last_ok >= 0) & (actions == actions[earlier])
        return np.where(warm, self.cost_warm[rows, actions], self.cost_cold[rows, actions])

    def of_actions(self, actions: np.ndarray) -> tuple[float, float]:
        """(mean success probability, total cost in USD) when turn i is served on tier actions[i]."""
        rows = np.arange(len(actions))
        return float(self.p_success[rows, actions].mean()), float(self.costs(actions).sum())


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
    # turn.difficulty is the one the planner decided with, its session's facts shift included
    return succeeded + alive * (1 - config.overload_rate) * config.skills[tier].p_success(turn.difficulty)


def _usages(turn: PlannedTurn, cached: int) -> tuple[Usage, Usage]:
    """(warm, cold) usage of ``turn``: reading ``cached`` tokens of its prompt from the cache, or none."""
    if turn.status != 200:  # a failed request has no usage; on any tier it would have read its prompt cold
        cold = Usage(input_tokens=UNCACHED_TOKENS, cache_creation_tokens=max(0, turn.total_tokens - UNCACHED_TOKENS))
        return cold, cold
    uncached = min(UNCACHED_TOKENS, turn.total_tokens)
    output = turn.usage.output_tokens
    warm = Usage(uncached, output, turn.total_tokens - uncached - cached, 0, cached)
    return warm, Usage(uncached, output, turn.total_tokens - uncached, 0, 0)


def tier_truth(config: FleetConfig, plans: Iterable[SessionPlan], prices: Prices) -> TierTruth:
    tokens: list[int] = []
    p_success: list[list[float]] = []
    warm_cost: list[list[float]] = []
    cold_cost: list[list[float]] = []
    last_ok: list[int] = []
    thinking: list[bool] = []
    tool_count: list[int] = []
    repo: list[str] = []
    session: list[int] = []
    span_s = config.days * 86_400
    for plan in plans:
        progress = (plan.start - config.start).total_seconds() / span_s
        cache: tuple[int, float, int] | None = None  # (row, end in s, tokens) of the last answered turn
        for turn in plan.turns:
            row, start_s = len(tokens), turn.offset_s
            day = (plan.start + timedelta(seconds=start_s)).date()
            # as the planner decides a warm cache (sim.fleet_usage.input_usage), the tier aside
            usable = (cache is not None and start_s - cache[1] <= CACHE_TTL_S and cache[2] <= turn.total_tokens
                      and not turn.cache_bust)
            warm, cold = _usages(turn, cache[2] if usable and cache is not None else 0)
            tokens.append(turn.total_tokens)
            thinking.append(turn.thinking)
            tool_count.append(turn.tool_count)
            repo.append(plan.repo)
            session.append(plan.index)
            p_success.append([_p_succeeded(config, plan, turn, tier, progress) for tier in TIERS])
            warm_cost.append([prices.cost_usd(MODEL_OF_TIER[tier], warm, day) for tier in TIERS])
            cold_cost.append([prices.cost_usd(MODEL_OF_TIER[tier], cold, day) for tier in TIERS])
            last_ok.append(cache[0] if usable and cache is not None else -1)
            if turn.status == 200:
                cache = (row, start_s + turn.duration_ms / 1000, turn.total_tokens)
    return TierTruth(np.array(tokens, dtype=np.int64), np.array(p_success), np.array(warm_cost),
                     np.array(cold_cost), np.array(last_ok, dtype=np.int64), np.array(thinking, dtype=bool),
                     np.array(tool_count, dtype=np.int64), np.array(repo, dtype=object),
                     np.array(session, dtype=np.int64))
