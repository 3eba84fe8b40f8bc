"""A week of a world's traffic (sim.world_config), session by session, routed by a real policy through
``core.policy.decide`` as the proxy routes it, and its ground truth. Pure and seeded.

The plan is made of the fleet's own records (sim.fleet_plan's SessionPlan and PlannedTurn), so
``sim.fleet_records.session_records`` turns it into exactly the Turn records and telemetry events
the fleet writes through ingest; the evals see a world's failures as they see the fleet's: a failed
tool in the next request and in Claude Code's tool_result event, malformed input, a truncation.

The truth (:class:`WorldTruth`) holds, for every turn, what a policy can select on and what the
turn would have been on each tier: its success probability (exact, from the world's modes) and its
cost with a warm or a cold prompt cache (sim.fleet_counterfactual.TierTruth), the session's
trajectory held fixed. Two pricing conventions: a main turn reads the prompt its thread's previous
main turn wrote, when that turn was served on the same tier within the cache's lifetime; compaction
and auxiliary requests carry prompts of their own and are always written cold.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from core.policy.schema import Policy
from core.pricing import PriceTable, Usage
from core.spans import Turn
from sim.fleet import Sink
from sim.fleet_config import MAX_OUTPUT_TOKENS, MODEL_OF_TIER, TIERS, TOOL_WEIGHTS, FleetConfig, Outcome, roster
from sim.fleet_counterfactual import TierTruth
from sim.fleet_plan import BACKGROUND, PlannedTurn, SessionPlan
from sim.fleet_records import session_records
from sim.fleet_routing import PolicyRouter
from sim.fleet_usage import CACHE_TTL_S, UNCACHED_TOKENS, Prices, normal_latency_ms
from sim.world_config import Shows, World

_OUTCOME = {Shows.TOOL_FAIL: Outcome.TOOL_FAIL, Shows.BAD_TOOL_INPUT: Outcome.BAD_TOOL_INPUT,
            Shows.TRUNCATE: Outcome.TRUNCATE}
_TOOLS, _TOOL_CHANCES = tuple(TOOL_WEIGHTS), tuple(TOOL_WEIGHTS.values())
REQUESTED_TIER = "sonnet"  # every session asks for sonnet; the policy decides what serves it


@dataclass(frozen=True, slots=True)
class WorldWeek:
    """Which world, which seed, how many sessions, starting when, routed by which policy."""

    world: World
    seed: int
    sessions: int
    start: datetime
    policy: Policy
    days: float = 7.0


@dataclass(frozen=True, slots=True)
class WorldTruth:
    """Per turn, in plan order: the facts decide() sees, the truth on every tier, and the label of
    the failure that happened in the logged run ("" when it succeeded, "background" for natural ones)."""

    tiers: TierTruth
    request_class: np.ndarray  # object
    developer: np.ndarray  # object
    team: np.ndarray  # object
    session_id: np.ndarray  # object
    logged_tier: np.ndarray  # int: the tier that served the turn in the logged run
    failure: np.ndarray  # object: the failure's mode label, "background" or ""
    span_id: np.ndarray  # object: the span id (hex) its record carries


def _fresh_context(rng: random.Random) -> int:
    return min(8_000 + int(rng.lognormvariate(8.6, 0.8)), 90_000)


def _usage(tokens: int, cached: int, output: int) -> Usage:
    uncached = min(UNCACHED_TOKENS, tokens)
    return Usage(uncached, output, tokens - uncached - cached, 0, cached)


class _Planner:
    def __init__(self, week: WorldWeek, prices: Prices) -> None:
        self.week, self.world, self.prices = week, week.world, prices
        self.router = PolicyRouter(week.policy)
        self.developers = roster(FleetConfig(seed=week.seed))

    def session(self, index: int, rows: list[dict[str, object]]) -> SessionPlan:
        week, world = self.week, self.world
        rng = random.Random(f"world:{world.name}:{week.seed}:session:{index}")
        developer = rng.choice(self.developers)
        repo = rng.choice(developer.repos)
        day = rng.randrange(max(1, int(week.days)))
        start = week.start + timedelta(days=day, hours=min(20.0, max(7.0, rng.gauss(13.0, 2.6))))
        session_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        tool_count = rng.choice(world.tool_counts)
        thinking = rng.random() < 0.3  # carries no signal in these worlds
        count = min(80, max(2, int(rng.expovariate(1.0 / world.mean_turns)) + 1))
        tokens, offset, new_prompt = _fresh_context(rng), 0.0, True
        cache: tuple[int, str, float, int] | None = None  # (row, model, end in s, tokens) of the thread's last turn
        turns: list[PlannedTurn] = []
        for seq in range(count):
            if world.compact_above is not None and tokens > world.compact_above:
                request_class, size, offered = "compaction", tokens, 0
            elif rng.random() < world.auxiliary_share:
                request_class, size, offered = "auxiliary", rng.randint(800, 4_000), 0
            else:
                request_class, size, offered = "main", tokens, tool_count
            routed = self.router.route(session_id=session_id, tokens=size, requested_tier=REQUESTED_TIER,
                                       developer=developer.name, team=developer.team, repo=repo,
                                       thinking=thinking, tool_count=offered, request_class=request_class)
            tools = tuple(rng.choices(_TOOLS, _TOOL_CHANCES, k=rng.choice((1, 1, 2, 3)))) if offered else ()
            outcome, label = self._fate(rng, routed.tier, request_class, offered, size, tools)
            output = MAX_OUTPUT_TOKENS if outcome is Outcome.TRUNCATE else \
                min(6_000, max(40, int(rng.lognormvariate(5.9 if tools else 6.7, 0.6))))
            if outcome is Outcome.TRUNCATE:
                tools = ()
            threaded = request_class == "main"
            now_s = start.timestamp() + offset
            usable = threaded and cache is not None and now_s - cache[2] <= CACHE_TTL_S and cache[3] <= size
            cached = min(cache[3], size - UNCACHED_TOKENS) if usable and cache is not None else 0
            warm, cold = _usage(size, cached, output), _usage(size, 0, output)
            served_warm = usable and cache is not None and cache[1] == routed.model
            usage = warm if served_warm else cold
            when = (start + timedelta(seconds=offset)).date()
            ttfb, duration = normal_latency_ms(rng, routed.tier, size, output)
            failing = (rng.randrange(len(tools)),) if outcome is Outcome.TOOL_FAIL else ()
            malformed = (0,) if outcome is Outcome.BAD_TOOL_INPUT else ()
            cost = self.prices.cost_usd(routed.model, usage, when)
            turns.append(PlannedTurn(
                seq, offset, routed.tier, routed.model, size, new_prompt,
                tools, failing, malformed, output, 0.0, self._p(routed.tier, request_class, offered, size), outcome,
                label, usage, cost, 1.0, ttfb, duration, 200, False, requested_model=MODEL_OF_TIER[REQUESTED_TIER],
                target=routed.target, rule=routed.rule, policy_version=routed.version, propensity=routed.propensity,
                thinking=thinking, tool_count=offered, request_class=request_class))
            rows.append({
                "tokens": size, "thinking": thinking, "tool_count": offered, "repo": repo, "session": index,
                "request_class": request_class, "developer": developer.name, "team": developer.team,
                "session_id": session_id, "logged_tier": TIERS.index(routed.tier), "failure": label or "",
                "p": [self._p(tier, request_class, offered, size) for tier in TIERS],
                "warm": [self.prices.cost_usd(MODEL_OF_TIER[tier], warm, when) for tier in TIERS],
                "cold": [self.prices.cost_usd(MODEL_OF_TIER[tier], cold, when) for tier in TIERS],
                "last_ok": cache[0] if usable and cache is not None else -1,
            })
            offset += duration / 1000
            if threaded:
                new_prompt = not tools  # tool results come back in the next request; else the developer types
                cache = (len(rows) - 1, routed.model, start.timestamp() + offset, size)
                results = sum(80 if i in failing or i in malformed else int(rng.lognormvariate(7.0, 1.0))
                              for i in range(len(tools)))
                tokens = size + output + min(results, 40_000) + rng.randint(40, 600)
            elif request_class == "compaction":  # the conversation starts again from a summary
                tokens, cache, new_prompt = _fresh_context(rng), None, True
            if tokens > world.max_context_tokens:  # past the window: the conversation starts again
                tokens, cache, new_prompt = _fresh_context(rng), None, True
            offset += rng.lognormvariate(0.8, 0.9) if tools else rng.uniform(15.0, 240.0)
        return SessionPlan(index, session_id, developer, repo, start, tuple(turns))

    def _p(self, tier: str, request_class: str, offered: int, tokens: int) -> float:
        return self.world.p_success(tier=tier, request_class=request_class, tool_count=offered, tokens=tokens)

    def _fate(self, rng: random.Random, tier: str, request_class: str, offered: int, tokens: int,
              tools: tuple[str, ...]) -> tuple[Outcome, str | None]:
        mode = self.world.mode_for(tier=tier, request_class=request_class, tool_count=offered, tokens=tokens)
        if mode is not None and rng.random() < mode.probability:
            shows = mode.shows if tools or mode.shows is Shows.TRUNCATE else Shows.TRUNCATE
            return _OUTCOME[shows], mode.label
        if rng.random() >= self.world.base_success:
            return (Outcome.TOOL_FAIL if tools else Outcome.TRUNCATE), BACKGROUND
        return Outcome.OK, None


def plan_week(week: WorldWeek, prices: PriceTable, rows: list[dict[str, object]]) -> Iterator[SessionPlan]:
    """Every session of the week in order; each turn's truth row is appended to ``rows`` as it is planned."""
    planner = _Planner(week, Prices(prices))
    for index in range(week.sessions):
        yield planner.session(index, rows)


