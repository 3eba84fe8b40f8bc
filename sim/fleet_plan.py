"""The plan of a simulated fleet, session by session: who works when, in which repo, on which tier,
how big each turn's prompt is, which tools it calls and what happens to it. Pure and seeded: the
same config gives the same plan, whether it is then run through the real proxy or its records are
written in process through ingest's pipeline (FAST mode); the plan is also the ground truth.

Outcome of a turn: the first failure mode that matches it and fires decides; otherwise the tier's
skill against the turn's latent difficulty decides between success and a natural ("background")
failure, which shows as a failed tool, a truncation, or an answer that is simply wrong. With a
facts mix (FleetConfig.facts) a session also has thinking on or off and offers its repo's tools,
and the difficulty the turn carries is already shifted by them (sim.fleet_facts).
"""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.pricing import PriceTable, Usage
from sim.fleet_config import (
    MAX_OUTPUT_TOKENS,
    MODEL_OF_TIER,
    TIERS,
    TOOL_COUNT,
    TOOL_WEIGHTS,
    Developer,
    FleetConfig,
    Outcome,
)
from sim.fleet_config import roster as fleet_roster
from sim.fleet_facts import TurnFacts, session_facts, shifted
from sim.fleet_routing import PolicyRouter, Routed
from sim.fleet_usage import (
    CacheState,
    Prices,
    counterfactual_usage,
    input_usage,
    normal_latency_ms,
    stalled_latency_ms,
    with_output,
)

BACKGROUND = "background"
_TOOL_NAMES = tuple(TOOL_WEIGHTS)
_TOOL_CHANCES = tuple(TOOL_WEIGHTS.values())
_CALLS_PER_TURN = ((0, 1, 2, 3), (0.14, 0.62, 0.17, 0.07))


@dataclass(frozen=True, slots=True)
class PlannedTurn:
    seq: int
    offset_s: float  # start, seconds after the session's start
    tier: str
    model: str
    total_tokens: int  # the prompt's size
    new_prompt: bool  # the request carries a new user prompt (else tool results or a retry)
    tools: tuple[str, ...]  # the tool calls the answer makes
    failing_calls: tuple[int, ...]  # indices into tools that fail when the client runs them
    malformed_calls: tuple[int, ...]  # indices into tools whose input the client rejects
    output_tokens: int
    difficulty: float  # shifted by the session's facts when the fleet has a mix
    p_success: float
    outcome: Outcome
    mode: str | None  # the injected failure mode, BACKGROUND for natural failures, None when fine
    usage: Usage
    cost_usd: float
    cost_ratio: float  # cost against a warm cache and an ordinary answer
    ttfb_ms: float | None
    duration_ms: float
    status: int
    cache_bust: bool
    escalated_after: bool = False
    # Set when a policy routed the turn (FleetConfig.policy): the model the developer asked for and
    # what the proxy would log about the decision.
    requested_model: str | None = None
    target: str | None = None
    rule: str | None = None
    policy_version: str | None = None
    propensity: float | None = None
    # What the request tells the proxy (FleetConfig.facts); the defaults are a fleet without a mix.
    thinking: bool = True
    tool_count: int = TOOL_COUNT
    # Claude Code's request-class hint (the fleet's turns are all main-loop; sim.world_plan's are not)
    request_class: str = "main"

    @property
    def stop_reason(self) -> str | None:
        if self.status != 200:
            return None
        if self.outcome is Outcome.TRUNCATE:
            return "max_tokens"
        return "tool_use" if self.tools else "end_turn"


@dataclass(frozen=True, slots=True)
class SessionPlan:
    index: int
    session_id: str
    developer: Developer
    repo: str
    start: datetime
    turns: tuple[PlannedTurn, ...]


