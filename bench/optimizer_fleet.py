"""The optimizer's proving ground: sim.fleet_presets.routed_fleet (a fleet routed by a real policy,
why its settings are what they are is said there) started from a hand-written policy, with the
truth from sim.fleet_counterfactual (each turn's success probability and cost on every tier, the
session's trajectory held fixed); :func:`oracle` is the cheapest threshold policy on it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from bench.optimizer_world import default_policy
from core.policy.schema import Policy
from core.pricing import PriceTable
from optimizer.replay import Thresholds
from sim.fleet_config import FleetConfig
from sim.fleet_counterfactual import TierTruth, tier_truth
from sim.fleet_plan import plan_sessions
from sim.fleet_presets import routed_fleet
from sim.fleet_usage import Prices

START = datetime(2026, 11, 2, tzinfo=UTC)


def start_policy(*, explore: int = 10) -> Policy:
    """The hand-written starting point: haiku below 10 K estimated tokens, opus from 30 K."""
    return default_policy("start", haiku_below=10_000, opus_from=30_000, explore=explore)


def proof_fleet(seed: int, sessions: int, policy: Policy, *, silent_failure_share: float = 0.0) -> FleetConfig:
    return routed_fleet(seed, sessions, policy, start=START, silent_failure_share=silent_failure_share)


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
    start: Thresholds
    usable: int = 0  # turns with a propensity and a score
    clusters: tuple[str, ...] = ()  # the failure clusters the proposal re-routes (its evidence)
    proposal: Thresholds | None = None
    margin: float = 0.0  # the quality the optimizer allowed itself to give up
    claimed_saving: float = 0.0
    base_quality: float = 0.0  # truth, fresh fleet, trajectory held fixed
    base_cost: float = 0.0
    quality: float = 0.0
    cost: float = 0.0
    oracle: Thresholds | None = None  # cheapest threshold policy with quality ≥ base − margin
    oracle_cost: float = 0.0
    before: Realised | None = None  # the fresh fleet actually run under the start policy …
    after: Realised | None = None  # … and under the proposal (the next window)

    def summary(self) -> str:
        if self.proposal is None or self.before is None or self.after is None:
            return f"{self.turns:,} turns: nothing proposed ({self.reason})"
        return (f"{self.start} → {self.proposal}: truth saves {1 - self.cost / self.base_cost:.1%} at quality "
                f"{self.quality:.4f} vs {self.base_quality:.4f} (margin {self.margin:.4f}); oracle {self.oracle} "
                f"saves {1 - self.oracle_cost / self.base_cost:.1%}, proposal/oracle "
                f"{self.cost / self.oracle_cost:.3f}; claimed {self.claimed_saving:.1%}, realised next window "
                f"{1 - self.after.cost_usd / self.before.cost_usd:.1%}, success "
                f"{self.before.success:.4f} → {self.after.success:.4f}")


def prove(directory: Path, prices: PriceTable, *, train_seed: int, fresh_seed: int, sessions: int,
          explore: int = 10) -> Proof:
    """Fleet traffic under the start policy → a SQLite store → the built-in evals → the optimizer,
    as `switchyard optimize` runs it; then the proposal judged on a fresh fleet (``fresh_seed``)."""
    from evals.cluster_runner import run_clustering
    from evals.registry import builtin_evaluators
    from evals.runner import EvalSettings, run_evals
    from optimizer.candidate import thresholds_of
    from optimizer.propose import Settings, propose
    from sim.fleet import run_fast
    from store.direct_writes import write_event_records, write_turn_records
    from store.engine import make_engine
    from store.policies import activate, create_version
    from store.testing import migrated_sqlite_url

    engine = make_engine(migrated_sqlite_url(directory))
    policy = start_policy(explore=explore)
    at = START.replace(tzinfo=None)
    try:
        create_version(engine, policy, actor="bench", now=at)
        activate(engine, policy.version, actor="bench", now=at)

        def store(turns, events):  # type: ignore[no-untyped-def]
            write_turn_records(engine, turns, prices)
            write_event_records(engine, events)

        summary = run_fast(proof_fleet(train_seed, sessions, policy), prices, store)
        run_evals(engine, builtin_evaluators(prices), EvalSettings(settle_s=0))
        run_clustering(engine, prices, start=at, end=at + timedelta(days=7))
        outcome = propose(engine, prices, Settings(start=at, end=at + timedelta(days=7)))
    finally:
        engine.dispose()
    start = thresholds_of(policy)
    if outcome.proposal is None:
        return Proof(summary.turns, outcome.reason, start, outcome.usable)
    candidate = Policy.model_validate(outcome.proposal.document)
    proposal, margin = thresholds_of(candidate), float(outcome.evidence["quality_margin"])
    fresh = proof_fleet(fresh_seed, sessions, policy)
    truth = truth_of(fresh, prices)
    base_q, base_cost = truth.of_actions(start.actions(truth.tokens))
    q, cost = truth.of_actions(proposal.actions(truth.tokens))
    best, best_cost, _ = oracle(truth, base_q - margin)
    clusters = tuple(str(c["name"]) for c in outcome.evidence.get("clusters", ()))
    return Proof(summary.turns, outcome.reason, start, outcome.usable, clusters, proposal, margin,
                 -float(outcome.evidence["delta_cost_share"]), base_q, base_cost, q, cost, best, best_cost,
                 realise(fresh, prices), realise(with_policy(fresh, candidate), prices))
