"""The optimizer's proving ground: sim.fleet_presets.routed_fleet (a fleet routed by a real policy,
why its settings are what they are is said there) or, with ``segmented``, segmented_fleet (the same
plus sessions that differ in thinking, tools offered and repo difficulty), started from a
hand-written policy, with the truth from sim.fleet_counterfactual (each turn's success probability
and cost on every tier, the session's trajectory held fixed). :func:`oracle` is the cheapest
threshold policy on it; :func:`oracle_params` the cheapest in the optimizer's whole search space
(base thresholds and the same segments' overrides).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from bench.optimizer_world import default_policy
from core.policy.schema import Policy
from core.pricing import PriceTable
from optimizer.lagrange import block_map
from optimizer.replay import Thresholds
from optimizer.segments import RoutingParams, Segment, candidate_segments, with_segments
from optimizer.turn_facts import TurnFacts
from sim.fleet_config import FleetConfig
from sim.fleet_counterfactual import TierTruth, tier_truth
from sim.fleet_plan import plan_sessions
from sim.fleet_presets import routed_fleet, segmented_fleet
from sim.fleet_usage import Prices

START = datetime(2026, 11, 2, tzinfo=UTC)


def start_policy(*, explore: int = 10) -> Policy:
    """The hand-written starting point: haiku below 10 K estimated tokens, opus from 30 K."""
    return default_policy("start", haiku_below=10_000, opus_from=30_000, explore=explore)


def proof_fleet(seed: int, sessions: int, policy: Policy, *, silent_failure_share: float = 0.0,
                segmented: bool = False) -> FleetConfig:
    preset = segmented_fleet if segmented else routed_fleet
    return preset(seed, sessions, policy, start=START, silent_failure_share=silent_failure_share)


def truth_facts(truth: TierTruth) -> TurnFacts:
    return TurnFacts(truth.thinking, truth.tool_count, truth.repo)


def true_outcome(truth: TierTruth, params: RoutingParams) -> tuple[float, float]:
    """(mean success probability, total USD) of a policy's thresholds and overrides on the truth."""
    return truth.of_actions(params.actions(truth.tokens, truth_facts(truth)))


def oracle_params(truth: TierTruth, floor: float, segments: tuple[Segment, ...], *, prices: int = 400,
                  points: int = 41, start_from: Thresholds | None = None) -> tuple[RoutingParams, float, float]:
    """The cheapest policy of base thresholds and overrides for ``segments`` whose true quality is at
    least ``floor``: the Lagrangian sweep of optimizer.lagrange on the truth (each block's pairs
    costed as if its sessions stayed on one tier, every combination then judged exactly), then each
    block polished on a grid of its token quantiles while that finds a cheaper policy at the floor.
    ``start_from`` (e.g. the threshold oracle) is a further starting point: every block on those
    thresholds. Returns (params, cost, quality)."""
    facts = truth_facts(truth)
    start = with_segments(RoutingParams(Thresholds(0, 0)), segments)
    governing = start.governing(facts, truth.tokens.shape[0])
    warm = np.where((truth.last_ok >= 0)[:, None], truth.cost_warm, truth.cost_cold)
    low, high = 0, int(truth.tokens.max()) + 1
    blocks = [-1, *range(len(start.overrides))]
    rows = {b: np.flatnonzero(governing == b) for b in blocks}
    maps = {b: block_map(truth.tokens[rows[b]], warm[rows[b]], truth.p_success[rows[b]], low=low, high=high,
                         quantiles=points) for b in blocks}

    def judged(params: RoutingParams) -> tuple[np.ndarray, float, float]:
        actions = np.empty(truth.tokens.shape[0], dtype=np.int8)
        for b in blocks:
            actions[rows[b]] = params.block(b).actions(truth.tokens[rows[b]])
        quality, cost = truth.of_actions(actions)
        return actions, quality, cost

    best: tuple[RoutingParams, np.ndarray, float, float] | None = None
    per_turn = float(warm[:, 1].mean())
    for price in per_turn * np.geomspace(1e-2, 1e4, prices):
        params = start
        for b in blocks:
            params = params.with_block(b, maps[b].best(float(price)))
        actions, quality, cost = judged(params)
        if quality >= floor and (best is None or cost < best[3]):
            best = (params, actions, quality, cost)
    if start_from is not None:
        params = RoutingParams(start_from, tuple(replace(o, thresholds=start_from) for o in start.overrides))
        actions, quality, cost = judged(params)
        if quality >= floor and (best is None or cost < best[3]):
            best = (params, actions, quality, cost)
    if best is None:
        raise ValueError(f"no policy reaches quality {floor}")
    improved = True
    while improved:  # polish: one block at a time, every pair of its map, while that still pays
        improved = False
        for b in blocks:
            for pair in maps[b].pairs:
                actions = best[1].copy()
                actions[rows[b]] = pair.actions(truth.tokens[rows[b]])
                quality, cost = truth.of_actions(actions)
                if quality >= floor and cost < best[3] - 1e-9:
                    best, improved = (best[0].with_block(b, pair), actions, quality, cost), True
    return best[0], best[3], best[2]


