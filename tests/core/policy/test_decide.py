"""decide(): which rule fires and which chain it gives, table by table."""

from __future__ import annotations

from collections import Counter

import pytest

from core.policy.decide import decide
from core.policy.facts import RouteFacts

from .builders import TIERED_RULES, compiled

TIERED = compiled(TIERED_RULES)


@pytest.mark.parametrize(("facts", "rule", "chain"), [
    (RouteFacts(input_tokens=5_000), "small", ["haiku", "sonnet-us"]),
    (RouteFacts(input_tokens=19_999), "small", ["haiku", "sonnet-us"]),
    (RouteFacts(input_tokens=20_000), "mid", ["sonnet-us", "opus"]),
    (RouteFacts(input_tokens=119_999), "mid", ["sonnet-us", "opus"]),
    (RouteFacts(input_tokens=120_000), "default", ["opus"]),
    (RouteFacts(input_tokens=120_000, thinking=True), "big-thinking", ["opus"]),
    (RouteFacts(input_tokens=50_000, thinking=True), "mid", ["sonnet-us", "opus"]),
    (RouteFacts(input_tokens=500_000, request_class="compaction"), "compaction", ["haiku", "sonnet-us"]),
    (RouteFacts(input_tokens=500_000, request_class="main"), "default", ["opus"]),
    (RouteFacts(input_tokens=500_000, requested_tier="haiku"), "asked-haiku", ["haiku", "sonnet-us"]),
    (RouteFacts(input_tokens=500_000, requested_tier="opus"), "default", ["opus"]),
    (RouteFacts(input_tokens=1_000, repo="vault"), "security-repo", ["opus", "sonnet-us"]),
    (RouteFacts(input_tokens=1_000, repo="vault-2"), "small", ["haiku", "sonnet-us"]),
    (RouteFacts(input_tokens=500_000, developer="intern-1", team="platform"), "interns", ["haiku"]),
    (RouteFacts(input_tokens=500_000, developer="intern-1", team="data"), "default", ["opus"]),
    (RouteFacts(input_tokens=500_000, request_class="subagent", agent_type="Explore"), "explore-agent", ["haiku"]),
    (RouteFacts(input_tokens=500_000, request_class="subagent", agent_type="Plan"), "default", ["opus"]),
    (RouteFacts(input_tokens=1_000, tool_count=30), "many-tools", ["opus"]),
    (RouteFacts(input_tokens=1_000, tool_count=29), "small", ["haiku", "sonnet-us"]),
])
def test_first_matching_rule_routes(facts: RouteFacts, rule: str, chain: list[str]) -> None:
    decision = decide(TIERED, facts)
    assert (decision.rule, [t.name for t in decision.chain]) == (rule, chain)
    assert decision.propensity == 1.0
    assert decision.version == "test"


@pytest.mark.parametrize("facts", [
    RouteFacts(input_tokens=500_000),  # no request_class: not compaction, not a subagent
    RouteFacts(input_tokens=500_000, agent_type="Explore"),  # an agent type alone is not a subagent call
    RouteFacts(input_tokens=500_000, developer="intern-1"),  # no team: the interns rule needs both
    RouteFacts(input_tokens=500_000, team="platform"),
])
def test_missing_facts_never_match_a_predicate_on_them(facts: RouteFacts) -> None:
    assert decide(TIERED, facts).rule == "default"


def test_the_model_rewrite_of_the_rule_wins_over_the_target() -> None:
    decision = decide(TIERED, RouteFacts(input_tokens=200_000, thinking=True))
    assert decision.model_for(decision.chain[0]) == "claude-opus-4-1-thinking"
    plain = decide(TIERED, RouteFacts(input_tokens=200_000))
    assert plain.model is None and plain.model_for(plain.chain[0]) == "claude-opus-4-1"


def test_an_empty_when_matches_every_turn() -> None:
    policy = compiled([{"name": "all", "route": ["haiku"]}], default=["haiku"])
    assert decide(policy, RouteFacts()).rule == "all"


CANARY = compiled([
    {"name": "canary", "when": {"session_bucket": {"lt": 5}}, "route": ["opus"]},
    {"name": "everyone", "when": {"input_tokens": {"lt": 1_000_000}}, "route": ["sonnet-us"]},
], default=["haiku"])


def test_session_bucket_canary_takes_its_share_of_sessions() -> None:
    rules = Counter(decide(CANARY, RouteFacts(session_id=f"s-{i}")).rule for i in range(20_000))
    assert 0.04 < rules["canary"] / 20_000 < 0.06
    assert rules["canary"] + rules["everyone"] == 20_000


@pytest.mark.parametrize(("first", "propensity"), [("opus", 0.05), ("sonnet-us", 0.95)])
def test_canary_propensity_is_the_bucket_share(first: str, propensity: float) -> None:
    decisions = [decide(CANARY, RouteFacts(session_id=f"s-{i}")) for i in range(400)]
    seen = [d.propensity for d in decisions if d.chain[0].name == first]
    assert seen and seen == pytest.approx([propensity] * len(seen))


def test_a_session_stays_in_its_bucket_turn_after_turn() -> None:
    for i in range(200):
        facts = [RouteFacts(input_tokens=tokens, session_id=f"s-{i}") for tokens in (10, 5_000, 90_000)]
        assert len({decide(CANARY, f).rule for f in facts}) == 1


SPLIT = compiled([{"name": "ab", "split": [
    {"weight": 3, "route": ["sonnet-us"]},
    {"weight": 1, "route": ["opus"], "model": "claude-opus-x"},
]}], default=["haiku"])


