"""A fleet whose turns differ in thinking, tools offered and repo difficulty (sim.fleet_facts): the
facts are drawn and applied as the mix says, a policy routes on them as the proxy would, they reach
the records and the truth, and a fleet without a mix plans exactly what it planned before."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from core.policy.schema import Policy
from core.pricing import builtin_price_table
from sim.fleet import run_fast
from sim.fleet_config import MODEL_OF_TIER, TIERS, TOOL_COUNT, FleetConfig
from sim.fleet_counterfactual import tier_truth
from sim.fleet_facts import CORE_TOOLS, FactsMix, TurnFacts, facts_of, shifted
from sim.fleet_plan import SessionPlan, plan_sessions
from sim.fleet_presets import SEGMENTED_FACTS, routed_fleet, segmented_fleet
from sim.fleet_records import session_records
from sim.fleet_usage import Prices

START = datetime(2026, 11, 2, tzinfo=UTC)
SESSIONS = 600
# sha256 over (session_id, seq, tier, total_tokens, outcome, cost, difficulty, p_success, rule) of
# every planned turn, computed on the planner as it was before facts existed (commit 319bac4).
PLAIN_DIGEST = "42bf5ab2f63ef3934660cb3fc01e50457944c575b3947b8b791891b634d5a9c3"  # FleetConfig(seed=7, sessions=30)
ROUTED_DIGEST = "3408cd146e537a964bc6d312f28985ac345fa2dcaf99e239d485bebb5faf0e6e"  # routed_fleet(7, 30, _policy())


def _policy(*rules: dict[str, Any], explore: int = 20) -> Policy:
    """Thresholds at 12 K / 40 K tokens (haiku, sonnet, opus) after ``rules``; ``explore`` % of
    sessions split evenly over the tiers first."""
    targets = [{"name": f"anthropic-{tier}", "base_url": "https://api.anthropic.com", "model": MODEL_OF_TIER[tier],
                "tier": tier} for tier in TIERS]
    head = [{"name": "explore", "when": {"session_bucket": {"lt": explore}},
             "split": [{"weight": 1, "route": [f"anthropic-{tier}"]} for tier in TIERS]}] if explore else []
    thresholds = [{"name": "small", "when": {"input_tokens": {"lt": 12_000}}, "route": ["anthropic-haiku"]},
                  {"name": "large", "when": {"input_tokens": {"gte": 40_000}}, "route": ["anthropic-opus"]}]
    return Policy.model_validate({"version": "p1", "targets": targets, "rules": [*head, *rules, *thresholds],
                                  "default": {"route": ["anthropic-sonnet"]}})


def _digest(config: FleetConfig) -> str:
    digest = hashlib.sha256()
    for plan in plan_sessions(config, builtin_price_table()):
        for t in plan.turns:
            digest.update(repr((plan.session_id, t.seq, t.tier, t.total_tokens, t.outcome.value, round(t.cost_usd, 9),
                                round(t.difficulty, 9), round(t.p_success, 9), t.rule)).encode())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def plans() -> list[SessionPlan]:
    return list(plan_sessions(segmented_fleet(3, SESSIONS, _policy(), start=START), builtin_price_table()))


def test_without_a_mix_the_fleet_plans_what_it_planned_before_facts_existed() -> None:
    assert _digest(FleetConfig(seed=7, sessions=30)) == PLAIN_DIGEST
    # also pins core.policy's decide(): a change there that moves sessions between arms shows here too
    assert _digest(routed_fleet(7, 30, _policy(), start=START)) == ROUTED_DIGEST
    turns = [t for p in plan_sessions(FleetConfig(seed=7, sessions=30), builtin_price_table()) for t in p.turns]
    assert {(t.thinking, t.tool_count) for t in turns} == {(True, TOOL_COUNT)}


def test_a_mix_is_checked() -> None:
    with pytest.raises(ValueError, match="thinking_share"):
        FactsMix(thinking_share=1.2)
    with pytest.raises(ValueError, match="tool counts"):
        FactsMix(mcp_tools={"monorepo": -1})
    with pytest.raises(ValueError, match="core_tools"):
        FleetConfig(facts=FactsMix(core_tools=TOOL_COUNT - 1))  # the tools turns call must be offered


def test_a_turns_facts_and_shift_follow_the_mix() -> None:
    mix = SEGMENTED_FACTS
    monorepo = facts_of(mix, thinking=True, repo="monorepo")
    # thinking 0.3 + 24 MCP tools × 0.05 / 10
    assert (monorepo.thinking, monorepo.tool_count, monorepo.shift) == (True, CORE_TOOLS + 24, pytest.approx(0.42))
    routine_legacy = facts_of(mix, thinking=False, repo="legacy-billing")  # routine −0.25, legacy +0.1
    assert (routine_legacy.tool_count, routine_legacy.shift) == (CORE_TOOLS, pytest.approx(-0.15))
    assert facts_of(mix, thinking=False, repo="mobile-web") == TurnFacts(False, CORE_TOOLS, -0.4)
    assert facts_of(mix, thinking=True, repo="mobile-api") == TurnFacts(True, CORE_TOOLS, 0.3)
    assert (shifted(0.9, 0.3), shifted(0.1, -0.15), shifted(0.5, 0.1)) == (1.0, 0.0, pytest.approx(0.6))


def test_thinking_is_a_session_setting_drawn_at_the_mixs_share(plans: list[SessionPlan]) -> None:
    assert all(len({t.thinking for t in plan.turns}) == 1 for plan in plans)
    share = float(np.mean([plan.turns[0].thinking for plan in plans]))
    # binomial(600, 0.3): standard deviation 0.019
    assert abs(share - SEGMENTED_FACTS.thinking_share) < 0.08


def test_each_repo_offers_its_mcp_servers_tools(plans: list[SessionPlan]) -> None:
    counts = {(plan.repo, t.tool_count) for plan in plans for t in plan.turns}
    assert counts == {(repo, CORE_TOOLS + SEGMENTED_FACTS.mcp_tools.get(repo, 0)) for repo, _ in counts}
    assert {count for _, count in counts} == {17, 29, 35, 41}


def test_the_shift_applies_to_each_turns_difficulty(plans: list[SessionPlan]) -> None:
    """A session's first turn draws the same numbers with and without the mix (the thinking draw has
    a stream of its own), so its difficulty with the mix is exactly the one without, shifted."""
    plain = list(plan_sessions(routed_fleet(3, SESSIONS, _policy(), start=START), builtin_price_table()))
    for mixed, before in zip(plans, plain, strict=True):
        assert (mixed.session_id, mixed.repo, mixed.turns[0].total_tokens) == \
            (before.session_id, before.repo, before.turns[0].total_tokens)
        shift = facts_of(SEGMENTED_FACTS, thinking=mixed.turns[0].thinking, repo=mixed.repo).shift
        assert mixed.turns[0].difficulty == pytest.approx(shifted(before.turns[0].difficulty, shift), abs=1e-12)
    turns = [t for plan in plans for t in plan.turns]
    assert all(0.0 <= t.difficulty <= 1.0 for t in turns)
    harder = np.mean([t.difficulty for t in turns if t.thinking]) - np.mean([t.difficulty for t in turns
                                                                              if not t.thinking])
    # thinking 0.3 against routine −0.25, less what clipping at 0 and 1 takes off
    assert 0.35 < harder < 0.55, harder


def test_a_policy_routes_on_thinking_and_tool_count_as_the_proxy_would() -> None:
    policy = _policy({"name": "thinking", "when": {"thinking": True}, "route": ["anthropic-opus"]},
                     {"name": "many-tools", "when": {"tool_count": {"gte": 30}}, "route": ["anthropic-sonnet"]},
                     explore=0)
    plans = list(plan_sessions(segmented_fleet(4, 200, policy, start=START), builtin_price_table()))
    turns = [t for plan in plans for t in plan.turns]
    for turn in turns:
        expected = "thinking" if turn.thinking else "many-tools" if turn.tool_count >= 30 else None
        if expected is None:
            assert turn.rule in ("small", "large", "default")
        else:
            assert turn.rule == expected and turn.tier == {"thinking": "opus", "many-tools": "sonnet"}[expected]
    assert {t.rule for t in turns} >= {"thinking", "many-tools", "small", "default"}


def test_records_and_the_truth_carry_the_facts(plans: list[SessionPlan], tmp_path: Path) -> None:
    for plan in plans[:40]:
        records, _ = session_records(plan)
        assert [(r.thinking, r.tool_count) for r in records] == [(t.thinking, t.tool_count) for t in plan.turns]
    config = segmented_fleet(3, 40, _policy(), start=START)
    run_fast(config, builtin_price_table(), lambda turns, events: None, truth_path=tmp_path / "truth.csv")
    truth = pl.read_csv(tmp_path / "truth.csv", schema_overrides={"span_id": pl.String})
    assert truth["thinking"].dtype == pl.Boolean and truth["tool_count"].dtype == pl.Int64
    planned = [(t.thinking, t.tool_count) for plan in plans[:40] for t in plan.turns]
    assert list(zip(truth["thinking"], truth["tool_count"], strict=True)) == planned


def test_the_counterfactual_truth_uses_the_shifted_difficulty(plans: list[SessionPlan]) -> None:
    """Without failure modes or overloads, the truth's success probability on the tier that served
    a turn is exactly the one the planner decided that turn with."""
    prices = builtin_price_table()
    config = dataclasses.replace(segmented_fleet(3, 150, _policy(), start=START), modes=(), overload_rate=0.0)
    clean = list(plan_sessions(config, prices))
    truth = tier_truth(config, clean, Prices(prices))
    turns = [t for plan in clean for t in plan.turns]
    served = np.array([TIERS.index(t.tier) for t in turns])
    assert truth.p_success[np.arange(len(turns)), served] == pytest.approx([t.p_success for t in turns], abs=1e-12)
    # with the modes on, the turns no mode matches on their tier: the same, less natural overloads
    config = segmented_fleet(3, SESSIONS, _policy(), start=START)
    truth = tier_truth(config, plans, Prices(prices))
    rows = [(row, plan, t) for row, (plan, t) in enumerate((plan, t) for plan in plans for t in plan.turns)]
    unmatched = [(row, t) for row, plan, t in rows if not any(
        mode.matches(tier=t.tier, tools=t.tools, tokens=t.total_tokens, repo=plan.repo, team=plan.developer.team)
        for mode in config.modes)]
    assert len(unmatched) > len(rows) / 2
    assert [truth.p_success[row, TIERS.index(t.tier)] for row, t in unmatched] == pytest.approx(
        [(1 - config.overload_rate) * t.p_success for _, t in unmatched], abs=1e-12)