def truth_of(config: FleetConfig, prices: PriceTable) -> TierTruth:
    return tier_truth(config, plan_sessions(config, prices), Prices(prices))


def oracle(truth: TierTruth, floor: float, *, points: int = 41) -> tuple[Thresholds, float, float]:
    """The cheapest threshold policy whose true quality is at least ``floor``: a grid over the
    sample's token quantiles (plus "never" and "always"). Returns (thresholds, cost, quality)."""
    grid = sorted(set(np.quantile(truth.tokens, np.linspace(0, 1, points)).astype(int).tolist()) | {0, 10**9})
    best: tuple[Thresholds, float, float] | None = None
    for haiku_below in grid:
        for opus_from in (g for g in grid if g >= haiku_below):
            thresholds = Thresholds(haiku_below, opus_from)
            quality, cost = truth.of_actions(thresholds.actions(truth.tokens))
            if quality >= floor and (best is None or cost < best[1]):
                best = (thresholds, cost, quality)
    if best is None:
        raise ValueError(f"no threshold policy reaches quality {floor}")
    return best


@dataclass(frozen=True, slots=True)
class Realised:
    """What a fleet run under one policy actually did: turns, cost and the share that succeeded."""

    turns: int
    cost_usd: float
    success: float


def realise(config: FleetConfig, prices: PriceTable) -> Realised:
    """Run the fleet (plan only, no store) and sum what happened: the "next window" after a switch."""
    turns = cost = succeeded = 0
    for plan in plan_sessions(config, prices):
        for turn in plan.turns:
            turns += 1
            cost += turn.cost_usd
            succeeded += turn.outcome.succeeded
    return Realised(turns, cost, succeeded / turns if turns else 0.0)


def with_policy(config: FleetConfig, policy: Policy) -> FleetConfig:
    return replace(config, policy=policy)


@dataclass(frozen=True, slots=True)
class Proof:
    """One run of the whole chain on the fleet and its verdicts (``proposal`` None: nothing proposed)."""

    turns: int
    reason: str
    start: RoutingParams
    usable: int = 0  # turns with a propensity and a score
    clusters: tuple[str, ...] = ()  # the failure clusters the proposal re-routes (its evidence)
    proposal: RoutingParams | None = None
    margin: float = 0.0  # the quality the optimizer allowed itself to give up
    claimed_saving: float = 0.0
    base_quality: float = 0.0  # truth, fresh fleet, trajectory held fixed
    base_cost: float = 0.0
    quality: float = 0.0
    cost: float = 0.0
    oracle: RoutingParams | None = None  # cheapest policy in the search space with quality ≥ base − margin
    oracle_cost: float = 0.0
    threshold_oracle_cost: float = 0.0  # the cheapest with base thresholds only, for comparison
    # the cheapest policy in the search space with true quality no worse than the start's (no margin)
    no_worse_oracle_cost: float = 0.0
    propose_s: float = 0.0  # wall time of propose() (load, replay, search, guards, store)
    before: Realised | None = None  # the fresh fleet actually run under the start policy …
    after: Realised | None = None  # … and under the proposal (the next window)

    def summary(self) -> str:
        if self.proposal is None or self.before is None or self.after is None:
            return f"{self.turns:,} turns: nothing proposed ({self.reason})"
        return (f"{described(self.start)} → {described(self.proposal)}: truth saves "
                f"{1 - self.cost / self.base_cost:.1%} at quality {self.quality:.4f} vs {self.base_quality:.4f} "
                f"(margin {self.margin:.4f}); oracle {described(self.oracle)} saves "
                f"{1 - self.oracle_cost / self.base_cost:.1%} (thresholds only: "
                f"{1 - self.threshold_oracle_cost / self.base_cost:.1%}; at no worse quality: "
                f"{1 - self.no_worse_oracle_cost / self.base_cost:.1%}, proposal/that "
                f"{self.cost / self.no_worse_oracle_cost:.3f}), proposal/oracle "
                f"{self.cost / self.oracle_cost:.3f}; claimed {self.claimed_saving:.1%}, realised next window "
                f"{1 - self.after.cost_usd / self.before.cost_usd:.1%}, success "
                f"{self.before.success:.4f} → {self.after.success:.4f}; propose() {self.propose_s:.0f} s")


