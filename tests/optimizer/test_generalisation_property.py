"""A property over small random worlds and seeds (issue 16, item 4): whatever the world's truth, the
optimizer, run as `switchyard optimize` runs it (ingest's pipeline, the built-in evals, ``propose``;
an invalid candidate fails the run loudly here), stores only proposals that

* validate with the policy validator (what the admin API's approval checks);
* route in ``core.policy.decide`` (the proxy's own function) as the optimizer's reading of the
  document (``optimizer.candidate.params_of``, the thresholds and overrides the replay prices) says,
  on every turn of a fresh week that the kept exploration split does not catch;
* never claim a saving while the fresh week's truth (sim.world_judge) is worse than the low end of
  their own quality interval.

Worlds are drawn at random from the shapes sim.world_config offers (modes on any tier below opus,
on request classes, tool counts and sizes), each judged on a fresh week of the same world.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pytest

from core.policy.problems import errors_in
from core.policy.schema import Policy
from core.policy.validate import validate
from core.pricing import builtin_price_table
from sim.world_config import Shows, World, WorldMode

# world seeds, each also the seed of its week (of seeds 11–26, six got a proposal at 160 sessions
# before the held-out split; 14 then broke the claim: true −0.0052 below the interval's low end
# −0.0042). 400 sessions: with half of them held out, the explored-session minimum needs them
CASES = (13, 14, 17)
SESSIONS = 400
TRIALS = 40


def random_world(seed: int) -> World:
    rng = random.Random(f"property-world:{seed}")
    modes = tuple(WorldMode(
        f"mode{number}", rng.choice(list(Shows)), rng.uniform(0.2, 0.6), (rng.choice(("haiku", "sonnet")),),
        rng.choice((None, ("main",))), min_tools=rng.choice((0, 6, 12)),
        min_tokens=rng.choice((0, 10_000, 25_000, 60_000))) for number in range(rng.randint(1, 3)))
    return World(f"random-{seed}", "a random world", modes,
                  tool_counts=tuple(sorted(rng.sample((3, 5, 6, 8, 12, 17, 24), 3))),
                  auxiliary_share=rng.choice((0.0, 0.1)), compact_above=rng.choice((None, 70_000)))


@dataclass(frozen=True, slots=True)
class Run:
    world: World
    proposal: Policy | None
    reason: str
    claimed_saving: float = 0.0
    claimed_low: float = 0.0
    true_dq: float = 0.0


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Run]:
    from bench.generalisation import START, logged_policy
    from evals.registry import builtin_evaluators
    from evals.runner import EvalSettings, run_evals
    from ingest.local import LocalIngest, fixed_clock
    from optimizer.propose import Settings, propose
    from sim.world_judge import judge
    from sim.world_plan import WorldWeek, run_week, week_truth
    from store.engine import make_engine
    from store.policies import activate, create_version
    from store.testing import migrated_sqlite_url

    prices, policy, at = builtin_price_table(), logged_policy(explore=30), START.replace(tzinfo=None)
    found = []
    for seed in CASES:
        world = random_world(seed)
        engine = make_engine(migrated_sqlite_url(tmp_path_factory.mktemp(f"world{seed}")))
        try:
            create_version(engine, policy, actor="test", now=at)
            activate(engine, policy.version, actor="test", now=at)
            store = LocalIngest(engine, prices=prices, clock=fixed_clock(at + timedelta(days=8))).write
            run_week(WorldWeek(world, seed, SESSIONS, START, policy), prices, store)
            run_evals(engine, builtin_evaluators(prices), EvalSettings(settle_s=0))
            outcome = propose(engine, prices, Settings(start=at, end=at + timedelta(days=7), seed=seed, trials=TRIALS,
                                                       on_invalid="raise"))
        finally:
            engine.dispose()
        if outcome.proposal is None:
            found.append(Run(world, None, outcome.reason))
            continue
        candidate = Policy.model_validate(outcome.proposal.document)
        fresh = week_truth(WorldWeek(world, seed + 1000, SESSIONS, START, policy), prices)
        delta = outcome.evidence["delta_quality"]
        found.append(Run(world, candidate, "ok", -float(outcome.evidence["delta_cost_share"]), float(delta["low"]),
                         judge(candidate, fresh).quality - judge(policy, fresh).quality))
    return found


def test_some_world_gets_a_proposal(runs: list[Run]) -> None:
    """Otherwise the properties below hold of nothing."""
    assert any(run.proposal is not None for run in runs), [run.reason for run in runs]


def test_every_proposal_validates(runs: list[Run]) -> None:
    for run in runs:
        if run.proposal is not None:
            assert not errors_in(validate(run.proposal)), run.world


def test_every_proposal_routes_in_decide_as_the_optimizer_reads_it(runs: list[Run]) -> None:
    from bench.generalisation import START, logged_policy
    from optimizer.candidate import params_of
    from optimizer.turn_facts import TurnFacts
    from sim.world_judge import route, split_rules
    from sim.world_plan import WorldWeek, week_truth

    for seed, run in zip(CASES, runs, strict=True):
        if run.proposal is None:
            continue
        fresh = week_truth(WorldWeek(run.world, seed + 2000, SESSIONS, START, logged_policy(explore=30)),
                           builtin_price_table())
        routed = route(run.proposal, fresh)
        replayed = params_of(run.proposal).actions(
            fresh.tiers.tokens, TurnFacts(fresh.tiers.thinking, fresh.tiers.tool_count, fresh.tiers.repo,
                                          request_class=fresh.request_class, team=fresh.team,
                                          developer=fresh.developer))
        free = ~np.isin(routed.rules, list(split_rules(run.proposal)))
        assert free.sum() > 0
        differ = int((routed.tiers != replayed)[free].sum())
        assert differ == 0, (run.world, differ)


def test_no_proposal_claims_a_saving_while_truly_worse_than_its_interval_allows(runs: list[Run]) -> None:
    """Truly worse than the active policy (below 0) is allowed only as far as the claimed interval's
    low end reaches; a proposal truly *better* than its interval says is not a broken claim here."""
    for run in runs:
        if run.proposal is not None and run.claimed_saving > 0:
            assert run.true_dq >= min(0.0, run.claimed_low), run
