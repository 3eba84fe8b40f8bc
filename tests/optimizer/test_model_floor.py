"""The floor under the quality interval for what a candidate buys: a handful of explored turns on a
dearer tier that all succeeded show no spread, so neither the session bootstrap nor the clustered
standard error sees the risk of crediting the move they stand behind; the outcome model's own coin
flips (optimizer.replay.upgrade_standard_error) are the least the interval allows. Pure, synthetic."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.bootstrap import clustered_standard_error, resampled_means
from optimizer.replay import (
    ReplayData,
    difference_lower_bound,
    dr_difference,
    dr_terms,
    upgrade_standard_error,
    wilson_low,
)

SESSIONS, PER_SESSION = 2_000, 4


def _purchase() -> tuple[ReplayData, np.ndarray, np.ndarray, float]:
    """Every session on haiku, 3 % explored on sonnet; both tiers truly succeed on 97 % of turns, as
    the outcome model says, and the few explored sonnet turns of the calls the candidate moves to
    sonnet all happened to succeed (as likely as not for a few dozen turns at 0.97: issue 16's
    request-class world, auxiliary calls). Returns the data, the candidate's and the baseline's
    actions, and the true quality change (none)."""
    rng = np.random.default_rng(7)
    session = np.repeat(np.arange(SESSIONS), PER_SESSION)
    calls = np.repeat(rng.random(SESSIONS) < 0.2, PER_SESSION)
    explored = np.repeat(rng.random(SESSIONS) < 0.03, PER_SESSION)
    logged = np.where(explored, 1, 0).astype(np.int8)
    reward = (rng.random(session.size) < 0.97).astype(float)
    reward[explored & calls] = 1.0  # the thin cell: every explored call on sonnet succeeded
    tokens = np.full(session.size, 2_000, dtype=np.int64)
    data = ReplayData(tokens=tokens, logged=logged, propensity=np.where(explored, 0.03, 0.97), reward=reward,
                      cost=np.column_stack([tokens * 1e-6, tokens * 3e-6, tokens * 5e-6]),
                      predicted=np.full((session.size, 3), 0.97), days=7.0, session=session)
    return data, np.where(calls, 1, 0).astype(np.int8), np.zeros(session.size, dtype=np.int8), 0.0


def test_the_bootstrap_alone_credits_a_thin_purchase_and_the_floor_covers_the_truth() -> None:
    data, candidate, baseline, truth = _purchase()
    assert 0 < int(((data.logged == 1) & (candidate == 1)).sum()) <= 80  # a few dozen explored turns
    terms = dr_terms(data, candidate) - dr_terms(data, baseline)
    samples = resampled_means(data.sessions, terms, 200, np.random.default_rng(0))
    assert float(np.nanpercentile(samples, 2.5)) > truth  # the data's own interval excludes the truth
    floored = dr_difference(data, candidate, baseline, seed=0)
    assert floored.value == pytest.approx(float(terms.mean()))
    assert floored.low <= truth <= floored.high
    assert floored.value - floored.low == pytest.approx(1.96 * upgrade_standard_error(data, candidate, baseline),
                                                        rel=1e-3)


def test_the_search_test_uses_the_floor_too() -> None:
    data, candidate, baseline, truth = _purchase()
    delta, lower = difference_lower_bound(data, candidate, baseline, 1.96)
    assert delta > 0  # the point estimate calls the purchase an improvement
    assert lower <= truth < delta
    terms = dr_terms(data, candidate) - dr_terms(data, baseline)
    assert delta - 1.96 * clustered_standard_error(data.sessions, terms) > truth  # without the floor: excluded


def test_no_floor_on_cheaper_moves_or_no_moves() -> None:
    data, candidate, baseline, _ = _purchase()
    assert upgrade_standard_error(data, candidate, baseline) > 0
    assert upgrade_standard_error(data, baseline, candidate) == 0.0  # sonnet → haiku: the data's own interval
    assert upgrade_standard_error(data, baseline, baseline) == 0.0


def test_a_model_as_sure_as_a_lucky_cell_is_held_to_what_the_cell_shows() -> None:
    """Fitted to a cell of successes the model predicts 1.0 and its coin flips have no spread; the
    floor then takes the Wilson lower bound of the explored turns behind the move (k of k
    successes: far from 1.0 for a few dozen, close to it for thousands), so it knows how many
    turns stand behind the model's certainty. Before (session 11 to 13) there was no floor there:
    issue 16's tool-density world claimed +0.0170 (+0.0014 … +0.0305) for a true −0.0002 on a move
    to opus whose 163 explored turns held one failure (the truth, 0.97, has a ~4 % chance of so few)."""
    data, candidate, baseline, _ = _purchase()
    sure = ReplayData(data.tokens, data.logged, data.propensity, data.reward, data.cost,
                      np.ones_like(data.predicted), data.days, data.session)
    rows = np.flatnonzero(candidate > baseline)
    explored = rows[data.logged[rows] == 1]
    low = wilson_low(float(data.reward[explored].sum()), explored.size)
    assert data.reward[explored].all() and low < 0.95  # a few dozen successes
    weights = 1 / data.propensity[explored]
    assert upgrade_standard_error(sure, candidate, baseline) == pytest.approx(
        np.sqrt((weights * weights).sum() * low * (1 - low)) / data.n)
    assert wilson_low(5_000, 5_000) > 0.999 and wilson_low(162, 163) < 0.97 < 162 / 163