class _Timeline:
    """Session start times: working hours, with one crunch day per team (bursts)."""

    def __init__(self, config: FleetConfig) -> None:
        rng = random.Random(f"fleet:{config.seed}:timeline")
        days = max(1, int(config.days))
        self.config = config
        self.crunch = {team: rng.randrange(days) for team in config.teams}

    def start(self, rng: random.Random, team: str) -> datetime:
        days = max(1, int(self.config.days))
        weights = [self.config.crunch_factor if day == self.crunch[team] else 1.0 for day in range(days)]
        day = rng.choices(range(days), weights)[0]
        hour = min(20.5, max(7.0, rng.gauss(13.0, 2.6)))
        seconds = min(self.config.days * 86_400 - 1, day * 86_400 + hour * 3600)
        return self.config.start + timedelta(seconds=seconds)


def _pick_tools(rng: random.Random, run_tool: str | None, run_length: int, repeats: int) -> tuple[str, ...]:
    count = rng.choices(*_CALLS_PER_TURN)[0]
    while True:
        tools = tuple(rng.choices(_TOOL_NAMES, _TOOL_CHANCES, k=count))
        # natural sessions never repeat one tool long enough to look stuck: only injected loops do
        if not (len(set(tools)) == 1 and tools[0] == run_tool and run_length + 1 >= repeats):
            return tools


