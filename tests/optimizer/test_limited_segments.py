"""Segment overrides on a policy whose haiku rule asks more than a token count (issue 16, items 1
and 2): a hand-written "small turns" rule such as ``docs/examples/policy.yaml``'s (``tool_count <
40``) is a limit the team set, so every override's haiku rule asks it too; the search can then
start at the active policy and search segments on it (it searched none before). And an override
rule that a rule kept as written already covers is left out, never written unreachable."""

from __future__ import annotations

import numpy as np

from bench.rule_worlds import thinking_world
from core.policy.schema import Policy
from optimizer.candidate import params_of, with_params
from optimizer.evidence import choose
from optimizer.kept_rules import check_reading
from optimizer.propose import candidate_problems
from optimizer.replay import ReplayData, Thresholds
from optimizer.search import search
from optimizer.segments import HaikuLimit, Override, RoutingParams, Segment
from optimizer.turn_facts import TurnFacts
from tests.optimizer.test_candidate_validity import assert_routes_as_priced, three_rule_policy

LIMIT = HaikuLimit(tool_count_below=40)


def _world(seed: int) -> tuple[ReplayData, np.ndarray]:
    """Thinking turns need opus, the rest do as well on any tier; a fifth of the sessions offer 45 tools."""
    return thinking_world(seed, tool_dense=0.2)


def _haiku_rules(policy: Policy) -> list[str]:
    tier = {target.name: target.tier for target in policy.targets}
    return [rule.name for rule in policy.rules if rule.route is not None and tier[rule.route[0]] == "haiku"]


def test_a_limited_policy_gets_a_segment_override_that_keeps_its_limit() -> None:
    data, p = _world(21)
    policy = three_rule_policy("v1", haiku_below=10_000, opus_from=30_000, ladder=True, tools_below=40)
    baseline = params_of(policy)
    assert baseline == RoutingParams(Thresholds(10_000, 30_000), haiku_limit=LIMIT)
    result = search(data, baseline, trials=60, seed=2)
    chosen = choose(data, result, seed=2)
    assert chosen.params is not None, chosen.reason
    assert [o.segment for o in chosen.params.overrides] == [Segment.thinking()]  # searched, and escalated
    actions = chosen.params.actions(data.tokens, data.facts)
    assert actions[data.facts.thinking].mean() > actions[~data.facts.thinking].mean() + 0.5
    assert not (actions[data.facts.tool_count >= 40] == 0).any()  # the limit holds in every block
    truth = float(p[np.arange(data.n), actions].mean())
    assert truth >= float(p[np.arange(data.n), baseline.actions(data.tokens, data.facts)].mean()) - result.margin

    candidate = with_params(policy, chosen.params, "v2")
    assert candidate_problems(candidate) == []
    haiku = [rule for rule in candidate.rules if rule.name in _haiku_rules(candidate)]
    assert [rule.name for rule in haiku] == ["thinking-haiku", "small"]
    assert all(rule.when.tool_count is not None and rule.when.tool_count.lt == 40 for rule in haiku)
    assert params_of(candidate) == chosen.params.effective()
    check_reading(candidate, params_of(candidate))  # decide() routes the grid as the replay priced it
    assert_routes_as_priced(candidate, chosen.params, data.tokens[:2_000],
                            TurnFacts(data.facts.thinking[:2_000], data.facts.tool_count[:2_000],
                                      data.facts.repo[:2_000]))


def test_a_segment_the_limit_excludes_has_no_haiku_rule() -> None:
    """``thinking: false`` in the haiku rule: a thinking override's haiku rule would ask
    ``thinking: true`` and ``false`` at once, so it has none, and reads back with haiku_below 0."""
    policy = three_rule_policy("v1", haiku_below=10_000, opus_from=30_000, ladder=True, thinking_off=True)
    params = RoutingParams(Thresholds(10_000, 30_000), (Override(Segment.thinking(), Thresholds(5_000, 8_000)),),
                           HaikuLimit(thinking=False))
    candidate = with_params(policy, params, "v2")
    assert candidate_problems(candidate) == []
    assert [rule.name for rule in candidate.rules] == ["thinking-sonnet", "thinking-opus", "small", "mid"]
    read = params_of(candidate)
    assert read == params.effective() and read.overrides[0].thresholds == Thresholds(0, 8_000)
    # an override that routes like the base is not written, whatever its haiku threshold
    same = RoutingParams(params.base, (Override(Segment.thinking(), Thresholds(20_000, 30_000)),), params.haiku_limit)
    assert same.effective().overrides == ()


def test_an_override_rule_a_kept_rule_covers_is_left_out() -> None:
    """A rule before the tier rules sends thinking turns from 150 K to opus; a thinking override with
    opus from 200 K would write an opus rule that never fires (the validator refuses such a policy),
    and thinking turns from 200 K, which the base sends to sonnet, are that rule's, not the override's."""
    policy = three_rule_policy("v1", haiku_below=10_000, opus_from=30_000, ladder=True, tools_below=40, kept=True)
    params = RoutingParams(Thresholds(10_000, 500_000), (Override(Segment.thinking(), Thresholds(5_000, 200_000)),),
                           LIMIT, params_of(policy).rules)
    candidate = with_params(policy, params, "v2")
    assert candidate_problems(candidate) == []
    names = [rule.name for rule in candidate.rules]
    assert names[names.index("big-thinking") + 1:] == ["thinking-haiku", "thinking-sonnet", "small", "mid"]
    assert params_of(candidate) == params  # the sonnet rule still says where opus would start
    # the check before storing asks decide() only about the points the kept rule leaves to the tier rules
    check_reading(candidate, params)
    rng = np.random.default_rng(4)
    tokens = rng.integers(0, 300_000, 2_000)
    thinking = rng.random(2_000) < 0.5
    facts = TurnFacts(thinking, rng.choice([17, 45], 2_000), np.full(2_000, None, dtype=object),
                      rule=np.where(thinking & (tokens >= 150_000), "big-thinking", None).astype(object))
    assert_routes_as_priced(candidate, params, tokens, facts)