def test_split_arms_take_their_weights_and_report_them_as_propensity() -> None:
    decisions = [decide(SPLIT, RouteFacts(session_id=f"session-{i}")) for i in range(20_000)]
    firsts = Counter(d.chain[0].name for d in decisions)
    assert 0.73 < firsts["sonnet-us"] / 20_000 < 0.77
    for d in decisions[:200]:
        assert d.propensity == pytest.approx(0.75 if d.chain[0].name == "sonnet-us" else 0.25)
        assert d.model == (None if d.chain[0].name == "sonnet-us" else "claude-opus-x")


def test_split_arm_and_bucket_are_independent() -> None:
    policy = compiled([
        {"name": "canary", "when": {"session_bucket": {"lt": 50}},
         "split": [{"weight": 1, "route": ["opus"]}, {"weight": 1, "route": ["haiku"]}]},
    ], default=["sonnet-us"])
    firsts = Counter(decide(policy, RouteFacts(session_id=str(i))).chain[0].name for i in range(20_000))
    # were the arm decided by the bucket's hash, the canary's half would all land in one arm
    assert 0.22 < firsts["opus"] / 20_000 < 0.28
    assert 0.22 < firsts["haiku"] / 20_000 < 0.28


def test_a_session_without_an_id_is_routed_deterministically() -> None:
    assert len({decide(SPLIT, RouteFacts()).chain for _ in range(5)}) == 1
    assert decide(SPLIT, RouteFacts()).chain == decide(SPLIT, RouteFacts(session_id="")).chain


STICKY = compiled(
    [{"name": "main", "route": ["sonnet-us", "opus"]}], default=["haiku"],
    sticky=[{"name": "sonnet-regions", "targets": ["sonnet-us", "sonnet-eu"]}],
)


def test_sticky_pool_keeps_a_session_on_one_member_and_follows_with_the_rest() -> None:
    for i in range(100):
        chains = {tuple(t.name for t in decide(STICKY, RouteFacts(input_tokens=n, session_id=f"s{i}")).chain)
                  for n in (1, 10_000, 100_000)}
        assert len(chains) == 1
        (chain,) = chains
        assert sorted(chain[:2]) == ["sonnet-eu", "sonnet-us"] and chain[2:] == ("opus",)


def test_sticky_pool_spreads_sessions_evenly() -> None:
    firsts = Counter(decide(STICKY, RouteFacts(session_id=f"s{i}")).chain[0].name for i in range(20_000))
    assert 0.47 < firsts["sonnet-us"] / 20_000 < 0.53
    decision = decide(STICKY, RouteFacts(session_id="x"))
    assert decision.propensity == pytest.approx(0.5)


def test_sticky_applies_only_when_the_chain_starts_in_the_pool() -> None:
    policy = compiled([{"name": "main", "route": ["opus", "sonnet-us"]}], default=["haiku"],
                      sticky=[{"name": "sonnet-regions", "targets": ["sonnet-us", "sonnet-eu"]}])
    decision = decide(policy, RouteFacts(session_id="s"))
    assert [t.name for t in decision.chain] == ["opus", "sonnet-us"] and decision.propensity == 1.0


def test_removing_a_pool_member_only_moves_its_sessions() -> None:
    three = compiled([{"name": "main", "route": ["sonnet-us"]}], default=["haiku"],
                     sticky=[{"name": "p", "targets": ["sonnet-us", "sonnet-eu", "opus"]}])
    two = compiled([{"name": "main", "route": ["sonnet-us"]}], default=["haiku"],
                   sticky=[{"name": "p", "targets": ["sonnet-us", "sonnet-eu"]}])
    for i in range(2_000):
        facts = RouteFacts(session_id=f"s{i}")
        before = decide(three, facts).chain[0].name
        if before != "opus":
            assert decide(two, facts).chain[0].name == before


@pytest.mark.parametrize(("tokens", "first", "propensity"), [
    # 2% exploration split evenly between haiku and opus, above a token-tier route
    (5_000, "haiku", 0.98 + 0.01),
    (5_000, "opus", 0.01),
    (50_000, "sonnet-us", 0.98),
    (50_000, "haiku", 0.01),
])
def test_exploration_propensity_sums_every_way_to_the_same_target(tokens: int, first: str, propensity: float) -> None:
    policy = compiled([
        {"name": "explore", "when": {"session_bucket": {"lt": 2}},
         "split": [{"weight": 1, "route": ["haiku"]}, {"weight": 1, "route": ["opus"]}]},
        {"name": "small", "when": {"input_tokens": {"lt": 20_000}}, "route": ["haiku"]},
    ], default=["sonnet-us"])
    seen = []
    for i in range(5_000):
        decision = decide(policy, RouteFacts(input_tokens=tokens, session_id=f"s{i}"))
        if decision.chain[0].name == first:
            seen.append(decision.propensity)
    assert seen and seen == pytest.approx([propensity] * len(seen))


def test_three_arms_take_their_weights() -> None:
    policy = compiled([{"name": "abc", "split": [
        {"weight": 1, "route": ["haiku"]}, {"weight": 2, "route": ["sonnet-us"]}, {"weight": 7, "route": ["opus"]},
    ]}], default=["haiku"])
    firsts = Counter(decide(policy, RouteFacts(session_id=f"s{i}")).chain[0].name for i in range(20_000))
    assert [round(firsts[name] / 20_000, 2) for name in ("haiku", "sonnet-us", "opus")] == pytest.approx(
        [0.1, 0.2, 0.7], abs=0.015)
