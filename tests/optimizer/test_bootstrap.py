"""The session (cluster) bootstrap: when a session's turns move together its intervals are about
√(turns per session) wider than a bootstrap over turns; when turns are independent the two agree;
seeded; and the search's normal approximation uses the same clustering. Pure, synthetic data."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from optimizer.bootstrap import clustered_standard_error, dense, resampled_means, session_codes
from optimizer.replay import (
    ReplayData,
    Thresholds,
    dr_difference,
    dr_estimate,
    snips_estimate,
)
from optimizer.watch import compare

SESSIONS, PER_SESSION = 1_000, 16  # √16 = 4: the widening expected when a session's turns are one draw


def _data(reward: np.ndarray, session: np.ndarray | None, *, logged: np.ndarray | None = None,
          propensity: np.ndarray | None = None) -> ReplayData:
    """Turns whose DR term is their reward: q̂ = 0 everywhere, all served by haiku at propensity 1."""
    n = reward.size
    return ReplayData(tokens=np.full(n, 100, dtype=np.int64),
                      logged=np.zeros(n, dtype=np.int8) if logged is None else logged,
                      propensity=np.ones(n) if propensity is None else propensity, reward=reward,
                      cost=np.zeros((n, 3)), predicted=np.zeros((n, 3)), days=7.0, session=session)


def _sessions() -> np.ndarray:
    return np.repeat(np.arange(SESSIONS), PER_SESSION)


def _haiku(n: int) -> np.ndarray:
    return np.zeros(n, dtype=np.int8)


def test_perfectly_correlated_sessions_widen_the_interval_by_root_turns_per_session() -> None:
    rng = np.random.default_rng(1)
    reward = np.repeat((rng.random(SESSIONS) < 0.7).astype(float), PER_SESSION)  # one outcome per session
    clustered, by_turn = _data(reward, _sessions()), _data(reward, None)
    actions = _haiku(reward.size)
    for estimate in (dr_estimate, snips_estimate):
        wide = estimate(clustered, actions, rounds=400, seed=2)
        narrow = estimate(by_turn, actions, rounds=400, seed=2)
        assert wide.value == pytest.approx(narrow.value)
        assert 3.0 <= wide.half_width / narrow.half_width <= 5.0, (estimate.__name__, wide, narrow)
    # the widened interval is about right: ± 1.96 standard errors of a mean of SESSIONS Bernoulli draws
    expected = 1.96 * np.sqrt(0.7 * 0.3 / SESSIONS)
    assert dr_estimate(clustered, actions, rounds=400, seed=2).half_width == pytest.approx(expected, rel=0.2)


def test_independent_turns_give_the_same_interval_either_way() -> None:
    rng = np.random.default_rng(3)
    reward = (rng.random(SESSIONS * PER_SESSION) < 0.7).astype(float)  # each turn its own draw
    clustered, by_turn = _data(reward, _sessions()), _data(reward, None)
    actions = _haiku(reward.size)
    for estimate in (dr_estimate, snips_estimate):
        ratio = (estimate(clustered, actions, rounds=400, seed=4).half_width
                 / estimate(by_turn, actions, rounds=400, seed=4).half_width)
        assert 0.8 <= ratio <= 1.25, (estimate.__name__, ratio)


def test_the_paired_difference_resamples_sessions_too() -> None:
    """An exploration split picks a session's tier once: candidate and baseline disagree on whole
    sessions, and the difference's interval must reflect it."""
    rng = np.random.default_rng(5)
    session = _sessions()
    explored = np.repeat(rng.random(SESSIONS) < 0.3, PER_SESSION)
    logged = np.where(explored, 1, 0).astype(np.int8)
    propensity = np.where(explored, 0.3, 0.7)
    reward = np.repeat((rng.random(SESSIONS) < 0.8).astype(float), PER_SESSION)
    candidate, baseline = np.ones(reward.size, dtype=np.int8), _haiku(reward.size)
    wide = dr_difference(_data(reward, session, logged=logged, propensity=propensity), candidate, baseline, seed=6)
    narrow = dr_difference(_data(reward, None, logged=logged, propensity=propensity), candidate, baseline, seed=6)
    assert wide.value == pytest.approx(narrow.value)
    assert wide.half_width >= 3.0 * narrow.half_width


def test_seeded_results_repeat_and_seeds_differ() -> None:
    rng = np.random.default_rng(7)
    reward = np.repeat(rng.random(SESSIONS), PER_SESSION)
    data = _data(reward, _sessions())
    actions = _haiku(reward.size)
    assert dr_estimate(data, actions, seed=8) == dr_estimate(data, actions, seed=8)
    assert snips_estimate(data, actions, seed=8) == snips_estimate(data, actions, seed=8)
    assert dr_estimate(data, actions, seed=8) != dr_estimate(data, actions, seed=9)