def described(params: RoutingParams | None) -> str:
    if params is None:
        return "-"
    pairs = [f"{params.base.haiku_below:,}/{params.base.opus_from:,}"]
    pairs += [f"{o.segment.slug} {o.thresholds.haiku_below:,}/{o.thresholds.opus_from:,}"
              for o in params.effective().overrides]
    return "[" + "; ".join(pairs) + "]"


def prove(directory: Path, prices: PriceTable, *, train_seed: int, fresh_seed: int, sessions: int,
          explore: int = 10, segmented: bool = False) -> Proof:
    """Fleet traffic under the start policy → a SQLite store → the built-in evals → the optimizer,
    as `switchyard optimize` runs it; then the proposal judged on a fresh fleet (``fresh_seed``)."""
    from evals.cluster_runner import run_clustering
    from evals.registry import builtin_evaluators
    from evals.runner import EvalSettings, run_evals
    from ingest.local import LocalIngest, fixed_clock
    from optimizer.candidate import params_of
    from optimizer.propose import Settings, propose
    from sim.fleet import run_fast
    from store.engine import make_engine
    from store.policies import activate, create_version
    from store.testing import migrated_sqlite_url

    engine = make_engine(migrated_sqlite_url(directory))
    policy = start_policy(explore=explore)
    at = START.replace(tzinfo=None)
    try:
        create_version(engine, policy, actor="bench", now=at)
        activate(engine, policy.version, actor="bench", now=at)
        # through ingest's own pipeline, ingested a day after the week (its last sessions run on for hours)
        store = LocalIngest(engine, prices=prices, clock=fixed_clock(at + timedelta(days=8))).write
        summary = run_fast(proof_fleet(train_seed, sessions, policy, segmented=segmented), prices, store)
        run_evals(engine, builtin_evaluators(prices), EvalSettings(settle_s=0))
        run_clustering(engine, prices, start=at, end=at + timedelta(days=7))
        began = time.perf_counter()
        outcome = propose(engine, prices, Settings(start=at, end=at + timedelta(days=7)))
        propose_s = time.perf_counter() - began
    finally:
        engine.dispose()
    start = params_of(policy)
    if outcome.proposal is None:
        return Proof(summary.turns, outcome.reason, start, outcome.usable, propose_s=propose_s)
    candidate = Policy.model_validate(outcome.proposal.document)
    proposal, margin = params_of(candidate), float(outcome.evidence["quality_margin"])
    fresh = proof_fleet(fresh_seed, sessions, policy, segmented=segmented)
    truth = truth_of(fresh, prices)
    base_q, base_cost = true_outcome(truth, start)
    q, cost = true_outcome(truth, proposal)
    segments = tuple(candidate_segments(truth.tokens, truth_facts(truth), truth.session))
    threshold_best, threshold_cost, _ = oracle(truth, base_q - margin)
    best, best_cost, _ = oracle_params(truth, base_q - margin, segments, start_from=threshold_best)
    no_worse_threshold, _, _ = oracle(truth, base_q)
    _, no_worse_cost, _ = oracle_params(truth, base_q, segments, start_from=no_worse_threshold)
    clusters = tuple(str(c["name"]) for c in outcome.evidence.get("clusters", ()))
    return Proof(summary.turns, outcome.reason, start, outcome.usable, clusters, proposal, margin,
                 -float(outcome.evidence["delta_cost_share"]), base_q, base_cost, q, cost, best, best_cost,
                 threshold_cost, no_worse_cost, propose_s, realise(fresh, prices),
                 realise(with_policy(fresh, candidate), prices))
