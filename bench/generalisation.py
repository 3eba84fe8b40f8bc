"""The optimizer on worlds it was not tuned for (issue 16, item 5; docs/generalisation.md).

For each world of sim.world_config × price table (sim.world_prices: today's, and one whose tiers
are closer) × seed: a week of the world's traffic routed by the logged policy (haiku < 10 K ≤ sonnet
< 60 K ≤ opus, 10 % of sessions explored) goes through ingest's own pipeline into SQLite, is scored
by the built-in evaluators, clustered, and handed to ``optimizer.propose`` at the entry
``switchyard optimize`` and the scheduled loop use (their guards, ``on_invalid="skip"``; the price table
is the case's). The proposal is judged on a *fresh* week of the same world (another seed) under the
true success curves, every turn routed by ``core.policy.decide`` (sim.world_judge), against the
oracle: the cheapest policy the policy language expresses at no worse true quality, found by brute
force on the truth (sim.world_oracle).

    .venv/bin/python bench/generalisation.py [--quick] [--seeds 3] [--sessions 1000] [--worlds a,b] [--explore 10]
        [--ask-weeks 2]

Prints one markdown row per case and a summary; ``--quick`` is the smoke size (one seed, 250
sessions, 40 trials). The default trials are the scheduled loop's (150; ``switchyard optimize`` runs
300 by default: ``--trials 300``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.optimizer_world import default_policy
from core.policy.schema import Policy
from core.pricing import PriceTable

START = datetime(2026, 11, 2, tzinfo=UTC)
# a truly worse proposal: its true quality below the logged policy's by more than this (the truth is
# exact on the fresh week, so this is only rounding room)
WORSE_BY = 0.0005


def logged_policy(explore: int = 10) -> Policy:
    return default_policy("start", haiku_below=10_000, opus_from=60_000, explore=explore)


@dataclass(frozen=True, slots=True)
class Case:
    world: str
    prices: str
    seed: int
    turns: int
    proposed: bool
    reason: str
    base_quality: float
    base_cost: float
    oracle_quality: float
    oracle_cost: float
    quality: float  # the proposal's (the logged policy's when nothing was proposed)
    cost: float
    claimed_saving: float | None = None
    claimed_dq: tuple[float, float, float] | None = None  # value, low, high
    # adjusted Rand index of the failure clusters vs the injected modes: (strict, natural failures per
    # tier), with today's features ("after") and with the tool-name weights from before ("before")
    ari: tuple[float, float] | None = None
    ari_before: tuple[float, float] | None = None
    clusters: tuple[str, ...] = ()
    # the loop's later weeks (--ask-weeks): while a week proposed nothing but asked for exploration,
    # the segments asked for each time, and the last explored policy's true cost on the fresh week
    asks: tuple[int, ...] = ()
    explore_cost: float | None = None
    seconds: float = 0.0
    phases: tuple[tuple[str, float], ...] = ()  # wall seconds: ingest, evals, clusters, propose, judge

    @property
    def saving(self) -> float:
        return 1 - self.cost / self.base_cost

    @property
    def oracle_saving(self) -> float:
        return 1 - self.oracle_cost / self.base_cost

    @property
    def dq(self) -> float:
        return self.quality - self.base_quality

    @property
    def truly_worse(self) -> bool:
        return self.dq < -WORSE_BY

    @property
    def no_proposal_right(self) -> bool:
        """Nothing proposed, and the oracle saves (almost) nothing: no cheaper policy was safe."""
        return self.oracle_saving < 0.01

    @property
    def dq_inside(self) -> bool | None:
        return None if self.claimed_dq is None else self.claimed_dq[1] <= self.dq <= self.claimed_dq[2]


def _aris(rows: list[Any], labels: Any, truth: Any) -> tuple[float, float] | None:
    from sim.world_clusters import adjusted_rand

    strict = adjusted_rand(rows, labels, truth)
    per_tier = adjusted_rand(rows, labels, truth, background_by_tier=True)
    return None if strict is None or per_tier is None else (strict, per_tier)


def run_case(directory: Path, world_name: str, prices_name: str, prices: PriceTable, seed: int, sessions: int,
             *, trials: int = 150, explore: int = 10, ask_weeks: int = 0, tolerance: float | None = None) -> Case:
    """``tolerance``: the floor's margin is that stated loss of quality, not the active policy's own
    noise (``Settings(slack=1e9, max_quality_loss=tolerance)``; docs/generalisation.md, "Session 14")."""
    from evals.cluster_runner import run_clustering
    from evals.clusters import TOOL_NAME_WEIGHTS, ClusterSettings, cluster_failures
    from evals.registry import builtin_evaluators
    from evals.runner import EvalSettings, run_evals
    from ingest.local import LocalIngest, fixed_clock
    from optimizer.explore_more import tier_targets, with_exploration
    from optimizer.propose import Settings, propose
    from sim.world_config import world_named
    from sim.world_judge import judge
    from sim.world_oracle import oracle
    from sim.world_plan import WorldWeek, run_week, week_truth
    from store.engine import make_engine
    from store.policies import activate, create_version
    from store.testing import migrated_sqlite_url

    began = time.perf_counter()
    phases: list[tuple[str, float]] = []

    def lap(name: str) -> None:
        phases.append((name, time.perf_counter() - began - sum(s for _, s in phases)))

    world, policy, at = world_named(world_name), logged_policy(explore), START.replace(tzinfo=None)
    engine = make_engine(migrated_sqlite_url(directory))
    try:
        create_version(engine, policy, actor="bench", now=at)
        activate(engine, policy.version, actor="bench", now=at)
        store = LocalIngest(engine, prices=prices, clock=fixed_clock(at + timedelta(days=8))).write
        trained = run_week(WorldWeek(world, seed, sessions, START, policy), prices, store)
        lap("ingest")
        run_evals(engine, builtin_evaluators(prices), EvalSettings(settle_s=0))
        lap("evals")
        clustered = run_clustering(engine, prices, start=at, end=at + timedelta(days=7))
        before = cluster_failures(clustered.rows, ClusterSettings(weights=TOOL_NAME_WEIGHTS))
        lap("clusters")
        floor = {} if tolerance is None else {"slack": 1e9, "max_quality_loss": tolerance}
        outcome = propose(engine, prices, Settings(start=at, end=at + timedelta(days=7), seed=seed, trials=trials,
                                                   on_invalid="skip", **floor))
        lap("propose")
        # the loop's answer to "too few explored sessions": the asks approved as written (by the function
        # the exploration-only proposal is written with), a week routed by that policy, and the optimizer
        # again on every week so far; up to ``ask_weeks`` times
        asked: list[int] = []
        explored = active = policy
        while len(asked) < ask_weeks and outcome.proposal is None and outcome.evidence.get("exploration_asks"):
            asks = list(outcome.evidence["exploration_asks"])
            asked.append(len(asks))
            week = len(asked)
            explored = with_exploration(active, asks, tier_targets(active)).model_copy(
                update={"version": f"explored-{week}"})
            create_version(engine, explored, actor="bench", now=at + timedelta(days=7 * week))
            activate(engine, explored.version, actor="bench", now=at + timedelta(days=7 * week))
            active = explored
            sink = LocalIngest(engine, prices=prices, clock=fixed_clock(at + timedelta(days=7 * week + 8))).write
            run_week(WorldWeek(world, seed + 500 * week, sessions, START + timedelta(days=7 * week), explored),
                     prices, sink)
            run_evals(engine, builtin_evaluators(prices), EvalSettings(settle_s=0))
            lap(f"week {week + 1}")
            outcome = propose(engine, prices, Settings(start=at, end=at + timedelta(days=7 * (week + 1)), seed=seed,
                                                       trials=trials, on_invalid="skip", **floor))
            lap(f"propose {week + 1}")
    finally:
        engine.dispose()
    fresh = week_truth(WorldWeek(world, seed + 1000, sessions, START, policy), prices)
    base, best = judge(policy, fresh), oracle(fresh, policy)
    names = tuple(summary.name for summary in clustered.clusters)
    common = dict(world=world.name, prices=prices_name, seed=seed, turns=len(trained.request_class),
                  base_quality=base.quality, base_cost=base.cost, oracle_quality=best.quality,
                  oracle_cost=best.cost, ari=_aris(clustered.rows, clustered.clustering.labels, trained),
                  ari_before=_aris(clustered.rows, before.labels, trained), clusters=names, phases=phases,
                  asks=tuple(asked), explore_cost=judge(explored, fresh).cost if asked else None)
    if outcome.proposal is None:
        lap("judge")
        return Case(proposed=False, reason=outcome.reason, quality=base.quality, cost=base.cost,
                    seconds=time.perf_counter() - began, **common)  # type: ignore[arg-type]
    proposed = judge(Policy.model_validate(outcome.proposal.document), fresh)
    lap("judge")
    delta = outcome.evidence["delta_quality"]
    return Case(proposed=True, reason="ok", quality=proposed.quality, cost=proposed.cost,
                claimed_saving=-float(outcome.evidence["delta_cost_share"]),
                claimed_dq=(float(delta["value"]), float(delta["low"]), float(delta["high"])),
                seconds=time.perf_counter() - began, **common)  # type: ignore[arg-type]


HEADER = ("| world | prices | seed | turns | proposal | true saving (claimed) | true Δquality (claimed, 95 % CI) "
          "| Δq inside CI | oracle saving | proposal / oracle cost | verdict | ARI before → after |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|")


def verdict(case: Case) -> str:
    if not case.proposed:
        return "right: none was safe" if case.no_proposal_right else \
            f"missed {case.oracle_saving:.1%} ({case.reason[:80]})"
    if case.truly_worse:
        return "**truly worse**"
    if case.saving < 0:
        return "costs more, no worse"
    if case.no_proposal_right:
        return "proposed where none was safe (not worse)"
    return "within 5 % of oracle" if case.cost <= 1.05 * case.oracle_cost else "cheaper, short of oracle"


def _ari(case: Case) -> str:
    if case.ari is None or case.ari_before is None:
        return "-"
    return (f"{case.ari_before[0]:.2f} → {case.ari[0]:.2f} (per tier {case.ari_before[1]:.2f} → "
            f"{case.ari[1]:.2f})")


def _second_week(case: Case) -> str:
    """" after 2 weeks exploring 4, 2 segments (+0.4 % cost)": the proposal (or none) came from a later week."""
    if not case.asks or case.explore_cost is None:
        return ""
    weeks = len(case.asks)
    return (f" after {weeks} week{'s' if weeks > 1 else ''} exploring {', '.join(map(str, case.asks))} "
            f"segment{'s' if sum(case.asks) > 1 else ''} ({case.explore_cost / case.base_cost - 1:+.1%} cost)")


def row(case: Case) -> str:
    ari = _ari(case)
    if not case.proposed:
        return (f"| {case.world} | {case.prices} | {case.seed} | {case.turns:,} | none{_second_week(case)} | – | – | – "
                f"| {case.oracle_saving:.1%} | {1 / (case.oracle_cost / case.base_cost):.3f} | {verdict(case)} "
                f"| {ari} |")
    assert case.claimed_dq is not None and case.claimed_saving is not None
    value, low, high = case.claimed_dq
    return (f"| {case.world} | {case.prices} | {case.seed} | {case.turns:,} | yes{_second_week(case)} "
            f"| {case.saving:.1%} ({case.claimed_saving:.1%}) "
            f"| {case.dq:+.4f} ({value:+.4f}, {low:+.4f} … {high:+.4f}) "
            f"| {'yes' if case.dq_inside else '**no**'} | {case.oracle_saving:.1%} "
            f"| {case.cost / case.oracle_cost:.3f} | {verdict(case)} | {ari} |")


def main() -> None:
    import optuna

    from sim.world_config import WORLDS
    from sim.world_prices import price_tables

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke size: one seed, 250 sessions, 40 trials")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=1_000)
    parser.add_argument("--trials", type=int, default=150, help="Optuna trials (the scheduled loop's default)")
    parser.add_argument("--worlds", default=",".join(world.name for world in WORLDS))
    parser.add_argument("--prices", default="today,narrow")
    parser.add_argument("--explore", type=int, default=10,
                        help="the logged policy's explored share of sessions, %% (issue 16's fleet: 3)")
    parser.add_argument("--tolerance", type=float, default=None,
                        help="the floor's margin: this loss of true quality the team accepts (e.g. 0.005), instead of "
                             "the active policy's own 95 %% half-width (the default)")
    parser.add_argument("--ask-weeks", type=int, default=0,
                        help="while a week proposes nothing but asks for exploration, explore as asked for another "
                             "week and propose on every week so far, up to this many times (the loop's answer to "
                             "thin evidence)")
    args = parser.parse_args()
    if args.quick:  # the smoke size, unless a size is given as well
        args.seeds = 1
        args.sessions = 250 if args.sessions == parser.get_default("sessions") else args.sessions
        args.trials = 40 if args.trials == parser.get_default("trials") else args.trials
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tables = price_tables()
    cases: list[Case] = []
    began = time.perf_counter()
    print(f"{args.sessions:,} sessions a week, {args.explore} % explored, {args.trials} trials, seeds 1..{args.seeds}"
          f"{f', up to {args.ask_weeks} more weeks exploring what was asked for' if args.ask_weeks else ''}"
          f"\n\n{HEADER}", flush=True)
    for seed in range(1, args.seeds + 1):  # seed-major: an interrupted run still covers every world
        for world in args.worlds.split(","):
            for name in args.prices.split(","):
                with tempfile.TemporaryDirectory() as directory:
                    case = run_case(Path(directory), world, name, tables[name], seed, args.sessions,
                                    trials=args.trials, explore=args.explore, ask_weeks=args.ask_weeks,
                                    tolerance=args.tolerance)
                cases.append(case)
                print(row(case), flush=True)
    proposed = [c for c in cases if c.proposed]
    print(f"\n{len(cases)} cases in {time.perf_counter() - began:.0f} s: {len(proposed)} proposals, "
          f"{sum(c.truly_worse for c in proposed)} truly worse, "
          f"{sum(bool(c.dq_inside) for c in proposed)}/{len(proposed)} true Δquality inside the claimed interval, "
          f"{sum(c.cost <= 1.05 * c.oracle_cost and not c.truly_worse for c in proposed)} within 5 % of the oracle; "
          f"no proposal where none was safe: {sum(not c.proposed and c.no_proposal_right for c in cases)}"
          f"/{sum(c.no_proposal_right for c in cases)}")
    aris = [c.ari for c in cases if c.ari is not None]
    if aris:
        print(f"ARI after: strict {min(a[0] for a in aris):.2f}–{max(a[0] for a in aris):.2f}, "
              f"natural failures per tier {min(a[1] for a in aris):.2f}–{max(a[1] for a in aris):.2f}")
    for case in cases:
        timing = ", ".join(f"{name} {seconds:.0f}" for name, seconds in case.phases)
        print(f"  {case.world}/{case.prices}/{case.seed}: {case.seconds:.0f} s ({timing}); "
              f"clusters: {'; '.join(case.clusters)}")


if __name__ == "__main__":
    main()
