"""Time to a proposal on 100 K stored turns (target ≤ 60 s), and how good the proposal is.

A synthetic world (bench/optimizer_world.py: known truth, a hand-written default policy with 30 %
exploration) is written into a fresh SQLite store (not timed), then ``optimizer.propose.propose``
runs end to end — read and join turns with scores, fit the outcome models, Optuna search + polish,
bootstrap guards, store the proposal — and is timed, with its phases timed separately after.
Finally the proposal is judged on a fresh sample from the same world against the default and the
oracle (best threshold policy from the truth).

    .venv/bin/python bench/optimize.py [--turns 100000] [--seed 7] [--trials 300]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import optuna

from bench.optimizer_world import START, default_policy, generate, oracle
from core.pricing import builtin_price_table
from optimizer.candidate import thresholds_of
from optimizer.evidence import choose
from optimizer.features import load_turns
from optimizer.propose import Settings, propose, tier_rates
from optimizer.replay import Thresholds, prepare
from optimizer.search import search
from store.engine import make_engine
from store.policies import activate, create_version
from store.testing import migrated_sqlite_url

TARGET_S = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--trials", type=int, default=300)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from tests.optimizer.stored import store_world  # the tests' writer: turns + one score per turn

    prices = builtin_price_table()
    policy = default_policy("v1", explore=30)
    with tempfile.TemporaryDirectory() as directory:
        engine = make_engine(migrated_sqlite_url(Path(directory)))
        create_version(engine, policy, actor="bench", now=START - timedelta(days=1))
        activate(engine, "v1", actor="bench", now=START - timedelta(days=1))
        began = time.perf_counter()
        world = generate(policy, prices, turns=args.turns, seed=args.seed)
        store_world(engine, world, prices)
        print(f"setup: {args.turns:,} turns generated and stored in {time.perf_counter() - began:.1f} s (not timed)")

        settings = Settings(start=START, end=START + timedelta(days=7), seed=args.seed, trials=args.trials)
        began = time.perf_counter()
        outcome = propose(engine, prices, settings, actor="bench")
        total = time.perf_counter() - began
        verdict = "OK" if total <= TARGET_S else "OVER TARGET"
        print(f"time to a proposal: {total:.1f} s for {outcome.usable:,} turns (target ≤ {TARGET_S:.0f} s: {verdict})")

        began = time.perf_counter()
        loaded = load_turns(engine, prices, settings.start, settings.end)
        phases = {"load": time.perf_counter() - began}
        began = time.perf_counter()
        data = prepare(loaded.frame, tier_rates(policy, prices, settings.end), days=loaded.days, seed=args.seed)
        phases["prepare (cost matrix, outcome models)"] = time.perf_counter() - began
        began = time.perf_counter()
        result = search(data, thresholds_of(policy), trials=args.trials, seed=args.seed)
        phases[f"search ({len(result.trials) - 1} trials)"] = time.perf_counter() - began
        began = time.perf_counter()
        choose(data, result, seed=args.seed)
        phases["guards (bootstrap)"] = time.perf_counter() - began
        print("phases: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items()))
        engine.dispose()

    if outcome.proposal is None:
        print(f"no proposal: {outcome.reason}")
        return
    found = outcome.evidence["candidate"]["thresholds"]
    candidate = Thresholds(found["haiku_below"], found["opus_from"])
    fresh = generate(policy, prices, turns=args.turns, seed=args.seed + 1_000)
    baseline = thresholds_of(policy)
    base_q, base_cost = fresh.true_quality(baseline), fresh.true_cost(baseline)
    best, best_cost, best_q = oracle(fresh, base_q)
    q, cost = fresh.true_quality(candidate), fresh.true_cost(candidate)
    print(f"proposal {candidate}: on a fresh sample saves {1 - cost / base_cost:.1%} vs the default, true quality "
          f"{q:.4f} vs {base_q:.4f}; oracle {best} saves {1 - best_cost / base_cost:.1%} at {best_q:.4f}; "
          f"proposal cost / oracle cost = {cost / best_cost:.3f}")


if __name__ == "__main__":
    main()
