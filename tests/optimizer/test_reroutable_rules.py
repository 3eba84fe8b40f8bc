"""A rule the team wrote for a kind of work is a candidate to re-route (issue 16, item 1): its turns
stay in the replay as a block of their own that the search may send, whole, to another tier; no
other block ever moves them; without an override they go where the rule sends them as written; the
guards treat a re-route like any other change (a thin one is undone back to the rule's own tier)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.rule_worlds import compaction_world
from core.policy.compile import compile_policy
from core.policy.decide import decide
from core.policy.facts import RouteFacts
from core.policy.load import load_policy
from core.policy.schema import Policy
from optimizer.candidate import params_of, reroutable, with_params
from optimizer.evidence import choose
from optimizer.explore_more import DEFAULT_CAP, arms_of, exploration_asks, thin_of, tier_targets, with_exploration
from optimizer.explored import thin_parts
from optimizer.propose import candidate_problems
from optimizer.replay import ReplayData, Thresholds
from optimizer.search import search
from optimizer.segments import TIER_THRESHOLDS, HaikuLimit, Override, RoutingParams, RuleRoute, Segment
from optimizer.turn_facts import TurnFacts

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "policy.yaml"
COMPACTION = Segment.rule("compaction")


def test_only_rules_for_a_kind_of_work_are_reroutable() -> None:
    """What the request is (class, agent type, thinking, tools, size) may be re-routed; a rule that
    names who asks or for which code, or rewrites the model, is the team's pin."""
    policy = load_policy(EXAMPLE.read_text())
    found = {rule.name: reroutable(policy, rule) for rule in policy.rules[:5]}  # the rules before the tier rules
    assert found == {"compaction": True, "security-repos": False, "explore-subagents": True, "big-thinking": True,
                     "platform-asks-opus": False}
    assert [rule.name for rule in params_of(policy).rules] == ["compaction", "explore-subagents", "big-thinking"]
    compaction = policy.rules[0]
    assert not reroutable(policy, compaction.model_copy(update={"model": "claude-opus-4-5"}))
    untiered = policy.model_copy(update={"targets": tuple(t.model_copy(update={"tier": None}) if t.name == "haiku"
                                                          else t for t in policy.targets)})
    assert not reroutable(untiered, compaction)


def _rerouted(params: RoutingParams, thresholds: Thresholds) -> RoutingParams:
    return replace(params, overrides=(*params.overrides, Override(COMPACTION, thresholds)))


def test_a_rules_turns_go_where_it_sends_them_and_no_other_block_moves_them() -> None:
    tokens = np.array([5_000, 5_000, 200_000, 5_000, 200_000])
    rule = np.array(["compaction", "compaction", "compaction", None, None], dtype=object)
    facts = TurnFacts(np.array([False, True, True, True, False]), np.array([17, 45, 17, 17, 17]),
                      np.full(5, None, dtype=object), rule=rule)
    params = RoutingParams(Thresholds(10_000, 60_000), (Override(Segment.thinking(), Thresholds(1, 1)),),
                           HaikuLimit(tool_count_below=40), (RuleRoute("compaction", 2),))
    # the rule's turns to opus as written, thinking or not; the others by the thinking override or the base
    assert params.actions(tokens, facts).tolist() == [2, 2, 2, 2, 2]
    assert params.governing(facts, 5).tolist() == [-2, -2, -2, 0, -1]
    to_haiku = _rerouted(params, TIER_THRESHOLDS[0])
    # re-routed whole to haiku, even the turn offering 45 tools: the haiku limit is the small-turns rule's
    assert to_haiku.actions(tokens, facts).tolist() == [0, 0, 0, 2, 2]
    assert to_haiku.as_written() == RoutingParams(params.base, params.overrides, params.haiku_limit,
                                                  (RuleRoute("compaction", 0),))
    # an override that keeps the rule's tier is nothing to write
    assert _rerouted(params, TIER_THRESHOLDS[2]).effective() == params


def _world(seed: int) -> tuple[ReplayData, RoutingParams]:
    """A fifth of the sessions are compaction calls, easy on every tier, which a rule sends to opus
    (bench.rule_worlds)."""
    data, _, active = compaction_world(seed)
    return data, active


