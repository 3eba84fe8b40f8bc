"""A turn a fallback hop served is evidence about the tier the policy decided (its primary), as a
failure of it: the logged propensity is the primary's, and the primary's 529s must count against it
(issue 16, item 3). A small synthetic frame with a known truth, then the same through a real store."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from bench.optimizer_world import START, default_policy, generate
from core.pricing import builtin_price_table
from core.spans import Turn
from optimizer.features import attribute_fallbacks, fell_back_mask, load_turns, primary_target, target_tiers
from optimizer.propose import tier_rates
from optimizer.replay import TIERS, dr_value, prepare, snips_value
from proxy.breaker import CircuitBreaker
from proxy.chain import walk_chain
from store.engine import make_engine
from store.policies import activate, create_version
from store.testing import migrated_sqlite_url
from tests.optimizer.stored import store_world

RESCUED_529 = ("anthropic-opus:529", "anthropic-sonnet:200")

SESSIONS, PER_SESSION = 2_000, 5
OVERLOADED, OPUS_SUCCESS, SONNET_SUCCESS = 0.3, 0.9, 0.8  # opus answers 529 on 30 % of its turns


def _overloaded_world(seed: int = 3) -> pl.DataFrame:
    """Large turns the policy sends to opus (propensity 0.98, 1 % each to the other tiers by an
    exploration split over sessions). Opus answers 529 on 30 % of them and the chain falls back to
    sonnet, which then serves the turn (and succeeds 80 % of the time). The decided tier's truth,
    counting a 529 as a failure: 0.7 × 0.9 = 0.63."""
    rng = np.random.default_rng(seed)
    n = SESSIONS * PER_SESSION
    session = np.repeat(np.arange(SESSIONS), PER_SESSION)
    draw = rng.random(SESSIONS)
    decided = np.where(draw < 0.01, 0, np.where(draw < 0.02, 1, 2))[session]
    propensity = np.where(decided == 2, 0.98, 0.01)
    failed = (decided == 2) & (rng.random(n) < OVERLOADED)
    served = np.where(failed, 1, decided)
    success = np.array([0.5, SONNET_SUCCESS, OPUS_SUCCESS])[served]
    reward = (rng.random(n) < success).astype(np.float64)
    tokens = rng.integers(160_000, 200_000, n)
    return pl.DataFrame({
        "tokens": tokens, "tier": [TIERS[t] for t in served], "propensity": propensity, "reward": reward,
        "input_tokens": tokens // 20, "output_tokens": np.full(n, 500), "cache_creation_tokens": tokens // 10,
        "cache_read_tokens": tokens - tokens // 20 - tokens // 10, "session_id": [f"s{s}" for s in session],
        "policy_version": "v1",
        "fallback_hops": [["opus-main:529", "sonnet-main:200"] if f else [] for f in failed],
    }, schema_overrides={"fallback_hops": pl.List(pl.String())})


def test_the_first_hop_names_the_primary_even_with_colons_in_the_name() -> None:
    assert primary_target(["eu:opus:529", "sonnet:200"]) == "eu:opus"
    assert primary_target(["opus:timeout", "sonnet:200"]) == "opus"
    assert primary_target([]) is None


def test_a_primary_that_fell_back_counts_as_its_failure() -> None:
    frame = _overloaded_world()
    tiers = {("v1", "opus-main"): "opus", ("v1", "sonnet-main"): "sonnet", ("v1", "haiku-main"): "haiku"}
    rates = tier_rates(default_policy(), builtin_price_table(), START)
    truth = (1 - OVERLOADED) * OPUS_SUCCESS
    all_opus = np.full(frame.height, 2, dtype=np.int64)

    fixed = attribute_fallbacks(frame, tiers)
    fell = frame["fallback_hops"].list.len() > 0
    assert fixed.filter(fell)["tier"].unique().to_list() == ["opus"]
    assert fixed.filter(fell)["reward"].max() == 0.0
    assert fixed.filter(~fell).equals(frame.filter(~fell))  # turns served by their primary are untouched
    data = prepare(fixed, rates, days=7.0, seed=1)
    for estimate in (snips_value(data, all_opus), dr_value(data, all_opus)):
        assert estimate == pytest.approx(truth, abs=0.02)

    # as logged, the rescued turns vanish from opus's evidence (its 529s never count against it) and
    # prop up sonnet with weights of 1/0.98 they never had: opus looks as good as when it answers
    logged = prepare(frame, rates, days=7.0, seed=1)
    assert snips_value(logged, all_opus) == pytest.approx(OPUS_SUCCESS, abs=0.02)
    assert abs(snips_value(logged, all_opus) - truth) > 0.2


def test_a_first_hop_naming_no_known_target_loses_its_tier() -> None:
    frame = _overloaded_world().head(200)
    fixed = attribute_fallbacks(frame, {("v1", "sonnet-main"): "sonnet"})
    fell = frame["fallback_hops"].list.len() > 0
    assert fell.any() and fixed.filter(fell)["tier"].null_count() == int(fell.sum())


def _passed_over_primary() -> tuple[str, ...]:
    """What the proxy records for a turn decided for opus while opus's circuit is open (it failed a
    moment ago): the real chain walk, sonnet serving."""
    policy = default_policy("v1")
    chain = tuple(next(t for t in policy.targets if t.name == f"anthropic-{tier}") for tier in ("opus", "sonnet"))
    breaker = CircuitBreaker(clock=lambda: 0.0)
    breaker.trip("anthropic-opus", policy.fallback.cooldown_s)

    async def attempt(target, hold, trail):
        return 200

    async def respond(held, trail):
        raise AssertionError("nothing is held back when the serving target answers 200")

    outcome = asyncio.run(walk_chain(chain, policy.fallback, breaker, attempt, respond))
    assert outcome.served_by is not None and outcome.served_by.name == "anthropic-sonnet"
    return outcome.fallback_hops


@pytest.mark.parametrize("recorded", [lambda: RESCUED_529, _passed_over_primary], ids=["rescued-529", "open-circuit"])
def test_load_turns_counts_fallbacks_against_the_primary(tmp_path: Path, recorded) -> None:
    """Through the store: turns served by sonnet after the opus target answered 529, or after the
    chain passed over opus because its circuit was open, load as opus turns that failed, by the
    stored policy's targets."""
    prices = builtin_price_table()
    engine = make_engine(migrated_sqlite_url(tmp_path))
    hops = recorded()
    try:
        policy = default_policy("v1", explore=30)
        create_version(engine, policy, actor="setup", now=START)
        activate(engine, "v1", actor="setup", now=START)
        world = generate(policy, prices, turns=600, seed=5)

        def fall_back(records: list[Turn]) -> list[Turn]:
            return [dataclasses.replace(record, fallback_hops=hops)
                    if record.target == "anthropic-sonnet" and index % 3 == 0 else record
                    for index, record in enumerate(records)]

        store_world(engine, world, prices, edit=fall_back)
        window = (START, START + timedelta(days=8))
        assert target_tiers(engine, prices)[("v1", "anthropic-opus")] == "opus"
        loaded = load_turns(engine, prices, *window)
        as_logged = load_turns(engine, prices, *window, fallback_reward=None)
        hops = fell_back_mask(loaded.frame)
        assert loaded.fell_back == int(hops.sum()) > 20 and as_logged.fell_back == 0
        assert loaded.frame.filter(hops)["tier"].unique().to_list() == ["opus"]
        assert loaded.frame.filter(hops)["reward"].max() == 0.0
        assert as_logged.frame.filter(hops)["tier"].unique().to_list() == ["sonnet"]
        assert loaded.usable == as_logged.usable == world.frame.height
        # the store's JSON text, parsed where a hop was recorded: the same as a list column
        listed = loaded.frame.with_columns(pl.col("fallback_hops").str.json_decode(pl.List(pl.String())))
        assert fell_back_mask(listed).equals(hops)
    finally:
        engine.dispose()


