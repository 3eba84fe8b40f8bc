"""Segment overrides: the optimizer's search space beyond two token thresholds (escalation on
thinking or tool density, per-repo thresholds) — what they route, how they are written into a
policy and read back, and that the search finds an escalation a threshold-only search cannot."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bench.optimizer_world import default_policy
from bench.rule_worlds import thinking_world
from core.policy.compile import compile_policy
from core.policy.decide import decide
from core.policy.facts import RouteFacts
from core.policy.validate import validate
from optimizer.candidate import params_of, with_params
from optimizer.evidence import choose
from optimizer.lagrange import block_map
from optimizer.pruning import pruned
from optimizer.replay import TIERS, ReplayData, Thresholds, dr_term_matrix
from optimizer.search import search
from optimizer.segments import Override, RoutingParams, Segment, candidate_segments, differing, with_segments
from optimizer.turn_facts import TurnFacts

REPOS = np.array(["api", "web", "legacy/billing", None], dtype=object)
PARAMS = RoutingParams(Thresholds(8_000, 60_000), (
    Override(Segment.repo("legacy/billing"), Thresholds(1, 20_000)),
    Override(Segment.thinking(), Thresholds(3_000, 3_000)),
    Override(Segment.tools(30), Thresholds(500, 40_000))))


def _facts(rng: np.random.Generator, n: int) -> tuple[np.ndarray, TurnFacts]:
    tokens = rng.integers(100, 200_000, n)
    return tokens, TurnFacts(rng.random(n) < 0.4, rng.choice([17, 17, 29, 41], n), rng.choice(REPOS, n))


def test_the_first_matching_segment_decides() -> None:
    tokens = np.array([5_000, 5_000, 5_000, 5_000, 50_000])
    facts = TurnFacts(np.array([False, True, True, False, False]), np.array([17, 17, 41, 41, 17]),
                      np.array(["legacy/billing", "legacy/billing", "api", "api", "api"], dtype=object))
    # repo first (sonnet at 5 K), then thinking (opus from 3 K), then tools (sonnet), then base
    assert PARAMS.actions(tokens, facts).tolist() == [1, 1, 2, 1, 1]
    assert PARAMS.actions(tokens, None).tolist() == PARAMS.base.actions(tokens).tolist()  # no facts: base only


def test_a_written_policy_routes_exactly_as_the_replay_assumes() -> None:
    """The proxy's decide() on the policy the optimizer writes sends every turn to the tier the
    replay priced it on: otherwise the evidence would describe another policy."""
    policy = with_params(default_policy("v1", explore=0), PARAMS, "v2")
    assert not [p for p in validate(policy) if p.severity == "error"]
    compiled = compile_policy(policy)
    tokens, facts = _facts(np.random.default_rng(3), 4_000)
    expected = PARAMS.actions(tokens, facts)
    tier_of = {target.name: target.tier for target in policy.targets}
    for i in range(tokens.size):
        decision = decide(compiled, RouteFacts(input_tokens=int(tokens[i]), thinking=bool(facts.thinking[i]),
                                               tool_count=int(facts.tool_count[i]), repo=facts.repo[i],
                                               session_id=f"s{i}"))
        assert tier_of[decision.chain[0].name] == TIERS[expected[i]], (i, decision.rule)


def test_overrides_are_read_back_and_replaced_not_stacked() -> None:
    start = default_policy("v1", explore=2)
    written = with_params(start, PARAMS, "v2")
    assert params_of(written) == PARAMS
    assert written.rules[0].name == "explore"  # exploration still comes first
    again = with_params(written, RoutingParams(Thresholds(4_000, 70_000), (PARAMS.overrides[1],)), "v3")
    assert params_of(again) == RoutingParams(Thresholds(4_000, 70_000), (PARAMS.overrides[1],))
    assert [r.name for r in again.rules] == ["explore", "thinking-haiku", "thinking-opus", "small", "large"]
    # back to thresholds only: every override rule goes
    assert [r.name for r in with_params(again, RoutingParams(Thresholds(4_000, 70_000)), "v4").rules] == \
        ["explore", "small", "large"]


def test_trailing_overrides_that_route_like_the_base_are_not_written() -> None:
    base = Thresholds(8_000, 60_000)
    params = RoutingParams(base, (Override(Segment.thinking(), Thresholds(1, 1)), Override(Segment.tools(30), base)))
    assert params.effective().overrides == params.overrides[:1]
    # one followed by another override stays: it keeps its turns away from the later one
    middle = RoutingParams(base, (Override(Segment.tools(30), base), Override(Segment.thinking(), Thresholds(1, 1))))
    assert middle.effective() == middle


def test_new_segments_start_where_the_active_policy_routes() -> None:
    tokens, facts = _facts(np.random.default_rng(5), 2_000)
    start = RoutingParams(Thresholds(8_000, 60_000), (PARAMS.overrides[1],))
    grown = with_segments(start, [Segment.repo("api"), Segment.thinking(), Segment.tools(29)])
    assert len(grown.overrides) == 3 and grown.overrides[0] == start.overrides[0]
    assert np.array_equal(grown.actions(tokens, facts), start.actions(tokens, facts))


def test_candidate_segments_need_enough_turns_and_sessions() -> None:
    rng = np.random.default_rng(0)
    n = 6_000
    sessions = np.repeat(np.arange(600), 10)
    per_session = rng.random(600) < 0.3
    facts = TurnFacts(np.repeat(per_session, 10), np.where(np.repeat(rng.random(600) < 0.2, 10), 41, 17),
                      np.repeat(rng.choice(np.array(["big", "small", "rare"], dtype=object), 600, p=[.6, .38, .02]),
                                10))
    found = candidate_segments(rng.integers(100, 10_000, n), facts, sessions)
    assert found == [Segment.thinking(), Segment.tools(41), Segment.repo("big"), Segment.repo("small")]
    assert candidate_segments(np.arange(n), None, sessions) == []  # no facts: thresholds only


def test_block_map_scores_every_pair_exactly() -> None:
    rng = np.random.default_rng(1)
    tokens = rng.integers(1, 1_000, 300)
    cost, terms = rng.random((300, 3)), rng.random((300, 3))
    mapped = block_map(tokens, cost, terms, low=1, high=1_001, quantiles=12)
    for pair, usd, quality in list(zip(mapped.pairs, mapped.cost, mapped.quality, strict=True))[::7]:
        actions = pair.actions(tokens)
        assert usd == pytest.approx(cost[np.arange(300), actions].sum())
        assert quality == pytest.approx(terms[np.arange(300), actions].sum())


def _escalation_world(seed: int) -> tuple[ReplayData, np.ndarray]:
    """Thinking turns need opus (haiku 0.55, sonnet 0.8, opus 0.95 succeed); the rest do as well on
    any tier (0.95). Logged uniformly at random per session (propensity 1/3)."""
    return thinking_world(seed)


def facts_mean(actions: np.ndarray, rows: np.ndarray) -> float:
    return float(actions[rows].mean())


def test_the_search_escalates_thinking_and_sends_the_rest_cheaper() -> None:
    data, p = _escalation_world(11)
    baseline = Thresholds(10_000, 30_000)

    def truth(params: RoutingParams) -> tuple[float, float]:
        actions = params.actions(data.tokens, data.facts)
        return float(p[np.arange(data.n), actions].mean()), float(data.cost[np.arange(data.n), actions].sum())

    base_q, base_cost = truth(RoutingParams(baseline))
    plain = choose(data, search(data, baseline, trials=60, seed=2, segments=()), seed=2)
    segmented_result = search(data, baseline, trials=60, seed=2)
    segmented = choose(data, segmented_result, seed=2)
    assert segmented.params is not None, segmented.reason
    assert [o.segment for o in segmented.params.overrides] == [Segment.thinking()]
    actions = segmented.params.actions(data.tokens, data.facts)
    assert facts_mean(actions, data.facts.thinking) > facts_mean(actions, ~data.facts.thinking) + 0.5  # escalated
    q, cost = truth(segmented.params)
    assert q >= base_q - segmented_result.margin
    plain_cost = truth(plain.params)[1] if plain.params is not None else base_cost
    assert cost <= 0.8 * plain_cost, (cost / base_cost, plain_cost / base_cost)
    assert "for turns with thinking on" in segmented.evidence["rationale"]


def test_only_segments_whose_tiers_compare_differently_are_searched() -> None:
    data, _ = _escalation_world(12)
    rng = np.random.default_rng(4)
    # a repo tag drawn per session at random: its tiers compare as everywhere else
    tagged = np.repeat(rng.choice(np.array(["noise", "other"], dtype=object), data.n // 8), 8)
    facts = TurnFacts(data.facts.thinking, data.facts.tool_count, tagged)
    found = candidate_segments(data.tokens, facts, data.sessions)
    assert Segment.repo("noise") in found and Segment.thinking() in found
    assert differing(found, dr_term_matrix(data), facts, data.sessions) == [Segment.thinking()]


def test_an_override_that_saves_little_is_pruned() -> None:
    data, _ = _escalation_world(13)
    result = search(data, Thresholds(10_000, 30_000), trials=60, seed=3)
    useful = result.feasible_by_cost()[0].params.effective()
    assert [o.segment for o in useful.overrides] == [Segment.thinking()]
    assert pruned(data, result, useful) == useful  # the thinking override saves most of the cost: it stays
    # the same policy plus an override for a segment (tool-dense requests) that moves a few turns
    tools = np.where(np.arange(data.n) % 50 == 0, 41, 17)
    data = replace(data, facts=TurnFacts(data.facts.thinking, tools, data.facts.repo))
    padded = replace(useful, overrides=(*useful.overrides, Override(Segment.tools(41), Thresholds(1, 10**9))))
    assert pruned(data, result, padded) == useful