def truth_of(rows: list[dict[str, object]], span_ids: list[str] | None = None) -> WorldTruth:
    def column(name: str, dtype: type = object) -> np.ndarray:
        values: list[Any] = [row[name] for row in rows]
        return np.asarray(values, dtype=dtype)

    tiers = TierTruth(column("tokens", np.int64), np.array([row["p"] for row in rows], dtype=float).reshape(-1, 3),
                      np.array([row["warm"] for row in rows], dtype=float).reshape(-1, 3),
                      np.array([row["cold"] for row in rows], dtype=float).reshape(-1, 3),
                      column("last_ok", np.int64), column("thinking", bool), column("tool_count", np.int64),
                      column("repo"), column("session", np.int64))
    spans = np.array(span_ids if span_ids is not None else [""] * len(rows), dtype=object)
    return WorldTruth(tiers, column("request_class"), column("developer"), column("team"), column("session_id"),
                      column("logged_tier", np.int64), column("failure"), spans)


def week_truth(week: WorldWeek, prices: PriceTable) -> WorldTruth:
    """The truth of a week without writing it anywhere (the fresh week a proposal is judged on)."""
    rows: list[dict[str, object]] = []
    for _ in plan_week(week, prices, rows):
        pass
    return truth_of(rows)


def run_week(week: WorldWeek, prices: PriceTable, sink: Sink, *, batch_turns: int = 20_000) -> WorldTruth:
    """Plan the week and hand its records to ``sink`` (e.g. ``ingest.local.LocalIngest(engine).write``:
    ingest's own pipeline) in batches, as ``sim.fleet.run_fast`` does; return its truth, span ids included."""
    rows: list[dict[str, object]] = []
    span_ids: list[str] = []
    turns: list[Turn] = []
    events: list[dict[str, Any]] = []
    for plan in plan_week(week, prices, rows):
        records, session_events = session_records(plan)
        span_ids.extend(record.span_id.hex() for record in records)
        turns.extend(records)
        events.extend(session_events)
        if len(turns) >= batch_turns:
            sink(turns, events)
            turns, events = [], []
    if turns or events:
        sink(turns, events)
    return truth_of(rows, span_ids)
