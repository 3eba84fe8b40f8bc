"""bench/session_keeping.py: the keeping rule keeps a thread's warm tier exactly where it says, the
kept truth prices the kept routing, and the measurement runs end to end at a tiny size (its figures
are in docs/generalisation.md; at this size they are noise)."""

from __future__ import annotations

import dataclasses

import numpy as np

from bench.session_keeping import keep_warm_tier, kept, measure
from sim.fleet_counterfactual import TierTruth

HAIKU, SONNET, OPUS = 0, 1, 2


def _thread(last_ok: list[int]) -> TierTruth:
    n = len(last_ok)
    rng = np.random.default_rng(1)
    return TierTruth(tokens=np.array([5_000, 12_000, 25_000, 70_000])[:n], p_success=rng.uniform(0.5, 1, (n, 3)),
                     cost_warm=rng.uniform(0.01, 0.1, (n, 3)), cost_cold=rng.uniform(0.2, 0.5, (n, 3)),
                     last_ok=np.array(last_ok), thinking=np.zeros(n, dtype=bool), tool_count=np.full(n, 4),
                     repo=np.array(["r"] * n, dtype=object), session=np.zeros(n, dtype=np.int64))


def test_a_warm_thread_stays_on_its_cheaper_tier_only_under_that_tiers_cap() -> None:
    tiers, decided = _thread([-1, 0, 1, 2]), np.array([HAIKU, SONNET, SONNET, OPUS])
    everything = np.ones(4, dtype=bool)
    # 12 K stays on haiku (under its 20 K cap); 25 K goes up; sonnet keeps nothing (cap 0)
    assert keep_warm_tier(tiers, decided, everything, (20_000, 0)).tolist() == [HAIKU, HAIKU, SONNET, OPUS]
    # a kept turn keeps the next warm: with haiku's cap at 30 K the thread stays on haiku to 25 K
    assert keep_warm_tier(tiers, decided, everything, (30_000, 0)).tolist() == [HAIKU, HAIKU, HAIKU, OPUS]
    # past haiku's cap the turn goes where it was decided (opus), not to the next tier up
    assert keep_warm_tier(tiers, decided, everything, (30_000, 80_000)).tolist() == [HAIKU, HAIKU, HAIKU, OPUS]
    assert keep_warm_tier(tiers, decided, everything, (80_000, 0)).tolist() == [HAIKU] * 4
    # sonnet's cap keeps a thread warm on sonnet below opus
    assert keep_warm_tier(tiers, np.array([SONNET, SONNET, SONNET, OPUS]), everything, (0, 80_000)).tolist() == \
        [SONNET] * 4
    # caps of 0 keep nothing
    assert keep_warm_tier(tiers, decided, everything, (0, 0)).tolist() == decided.tolist()


def test_a_lapsed_cache_or_an_explored_turn_is_not_kept() -> None:
    decided = np.array([HAIKU, SONNET, SONNET, OPUS])
    lapsed = _thread([-1, -1, 1, 2])  # turn 1 came after the cache's lifetime
    assert keep_warm_tier(lapsed, decided, np.ones(4, dtype=bool), (20_000, 0)).tolist() == decided.tolist()
    explored = np.array([True, False, True, True])  # turn 1 is an explored session's arm
    assert keep_warm_tier(_thread([-1, 0, 1, 2]), decided, explored, (20_000, 0)).tolist() == decided.tolist()


def test_a_kept_truth_prices_the_kept_routing() -> None:
    tiers, decided = _thread([-1, 0, 1, 2]), np.array([HAIKU, SONNET, SONNET, OPUS])
    as_world = dataclasses.make_dataclass("World", [("tiers", TierTruth)], frozen=True)(tiers)  # kept() replaces it
    judged = kept(as_world, np.ones(4, dtype=bool), (20_000, 0)).tiers.of_actions(decided)  # type: ignore[arg-type]
    assert judged == tiers.of_actions(np.array([HAIKU, HAIKU, SONNET, OPUS]))
    assert judged != tiers.of_actions(decided)


def test_the_measurement_runs_end_to_end() -> None:
    measured = measure("size-only", 1, 60, "today")
    # keeping nothing is one of the variants, so keeping can only match or beat the per-turn family
    assert measured.with_keeping >= measured.per_turn - 1e-12
    assert len(measured.alone) == 5 and all(-1 < dq <= 1e-12 for _, _, dq in measured.alone)