def test_a_round_is_the_concatenation_of_the_drawn_sessions() -> None:
    """The per-session sums give exactly what drawing sessions and pooling their turns would."""
    session = np.array([0, 0, 0, 1, 2, 2])
    values = np.array([1.0, 2.0, 3.0, 10.0, 5.0, 7.0])
    means = resampled_means(session, values, 50, np.random.default_rng(0))
    rng = np.random.default_rng(0)
    for mean in means:
        drawn = rng.integers(0, 3, size=3)  # the round's sessions, drawn as the bootstrap draws them
        pooled = np.concatenate([values[session == s] for s in drawn])
        assert mean == pytest.approx(pooled.mean())


def test_clustered_standard_error() -> None:
    rng = np.random.default_rng(10)
    values = rng.random(500)
    # one turn per session: the sample standard deviation / √n
    assert clustered_standard_error(np.arange(500), values) == pytest.approx(values.std(ddof=1) / np.sqrt(500))
    # equal-sized sessions: the standard deviation of the session means / √sessions
    means = rng.random(100)
    session = np.repeat(np.arange(100), 5)
    assert clustered_standard_error(session, means[session]) == pytest.approx(means.std(ddof=1) / 10)


def test_session_codes() -> None:
    codes = session_codes(pl.Series(["b", "a", None, "b", None, "c"]), 6)
    assert codes[0] == codes[3] and len({codes[1], codes[2], codes[4], codes[5], codes[0]}) == 5
    assert sorted(set(codes.tolist())) == list(range(5))  # dense: two sessions, one of its own per null, …
    assert session_codes(None, 4).tolist() == [0, 1, 2, 3]  # no column: every turn is its own session
    assert dense(np.array([7, 7, 3, 9])).tolist() == [1, 1, 0, 2]
    with pytest.raises(ValueError):
        session_codes(pl.Series(["a"]), 2)


def test_prepare_reads_sessions_and_falls_back_to_turns() -> None:
    from bench.optimizer_world import default_policy, generate
    from core.pricing import builtin_price_table
    from optimizer.propose import tier_rates
    from optimizer.replay import prepare

    prices = builtin_price_table()
    policy = default_policy(explore=30)
    world = generate(policy, prices, turns=2_000, seed=12)  # 10 turns a session
    rates = tier_rates(policy, prices, world.frame["started_at"].max())
    with_sessions = prepare(world.frame, rates, days=world.days)
    assert with_sessions.session is not None and int(with_sessions.sessions.max()) + 1 == 200
    without = prepare(world.frame.drop("session_id"), rates, days=world.days)
    assert without.session is not None and int(without.sessions.max()) + 1 == 2_000
    actions = Thresholds(5_000, 100_000).actions(with_sessions.tokens)
    assert dr_estimate(with_sessions, actions).value == dr_estimate(without, actions).value


def test_the_search_floor_uses_the_clustered_standard_error() -> None:
    from optimizer.replay import dr_terms
    from optimizer.search import search

    rng = np.random.default_rng(13)
    n = SESSIONS * PER_SESSION // 4
    session = np.repeat(np.arange(n // PER_SESSION), PER_SESSION)
    tokens = np.exp(rng.uniform(np.log(1_000), np.log(200_000), n // PER_SESSION)).astype(np.int64)[session]
    logged = rng.integers(0, 3, n // PER_SESSION).astype(np.int8)[session]
    reward = np.repeat((rng.random(n // PER_SESSION) < 0.8).astype(float), PER_SESSION)
    data = ReplayData(tokens=tokens, logged=logged, propensity=np.full(n, 1 / 3), reward=reward,
                      cost=np.column_stack([tokens * 1e-6, tokens * 3e-6, tokens * 5e-6]),
                      predicted=np.full((n, 3), 0.8), days=7.0, session=session)
    baseline = Thresholds(5_000, 100_000)
    result = search(data, baseline, trials=49, seed=1, polish=0)
    base_terms = dr_terms(data, baseline.actions(tokens))
    for trial in result.trials[1:6]:
        paired = dr_terms(data, trial.params.actions(tokens)) - base_terms
        expected = paired.mean() - 1.96 * clustered_standard_error(session, paired)
        assert trial.delta_low == pytest.approx(expected)
        assert clustered_standard_error(session, paired) > 2 * paired.std() / np.sqrt(n) or paired.std() == 0


def test_the_rollback_watch_resamples_each_sides_sessions() -> None:
    rng = np.random.default_rng(14)
    session = _sessions()
    now = np.repeat((rng.random(SESSIONS) < 0.85).astype(float), PER_SESSION)
    before = np.repeat((rng.random(SESSIONS) < 0.85).astype(float), PER_SESSION)
    wide = compare(now, before, seed=1, current_sessions=session, previous_sessions=session)
    narrow = compare(now, before, seed=1)
    assert wide.value == pytest.approx(narrow.value)
    assert 3.0 <= wide.half_width / narrow.half_width <= 5.0
    assert wide == compare(now, before, seed=1, current_sessions=session, previous_sessions=session)
