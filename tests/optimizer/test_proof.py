"""The optimizer's acceptance bar, on the synthetic world's known truth: optimise on one sample,
judge on a fresh one (different seed). Pure (no database); the store path is test_propose."""

from __future__ import annotations

import pytest

from bench.optimizer_world import default_policy, generate, oracle
from core.pricing import builtin_price_table
from optimizer.candidate import thresholds_of
from optimizer.evidence import choose
from optimizer.propose import tier_rates
from optimizer.replay import prepare
from optimizer.search import search

TRAIN_SEED, FRESH_SEED = 101, 202


@pytest.fixture(scope="module")
def setting():  # type: ignore[no-untyped-def]
    prices = builtin_price_table()
    policy = default_policy(explore=30)
    train = generate(policy, prices, turns=100_000, seed=TRAIN_SEED)
    fresh = generate(policy, prices, turns=50_000, seed=FRESH_SEED)
    data = prepare(train.frame, tier_rates(policy, prices, train.frame["started_at"].max()), days=train.days,
                   seed=TRAIN_SEED)
    return thresholds_of(policy), data, fresh


def _judge(setting, z: float):  # type: ignore[no-untyped-def]
    baseline, data, fresh = setting
    result = search(data, baseline, trials=250, seed=TRAIN_SEED, z=z)
    choice = choose(data, result, seed=TRAIN_SEED)
    assert choice.params is not None, choice.reason
    base_q, base_cost = fresh.true_quality(baseline), fresh.true_cost(baseline)
    best, best_cost, best_q = oracle(fresh, base_q)
    proposal = choice.params.base
    q, cost = fresh.true_quality(proposal), fresh.true_cost(proposal)
    print(f"\nz={z}: proposal {proposal} saves {1 - cost / base_cost:.1%} on the fresh sample; "
          f"quality {q:.4f} vs default {base_q:.4f} (margin {result.margin:.4f}); oracle {best} saves "
          f"{1 - best_cost / base_cost:.1%} at {best_q:.4f}; proposal/oracle cost {cost / best_cost:.3f}")
    return q, cost, base_q, base_cost, best_cost, result.margin


def test_proposal_cuts_cost_a_quarter_at_no_worse_quality_near_the_oracle(setting) -> None:  # type: ignore[no-untyped-def]
    """With the default guard (the lower 95 % bound of the paired quality difference clears the
    floor): ≥ 25 % cheaper than the hand-written default on a fresh sample, no worse in true
    quality, within 5 % of the oracle threshold policy's cost. (Trusting point estimates, z=0,
    overshoots: on these seeds it saves 33 % but loses 0.006 of true quality, beyond the margin.)"""
    q, cost, base_q, base_cost, best_cost, _ = _judge(setting, z=1.96)
    assert q >= base_q
    assert cost <= 0.75 * base_cost
    assert abs(cost / best_cost - 1) <= 0.05
