"""A fleet routed by a real policy: each turn's tier, rule and propensity come from core.policy's
decide(), and the per-tier counterfactual truth agrees with what the planner actually drew."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from bench.optimizer_world import default_policy
from core.pricing import builtin_price_table
from sim.fleet_config import TIERS, FleetConfig
from sim.fleet_counterfactual import tier_truth
from sim.fleet_plan import plan_sessions
from sim.fleet_presets import routed_fleet
from sim.fleet_records import session_records
from sim.fleet_usage import Prices

START = datetime(2026, 11, 2, tzinfo=UTC)
POLICY = default_policy("p1", haiku_below=12_000, opus_from=40_000, explore=20)


def test_every_turn_is_routed_by_the_policy_with_its_propensity() -> None:
    prices = builtin_price_table()
    plans = list(plan_sessions(routed_fleet(5, 300, POLICY, start=START), prices))
    turns = [turn for plan in plans for turn in plan.turns]
    assert {turn.policy_version for turn in turns} == {"p1"}
    assert {turn.rule for turn in turns} == {"explore", "small", "large", "default"}
    for turn in turns:
        if turn.rule == "explore":
            assert turn.propensity is not None and 0 < turn.propensity < 1
            continue
        expected = "haiku" if turn.total_tokens < 12_000 else "opus" if turn.total_tokens >= 40_000 else "sonnet"
        assert turn.tier == expected and turn.model.startswith(f"claude-{expected}")
        assert turn.propensity is not None and turn.propensity >= 0.8  # 80 % of sessions follow the thresholds
    explored = {plan.session_id for plan in plans if plan.turns[0].rule == "explore"}
    assert 0.12 < len(explored) / len(plans) < 0.28  # ≈ 20 % of sessions by their hash
    records, _ = session_records(plans[0])
    assert [r.propensity for r in records] == [t.propensity for t in plans[0].turns]
    assert {r.target for r in records} <= {f"anthropic-{tier}" for tier in TIERS}


def test_without_a_policy_the_fleet_is_unchanged() -> None:
    prices = builtin_price_table()
    plain = [t for p in plan_sessions(FleetConfig(seed=9, sessions=30), prices) for t in p.turns]
    assert all(t.rule is None and t.propensity is None and t.requested_model is None for t in plain)


def test_the_counterfactual_truth_matches_what_the_planner_drew() -> None:
    """On the served tier, the truth's success probabilities must average to the share of turns
    that actually succeeded (a law of large numbers check), and opus must beat haiku on big turns."""
    prices = builtin_price_table()
    config = routed_fleet(6, 1_500, POLICY, start=START)
    plans = list(plan_sessions(config, prices))
    truth = tier_truth(config, plans, Prices(prices))
    turns = [turn for plan in plans for turn in plan.turns]
    served = np.array([TIERS.index(turn.tier) for turn in turns])
    expected, _ = truth.of_actions(served)
    realised = float(np.mean([turn.outcome.succeeded for turn in turns]))
    assert abs(expected - realised) < 3 * np.sqrt(realised * (1 - realised) / len(turns)) + 0.002
    big = truth.tokens >= 60_000
    assert truth.p_success[big, 2].mean() > truth.p_success[big, 1].mean() > truth.p_success[big, 0].mean()
    # under the logged routing the truth's cache model reproduces what the planner charged, turn by turn
    cost_of_served = np.array([turn.cost_usd for turn in turns])
    ok = np.array([turn.status == 200 for turn in turns])
    assert np.allclose(truth.costs(served)[ok], cost_of_served[ok])
    # and a switch of tier mid-session costs more than staying (the new tier writes the whole prompt)
    all_sonnet, alternating = np.ones_like(served), np.arange(len(served)) % 2
    assert truth.of_actions(alternating)[1] > 0.5 * (truth.of_actions(np.zeros_like(served))[1]
                                                     + truth.of_actions(all_sonnet)[1])