def test_a_failure_no_fallback_rescued_counts_against_its_target_not_the_requested_model(tmp_path: Path) -> None:
    """A haiku-decided turn whose only target answered 529 (no model served it, no hop recorded)
    is haiku's failure: not the tier of the model Claude Code asked for (sonnet here), which the
    policy rewrote and the proxy never sent."""
    prices = builtin_price_table()
    engine = make_engine(migrated_sqlite_url(tmp_path))
    try:
        policy = default_policy("v1", explore=30)
        create_version(engine, policy, actor="setup", now=START)
        activate(engine, "v1", actor="setup", now=START)
        world = generate(policy, prices, turns=600, seed=5)

        edited: set[int] = set()

        def overloaded(records: list[Turn]) -> list[Turn]:
            edited.update(index for index, record in enumerate(records)
                          if record.target == "anthropic-haiku" and index % 2 == 0)
            return [dataclasses.replace(records[index], served_model=None, status_code=529,
                                        error_type="overloaded_error") if index in edited else records[index]
                    for index in range(len(records))]

        store_world(engine, world, prices, edit=overloaded)
        window = (START, START + timedelta(days=8))
        for fallback_reward in (0.0, None):
            loaded = load_turns(engine, prices, *window, fallback_reward=fallback_reward)
            assert "target" not in loaded.frame.columns and "unserved" not in loaded.frame.columns
            # read with the requested model (sonnet's) for want of a served one, yet haiku's
            unserved = loaded.frame.filter((pl.col("model") == pl.col("requested_model")) & (pl.col("tier") == "haiku"))
            assert unserved.height == len(edited) > 20
            assert unserved["requested_tier"].unique().to_list() == ["sonnet"]
            # every turn on the tier that was decided for it, as the world routed it
            assert loaded.frame["tier"].value_counts().sort("tier").equals(
                world.frame["tier"].value_counts().sort("tier"))
    finally:
        engine.dispose()