def test_the_search_sends_a_rules_turns_whole_to_a_cheaper_tier_that_does_as_well() -> None:
    data, baseline = _world(5)
    result = search(data, baseline, trials=40, seed=1)
    chosen = choose(data, result, seed=1)
    assert chosen.params is not None, chosen.reason
    assert chosen.params.as_written().rules == (RuleRoute("compaction", 0),)
    # a request-class segment would hold only turns the rule routes first: it is not searched
    assert not any(o.segment == Segment.one_of("request_class", "compaction")
                   for trial in result.trials for o in trial.params.overrides)
    actions = chosen.params.actions(data.tokens, data.facts)
    assert (actions[data.facts.rule == "compaction"] == 0).all()
    assert "the turns rule compaction routes: opus → haiku" in chosen.evidence["rationale"]
    # and the written policy says so with the rule's route, nothing else about it
    policy = Policy.model_validate({
        "version": "v1", "targets": [{"name": t, "base_url": "https://api.anthropic.com", "tier": t}
                                     for t in ("haiku", "sonnet", "opus")],
        "rules": [{"name": "compaction", "when": {"request_class": ["compaction"]}, "route": ["opus"]},
                  {"name": "small", "when": {"input_tokens": {"lt": 20_000}}, "route": ["haiku"]},
                  {"name": "large", "when": {"input_tokens": {"gte": 200_000}}, "route": ["opus"]}],
        "default": {"route": ["sonnet"]}})
    assert params_of(policy) == baseline
    written = with_params(policy, chosen.params, "v2")
    assert written.rules[0].route == ("haiku",) and written.rules[0].when == policy.rules[0].when
    assert params_of(written).rules == (RuleRoute("compaction", 0),)


def test_a_re_route_too_few_explored_sessions_back_goes_back_to_the_rule_as_written() -> None:
    data, baseline = _world(6)
    candidate = RoutingParams(baseline.base, (Override(COMPACTION, TIER_THRESHOLDS[0]),), rules=baseline.rules)
    kept, dropped, base_thin = thin_parts(data, baseline, candidate, min_sessions=10_000)
    assert kept.as_written() == baseline and not base_thin
    assert dropped and dropped[0].startswith("the turns rule compaction routes")
    assert np.array_equal(kept.actions(data.tokens, data.facts), baseline.actions(data.tokens, data.facts))


def _compaction_policy() -> Policy:
    return Policy.model_validate({
        "version": "v1", "targets": [{"name": t, "base_url": "https://api.anthropic.com", "tier": t}
                                     for t in ("haiku", "sonnet", "opus")],
        "exploration": {"share": 0.02, "targets": ["haiku", "sonnet", "opus"]},
        "rules": [{"name": "compaction", "when": {"request_class": ["compaction"]}, "route": ["opus"]},
                  {"name": "small", "when": {"input_tokens": {"lt": 20_000}}, "route": ["haiku"]},
                  {"name": "large", "when": {"input_tokens": {"gte": 200_000}}, "route": ["opus"]}],
        "default": {"route": ["sonnet"]}})


def test_a_thin_re_route_asks_to_explore_the_rules_turns() -> None:
    """A re-route refused for too few explored sessions asks for exploration of the rule's own
    turns, by the rule's predicates: the policy the ask writes explores compaction calls more."""
    data, baseline = _world(6)
    policy = _compaction_policy()
    assert params_of(policy) == baseline
    arms = arms_of(policy)
    assert arms.rules == (("compaction", {"request_class": ["compaction"]}),)
    candidate = RoutingParams(baseline.base, (Override(COMPACTION, TIER_THRESHOLDS[0]),), rules=baseline.rules)
    asks = exploration_asks(data, baseline, thin_of(data, baseline, candidate, 10_000), arms, min_sessions=10_000)
    assert [(ask["name"], ask["when"], ask["share"]) for ask in asks] == [
        ("rule-compaction", {"request_class": ["compaction"]}, DEFAULT_CAP)]
    assert asks[0]["part"] == "the turns rule compaction routes" and asks[0]["monthly_cost_usd"] < 0  # opus → cheaper
    explored = with_exploration(policy, asks, tier_targets(policy))
    assert candidate_problems(explored) == []
    compiled = compile_policy(explored)
    rules = [decide(compiled, RouteFacts(input_tokens=5_000, request_class=request_class, session_id=f"s{i}")).rule
             for i in range(2_000) for request_class in ("compaction", "main")]
    explored_compactions = sum(rule == "exploration:rule-compaction" for rule in rules[::2])
    assert 0.06 * 2_000 < explored_compactions < 0.14 * 2_000  # ~10 % of compaction sessions, beyond the block's 2 %
    assert "exploration:rule-compaction" not in rules[1::2]  # main turns are not asked about


def test_a_rule_is_re_routed_only_to_a_tier_the_policy_has_a_target_on() -> None:
    """A policy with haiku and opus targets and none on sonnet: no trial sends the rule to sonnet
    (its written route would name no target)."""
    data, baseline = _world(7)
    result = search(data, baseline, trials=20, seed=1, tiers=(0, 2))
    tiers = {trial.params.as_written().rules[0].tier for trial in result.trials}
    assert tiers == {0, 2}
