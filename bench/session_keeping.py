"""What keeping a session on the tier its prompt cache is warm on could buy (issue 16, item 2;
docs/generalisation.md, "Session 15: keeping a session's tier, measured").

The policy language decides each turn from its own request (``core.policy.decide`` is pure). A rule
that remembers the session — "a main turn whose thread's cache is warm on a cheaper tier stays there
while its prompt is under that tier's cap" — would need state per session in the proxy. Before
building that, this measures what it would buy, on each world's truth (sim.world_config), a fresh
week at a time:

* **per turn**: the cheapest policy of the oracle's family (sim.world_oracle) at the logged policy's
  true quality, by the oracle's Lagrangian sweep (``swept_cost``, no polish, so every variant is found
  the same way);
* **with keeping**: the same search, every candidate's turns passed through the keeping rule before
  they are priced, for each pair of caps (haiku, sonnet) in a grid; the cheapest that reaches the
  same quality;
* **keeping alone**: the logged policy's own routing passed through the rule: its true saving and
  quality change.

The cache is the truth's own (``TierTruth``: a turn on the tier its thread's previous turn was served
on, within the cache's lifetime, reads; on another tier it writes the whole prompt).

    .venv/bin/python bench/session_keeping.py [--seeds 3] [--sessions 1000] [--prices today]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.generalisation import START, logged_policy
from sim.fleet_counterfactual import TierTruth
from sim.world_config import WORLDS
from sim.world_judge import route, split_rules
from sim.world_oracle import swept_cost
from sim.world_plan import WorldTruth, WorldWeek, week_truth
from sim.world_prices import price_tables

HAIKU_CAPS = (0, 15_000, 20_000, 30_000, 45_000, 70_000)  # 0: haiku keeps nothing
SONNET_CAPS = (0, 80_000, 120_000, 180_000)


def keep_warm_tier(tiers: TierTruth, actions: np.ndarray, movable: np.ndarray, caps: tuple[int, int]) -> np.ndarray:
    """``actions`` with each movable turn whose thread's cache is warm on a cheaper tier (its previous
    main turn, within the cache's lifetime: ``last_ok``) kept on that tier while its prompt is under the
    tier's cap (``caps``: haiku's, sonnet's). Turns are walked in plan order, so a kept turn keeps the
    next one warm on the same tier."""
    kept = actions.copy()
    limit = (*caps, 0)  # opus: nothing is cheaper to keep on
    for row in np.flatnonzero((tiers.last_ok >= 0) & movable):
        warm = kept[tiers.last_ok[row]]
        if warm < kept[row] and tiers.tokens[row] < limit[warm]:
            kept[row] = warm
    return kept


@dataclass(frozen=True, slots=True, kw_only=True)
class KeptTiers(TierTruth):
    """A truth whose every routing is passed through ``keep_warm_tier`` before it is judged."""

    movable: np.ndarray
    caps: tuple[int, int]

    def of_actions(self, actions: np.ndarray) -> tuple[float, float]:
        return TierTruth.of_actions(self, keep_warm_tier(self, actions, self.movable, self.caps))


def kept(truth: WorldTruth, movable: np.ndarray, caps: tuple[int, int]) -> WorldTruth:
    tiers = {f.name: getattr(truth.tiers, f.name) for f in fields(TierTruth)}
    return replace(truth, tiers=KeptTiers(**tiers, movable=movable, caps=caps))


@dataclass(frozen=True, slots=True)
class Measured:
    world: str
    seed: int
    per_turn: float  # the per-turn family's saving at the logged policy's quality
    with_keeping: float  # the best saving with keeping at that quality
    caps: tuple[int, int]  # the caps it came with ((0, 0): keeping nothing was best)
    alone: tuple[tuple[tuple[int, int], float, float], ...]  # (caps, saving, Δquality) on the logged routing


def measure(world_name: str, seed: int, sessions: int, prices_name: str) -> Measured:
    world = next(w for w in WORLDS if w.name == world_name)
    policy = logged_policy(10)
    truth = week_truth(WorldWeek(world, seed + 1000, sessions, START, policy), price_tables()[prices_name])
    routed = route(policy, truth)
    movable = ~np.isin(routed.rules, list(split_rules(policy)))  # explored sessions keep their arms
    base_quality, base_cost = truth.tiers.of_actions(routed.tiers)
    per_turn = swept_cost(truth, policy)
    assert per_turn is not None  # the logged policy is in the family
    found = {caps: swept_cost(kept(truth, movable, caps), policy, floor=base_quality)
             for caps in ((h, s) for h in HAIKU_CAPS for s in SONNET_CAPS)}
    caps, cost = min(((caps, cost) for caps, cost in found.items() if cost is not None), key=lambda kv: (kv[1], kv[0]))
    alone = []
    for cap in HAIKU_CAPS[1:]:
        quality, kept_cost = truth.tiers.of_actions(keep_warm_tier(truth.tiers, routed.tiers, movable, (cap, 0)))
        alone.append(((cap, 0), 1 - kept_cost / base_cost, quality - base_quality))
    return Measured(world.name, seed, 1 - per_turn / base_cost, 1 - cost / base_cost, caps, tuple(alone))


def row(m: Measured) -> str:
    def caps(pair: tuple[int, int]) -> str:
        return "none" if pair == (0, 0) else f"haiku < {pair[0] // 1000} K, sonnet < {pair[1] // 1000} K"
    alone = ", ".join(f"{c[0] // 1000} K: {saving:.1%} at {dq:+.4f}" for c, saving, dq in m.alone)
    return f"| {m.world} | {m.seed} | {m.per_turn:.1%} | {m.with_keeping:.1%} | {caps(m.caps)} | {alone} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=1_000)
    parser.add_argument("--prices", default="today", choices=sorted(price_tables()))
    parser.add_argument("--worlds", default=",".join(world.name for world in WORLDS))
    args = parser.parse_args()
    began = time.perf_counter()
    print("| world | seed | per turn saves | with keeping saves | best caps | keeping alone on the logged routing "
          "(haiku cap: saving at Δquality) |\n|---|---|---|---|---|---|")
    for world in args.worlds.split(","):
        for seed in range(1, args.seeds + 1):
            print(row(measure(world, seed, args.sessions, args.prices)), flush=True)
    print(f"{time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
