"""Auto-rollback on a real store: a bad version activated on purpose is rolled back after one
window, with the reason in the audit log; a sound version is left alone."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from sqlalchemy import Engine

from bench.optimizer_world import START, default_policy, generate
from core.pricing import builtin_price_table
from optimizer.candidate import with_thresholds
from optimizer.replay import Thresholds
from optimizer.watch import REGRESSION, compare, is_regression, watch
from store.audit import list_audit, verify_audit
from store.policies import activate, active_state, create_version
from tests.optimizer.stored import store_world

DAY = timedelta(days=1)
SWITCH = START + DAY


def _switch_to(engine: Engine, thresholds: Thresholds, *, turns: int = 2_000) -> None:
    """v1 logged for a day, then a v2 with ``thresholds`` activated and logged for a day (``turns`` each)."""
    prices = builtin_price_table()
    v1 = default_policy("v1", explore=0)
    v2 = with_thresholds(v1, thresholds, "v2")
    for policy in (v1, v2):
        create_version(engine, policy, actor="alice", now=START - DAY)
    activate(engine, "v1", actor="alice", now=START - DAY)
    store_world(engine, generate(v1, prices, turns=turns, seed=21, start=START, days=1.0), prices)
    activate(engine, "v2", actor="alice", now=SWITCH)
    store_world(engine, generate(v2, prices, turns=turns, seed=22, start=SWITCH, days=1.0), prices)


def test_a_bad_version_is_rolled_back_within_one_window(db_engine: Engine) -> None:
    # the upgrade thresholds set far too high: every turn, however large, stays on haiku. 6 000 turns a
    # day: with 2 000 (200 sessions a side) the sample's drop was 0.02, about two standard errors, and
    # the verdict a coin flip on the bootstrap's seed (rolled back for 27 of 40 seeds resampling turns,
    # 25 of 40 resampling sessions); with 6 000 it is rolled back for every one of 40 either way
    _switch_to(db_engine, Thresholds(10_000_000, 10_000_000), turns=6_000)
    prices = builtin_price_table()
    assert watch(db_engine, prices, window=DAY, now=SWITCH + DAY / 2).status == "waiting"
    verdict = watch(db_engine, prices, window=DAY, now=SWITCH + DAY)
    assert verdict.status == "rolled_back" and verdict.delta is not None and verdict.delta.high < 0
    state = active_state(db_engine)
    assert state is not None and state.version == "v1"
    [entry] = list_audit(db_engine, action=REGRESSION)
    assert entry.subject == "v2" and "realised quality fell" in entry.detail["why"]
    assert entry.detail["restored"] == "v1"
    assert verify_audit(db_engine) == []


def test_a_sound_version_stays(db_engine: Engine) -> None:
    _switch_to(db_engine, Thresholds(40_000, 60_000))
    verdict = watch(db_engine, builtin_price_table(), window=DAY, now=SWITCH + DAY)
    assert verdict.status == "ok"
    state = active_state(db_engine)
    assert state is not None and state.version == "v2"
    assert list_audit(db_engine, action=REGRESSION) == []


def test_compare_is_seeded_and_flags_only_clear_drops() -> None:
    rng = np.random.default_rng(0)
    before, same, worse = (rng.random(3_000) < p for p in (0.9, 0.9, 0.8))
    assert compare(same.astype(float), before.astype(float), seed=1) == compare(same.astype(float),
                                                                             before.astype(float), seed=1)
    assert not is_regression(compare(same.astype(float), before.astype(float), seed=1))
    assert is_regression(compare(worse.astype(float), before.astype(float), seed=1))
