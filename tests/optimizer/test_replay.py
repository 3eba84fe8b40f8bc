"""The replay's estimators against the synthetic world's known truth (pure, no database)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from bench.optimizer_world import default_policy, generate
from core.price_memo import PerToken
from core.pricing import builtin_price_table
from optimizer.candidate import thresholds_of
from optimizer.propose import tier_rates
from optimizer.replay import (
    Thresholds,
    dr_estimate,
    effective_sample_size,
    prepare,
    snips_estimate,
    total_cost,
)


@pytest.fixture(scope="module")
def world_and_data():  # type: ignore[no-untyped-def]
    prices = builtin_price_table()
    policy = default_policy(explore=30)
    world = generate(policy, prices, turns=20_000, seed=11)
    data = prepare(world.frame, tier_rates(policy, prices, world.frame["started_at"].max()), days=world.days, seed=11)
    return world, data


@pytest.mark.parametrize("thresholds", [Thresholds(2_000, 150_000), Thresholds(40_000, 60_000),
                                        Thresholds(1_000, 1_000), Thresholds(500_000, 500_000)])
def test_estimates_cover_the_true_quality(world_and_data, thresholds: Thresholds) -> None:  # type: ignore[no-untyped-def]
    world, data = world_and_data
    actions = thresholds.actions(data.tokens)
    truth = world.true_quality(thresholds)
    dr, snips = dr_estimate(data, actions, seed=1), snips_estimate(data, actions, seed=1)
    # a 95% interval, widened by a little for the session clustering of exploration
    for estimate in (dr, snips):
        assert estimate.low - 0.01 <= truth <= estimate.high + 0.01, (estimate, truth)
    assert dr.low <= dr.value <= dr.high


def test_counterfactual_cost_matches_the_truth(world_and_data) -> None:  # type: ignore[no-untyped-def]
    world, data = world_and_data
    for thresholds in (Thresholds(2_000, 150_000), Thresholds(50_000, 60_000), Thresholds(1_000, 1_000)):
        estimated = total_cost(data, thresholds.actions(data.tokens))
        assert estimated == pytest.approx(world.true_cost(thresholds), rel=0.02)


def test_ess_is_full_on_policy_and_small_far_from_it(world_and_data) -> None:  # type: ignore[no-untyped-def]
    _, data = world_and_data
    logged_policy = thresholds_of(default_policy(explore=30))
    on = effective_sample_size(data, logged_policy.actions(data.tokens))
    off = effective_sample_size(data, Thresholds(500_000, 500_000).actions(data.tokens))
    assert on > 0.6 * data.n
    assert off < 0.15 * data.n


def test_seeded_estimates_repeat(world_and_data) -> None:  # type: ignore[no-untyped-def]
    _, data = world_and_data
    actions = Thresholds(30_000, 60_000).actions(data.tokens)
    assert dr_estimate(data, actions, seed=3) == dr_estimate(data, actions, seed=3)
    assert np.isfinite(dr_estimate(data, actions, seed=3).half_width)


def test_thresholds_are_ordered() -> None:
    with pytest.raises(ValueError):
        Thresholds(10, 5)


def test_ess_in_sessions_counts_sessions_not_turns() -> None:
    """Forty sessions of 25 turns each: however many agreeing turns, the evidence is at most forty
    sessions' worth; with the weight in one session, it is one."""
    from dataclasses import replace

    from optimizer.replay import ReplayData, effective_sessions

    n, per = 1_000, 25
    ones = np.ones(n)
    data = ReplayData(tokens=np.full(n, 1_000), logged=np.zeros(n, dtype=np.int8), propensity=ones, reward=ones,
                      cost=np.ones((n, 3)), predicted=np.ones((n, 3)), days=1.0,
                      session=np.repeat(np.arange(n // per), per))
    everything_haiku = np.zeros(n, dtype=np.int8)
    assert effective_sample_size(data, everything_haiku) == pytest.approx(n)
    assert effective_sessions(data, everything_haiku) == pytest.approx(n // per)
    one_session = np.where(np.arange(n) < per, 0, 1).astype(np.int8)  # agrees on the first session only
    assert effective_sessions(data, one_session) == pytest.approx(1.0)
    assert effective_sessions(replace(data, session=None), everything_haiku) == pytest.approx(n)  # a turn a session


def test_the_quality_margin_is_capped(world_and_data) -> None:  # type: ignore[no-untyped-def]
    """However wide the active policy's interval, a candidate may give up at most max_quality_loss."""
    import optuna

    from optimizer.search import search

    _, data = world_and_data
    baseline = thresholds_of(default_policy(explore=30))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    loose = search(data, baseline, trials=50, seed=3, max_quality_loss=None)
    capped = search(data, baseline, trials=50, seed=3, max_quality_loss=loose.margin / 4)
    assert loose.margin > 0 and capped.margin == pytest.approx(loose.margin / 4)
    assert capped.floor == pytest.approx(capped.baseline_quality.value - loose.margin / 4)
    assert all(t.delta_low >= -capped.margin for t in capped.trials[1:] if t.feasible)


def test_output_means_follow_the_prompt_size_not_the_routing() -> None:
    """Haiku truncates large turns only (32 000 output tokens) and the routing sends it mostly small
    ones: its mean over the turns it served would price a large turn moved to haiku far too low and a
    small one too high. Per size band and weighted by 1/propensity, each turn gets its own band's."""
    from optimizer.replay import output_means

    rng = np.random.default_rng(0)
    n = 20_000
    tokens = rng.integers(1_000, 100_000, n)
    large = tokens >= 50_000
    explored = rng.random(n) < 0.1
    logged = np.where(explored, rng.integers(0, 3, n), np.where(large, 2, 0)).astype(np.int8)
    propensity = np.where(explored, 0.1 / 3, 0.9 + 0.1 / 3)
    out = np.where((logged == 0) & large, 32_000.0, 500.0)
    means = output_means(out, logged, 1 / propensity, tokens)
    assert means[np.argmax(tokens), 0] == pytest.approx(32_000, rel=0.01)  # a large turn on haiku truncates
    assert means[np.argmin(tokens), 0] == pytest.approx(500, rel=0.01)  # a small one does not
    assert means[np.argmax(tokens), 2] == pytest.approx(500, rel=0.01)


def test_output_ratios_are_the_request_class_s_own() -> None:
    """Haiku truncates main turns (32 000 output tokens) but never an auxiliary call, and the routing
    sends auxiliary calls to haiku and main turns to sonnet, at every size. Over a size band, haiku's
    mean output is the main turns' truncations, so an auxiliary call moved haiku → sonnet was priced
    at a fiftieth of its output (issue 16's request-class world: a proposal "saved" by moving the
    calls to a tier three times dearer). Per class, its output is the same on every tier."""
    from optimizer.replay import cost_matrix

    rng = np.random.default_rng(1)
    n = 20_000
    tokens = rng.integers(1_000, 100_000, n)
    auxiliary = rng.random(n) < 0.3
    explored = rng.random(n) < 0.1
    logged = np.where(explored, rng.integers(0, 3, n), np.where(auxiliary, 0, 1)).astype(np.int8)
    out = np.where((logged == 0) & ~auxiliary, 32_000.0, 600.0)
    frame = pl.DataFrame({"tokens": tokens, "output_tokens": out.astype(np.int64),
                          "propensity": np.where(explored, 0.1 / 3, 0.9 + 0.1 / 3),
                          "input_tokens": np.full(n, 500), "cache_creation_tokens": np.zeros(n, dtype=np.int64),
                          "cache_read_tokens": np.zeros(n, dtype=np.int64),
                          "request_class": np.where(auxiliary, "auxiliary", "main").tolist()})
    rates = {tier: PerToken(input=rate, output=5 * rate, cache_write_5m=1.25 * rate, cache_write_1h=2 * rate,
                            cache_read=rate / 10) for tier, rate in (("haiku", 1e-6), ("sonnet", 3e-6),
                                                                     ("opus", 5e-6))}
    costs = cost_matrix(frame, logged, rates)
    calls = auxiliary & (logged == 0)
    # an auxiliary call's output is 600 tokens on every tier: sonnet costs 3× haiku, opus 5×
    assert costs[calls, 1] / costs[calls, 0] == pytest.approx(np.full(int(calls.sum()), 3.0), rel=0.02)
    assert costs[calls, 2] / costs[calls, 0] == pytest.approx(np.full(int(calls.sum()), 5.0), rel=0.02)
    # a main turn moved to haiku still costs haiku's truncation
    main_on_sonnet = ~auxiliary & (logged == 1)
    assert np.all(costs[main_on_sonnet, 0] > 5 * costs[main_on_sonnet, 1])