class _SessionPlanner:
    def __init__(self, config: FleetConfig, prices: Prices, index: int, developer: Developer,
                 repo: str, start: datetime, rng: random.Random, session_id: str = "",
                 router: PolicyRouter | None = None) -> None:
        self.config, self.prices, self.rng = config, prices, rng
        self.index, self.developer, self.repo, self.start = index, developer, repo, start
        self.session_id, self.router = session_id, router
        # from a stream of its own: without a mix, the session's rng draws exactly what it always did
        self.facts = TurnFacts(True, TOOL_COUNT, 0.0) if config.facts is None else \
            session_facts(config.facts, seed=config.seed, index=index, repo=repo)
        self.progress = (start - config.start).total_seconds() / (config.days * 86_400)

    def _fate(self, tier: str, tools: tuple[str, ...], tokens: int, difficulty: float,
              p_success: float) -> tuple[Outcome, str | None]:
        rng, config = self.rng, self.config
        for mode in config.modes:
            if mode.outcome is Outcome.LOOP:
                continue
            if mode.matches(tier=tier, tools=tools, tokens=tokens, repo=self.repo, team=self.developer.team) \
                    and rng.random() < mode.chance(self.progress):
                return mode.outcome, mode.label
        if rng.random() < config.overload_rate:
            return Outcome.OVERLOADED, BACKGROUND
        if rng.random() >= p_success:
            if tools:
                return (Outcome.TOOL_FAIL if rng.random() < 0.85 else Outcome.TRUNCATE), BACKGROUND
            silent = rng.random() < config.silent_failure_share
            return (Outcome.WRONG_ANSWER if silent else Outcome.TRUNCATE), BACKGROUND
        return Outcome.OK, None

    def _loop_mode(self, tier: str, tools: tuple[str, ...], tokens: int) -> tuple[str, str] | None:
        for mode in self.config.modes:
            if mode.outcome is Outcome.LOOP and mode.tool is not None and mode.matches(
                    tier=tier, tools=tools, tokens=tokens, repo=self.repo, team=self.developer.team) \
                    and self.rng.random() < mode.chance(self.progress):
                return mode.label, mode.tool
        return None

    def plan(self) -> tuple[PlannedTurn, ...]:
        rng, config = self.rng, self.config
        tier = self.developer.home_tier if rng.random() < 0.85 else rng.choice(TIERS)
        count = min(config.max_turns, max(2, int(rng.expovariate(1.0 / config.mean_turns)) + 1))
        tokens = self._fresh_context()
        cache, offset, new_prompt = CacheState(), 0.0, True
        run_tool: str | None = None
        run_length = 0
        loop_label, loop_tool, loop_left = "", "", 0
        turns: list[PlannedTurn] = []
        for seq in range(count):
            last = seq == count - 1
            difficulty = self._difficulty(rng.betavariate(2.0, 5.0), tokens)
            routed = self._route(tier, tokens)
            served = tier if routed is None else routed.tier
            p_success = config.skills[served].p_success(difficulty)
            if loop_left == 0:
                tools = () if last else _pick_tools(rng, run_tool, run_length, config.loop_repeats)
                started = None if last else self._loop_mode(served, tools, tokens)
                if started is not None:
                    (loop_label, loop_tool), loop_left = started, config.loop_repeats + rng.randrange(5)
            in_loop = loop_left > 0
            if in_loop:
                tools, loop_left = (loop_tool,), loop_left - 1
            single = tools[0] if len(set(tools)) == 1 else None
            run_length = run_length + 1 if single is not None and single == run_tool else 1
            run_tool = single
            if in_loop and run_length >= config.loop_repeats:
                outcome, mode = Outcome.LOOP, loop_label
            elif in_loop:
                outcome, mode = Outcome.OK, None  # inside a loop, before it looks stuck
            else:
                outcome, mode = self._fate(served, tools, tokens, difficulty, p_success)
            turn = self._turn(seq, offset, served, tokens, new_prompt, tools, outcome, mode, difficulty, p_success,
                              cache, model=None if routed is None else routed.model)
            if routed is not None:
                turn = dataclasses.replace(turn, requested_model=MODEL_OF_TIER[tier], target=routed.target,
                                           rule=routed.rule, policy_version=routed.version,
                                           propensity=routed.propensity)
            escalate = not (last or outcome.succeeded) and tier != "opus" and rng.random() < config.escalate_probability
            if escalate:
                tier = TIERS[TIERS.index(tier) + 1]
                turn = dataclasses.replace(turn, escalated_after=True)
            turns.append(turn)
            offset += turn.duration_ms / 1000
            if turn.status == 200:
                cache = CacheState(tokens, turn.model, self.start.timestamp() + offset)
                tokens, new_prompt = self._grow(tokens, turn)
                if tokens > config.max_context_tokens:  # Claude Code compacts the conversation
                    tokens, cache = self._fresh_context(), CacheState()
            offset += self._gap(turn)
        return tuple(turns)

    def _difficulty(self, drawn: float, tokens: int) -> float:
        """The turn's difficulty, before any outcome is decided from it (the counterfactual truth
        reads it back from the planned turn, so it must be the one p_success was computed from)."""
        weight = self.config.size_difficulty
        difficulty = drawn if not weight else \
            (1 - weight) * drawn + weight * min(1.0, tokens / self.config.max_context_tokens)
        return difficulty if self.config.facts is None else shifted(difficulty, self.facts.shift)

    def _route(self, requested_tier: str, tokens: int) -> Routed | None:
        if self.router is None:
            return None
        return self.router.route(session_id=self.session_id, tokens=tokens, requested_tier=requested_tier,
                                 developer=self.developer.name, team=self.developer.team, repo=self.repo,
                                 thinking=self.facts.thinking, tool_count=self.facts.tool_count)

    def _fresh_context(self) -> int:
        extra = int(self.rng.lognormvariate(8.6, 0.8))
        return min(self.config.min_context_tokens + extra, self.config.max_context_tokens // 2)

    def _grow(self, tokens: int, turn: PlannedTurn) -> tuple[int, bool]:
        if not turn.tools:
            return tokens + turn.output_tokens + self.rng.randint(40, 600), True
        failed = set(turn.failing_calls) | set(turn.malformed_calls)
        results = sum(80 if i in failed else int(self.rng.lognormvariate(7.0, 1.0)) for i in range(len(turn.tools)))
        return tokens + turn.output_tokens + min(results, 40_000), False

    def _gap(self, turn: PlannedTurn) -> float:
        if turn.status != 200:
            return self.rng.uniform(2.0, 20.0)  # the client retries
        if turn.tools:
            return self.rng.lognormvariate(0.8, 0.9)  # the tools run
        return self.rng.uniform(15.0, 240.0)  # the developer reads and types the next prompt

    def _turn(self, seq: int, offset: float, tier: str, tokens: int, new_prompt: bool, tools: tuple[str, ...],
              outcome: Outcome, mode: str | None, difficulty: float, p_success: float, cache: CacheState,
              *, model: str | None = None) -> PlannedTurn:
        rng = self.rng
        model = model or MODEL_OF_TIER[tier]
        normal = min(6_000, max(40, int(rng.lognormvariate(5.9 if tools else 6.7, 0.6))))
        failing: tuple[int, ...] = ()
        malformed: tuple[int, ...] = ()
        if outcome is Outcome.TOOL_FAIL:
            named = [i for i, tool in enumerate(tools) if mode != BACKGROUND and self._mode_tool(mode) == tool]
            failing = tuple(named) if named else (rng.randrange(len(tools)),)
        elif outcome is Outcome.BAD_TOOL_INPUT:
            malformed = tuple(i for i, tool in enumerate(tools) if tool == self._mode_tool(mode)) or (0,)
        elif outcome in (Outcome.TRUNCATE, Outcome.TIMEOUT, Outcome.OVERLOADED, Outcome.WRONG_ANSWER):
            tools = ()
        now_s = self.start.timestamp() + offset
        bust = outcome is Outcome.COST_SPIKE
        day = (self.start + timedelta(seconds=offset)).date()
        if outcome in (Outcome.TIMEOUT, Outcome.OVERLOADED):
            status = 504 if outcome is Outcome.TIMEOUT else 529
            duration = rng.uniform(300_000.0, 600_000.0) if status == 504 else rng.uniform(200.0, 1_500.0)
            return PlannedTurn(seq, offset, tier, model, tokens, new_prompt, tools, failing, malformed, 0, difficulty,
                               p_success, outcome, mode, Usage(), 0.0, 1.0, duration, duration, status, False,
                               thinking=self.facts.thinking, tool_count=self.facts.tool_count)
        output = MAX_OUTPUT_TOKENS if outcome is Outcome.TRUNCATE else normal
        usage = with_output(input_usage(tokens, model, now_s, cache, bust=bust), output)
        cost = self.prices.cost_usd(model, usage, day)
        expected = self.prices.cost_usd(model, counterfactual_usage(tokens, cache, now_s, normal), day)
        latency = stalled_latency_ms if outcome is Outcome.SLOW else normal_latency_ms
        ttfb, duration = latency(rng, tier, tokens, output)
        return PlannedTurn(seq, offset, tier, model, tokens, new_prompt, tools, failing, malformed, output, difficulty,
                           p_success, outcome, mode, usage, cost, cost / expected if expected else 1.0, ttfb,
                           duration, 200, bust, thinking=self.facts.thinking, tool_count=self.facts.tool_count)

    def _mode_tool(self, label: str | None) -> str | None:
        return next((mode.tool for mode in self.config.modes if mode.label == label), None)


def plan_sessions(config: FleetConfig, prices: PriceTable) -> Iterator[SessionPlan]:
    """Every session of the fleet, in index order (lazily: a million turns never sit in memory)."""
    developers = fleet_roster(config)
    timeline = _Timeline(config)
    priced = Prices(prices)
    router = None if config.policy is None else PolicyRouter(config.policy)
    for index in range(config.sessions):
        rng = random.Random(f"fleet:{config.seed}:session:{index}")
        developer = rng.choice(developers)
        own, shared = developer.repos[:2], developer.repos[2:]
        repo = rng.choice(own) if rng.random() < 0.7 or not shared else rng.choice(shared)
        start = timeline.start(rng, developer.team)
        session_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        planner = _SessionPlanner(config, priced, index, developer, repo, start, rng, session_id, router)
        yield SessionPlan(index, session_id, developer, repo, start, planner.plan())
