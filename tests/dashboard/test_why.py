"""The routing "why" of a stored turn, from the policy version it was decided under: the matched
rule's conditions with the turn's values and the thresholds, the arm and its propensity for an
explored or split session, the near misses of a default decision. Arms are checked against the
real decide() on the same facts, so the sentence names the arm the proxy actually chose."""

from __future__ import annotations

from typing import Any

import pytest

from core.policy.compile import compile_policy
from core.policy.decide import decide
from core.policy.facts import RouteFacts
from core.policy.schema import Arm, Default, Exploration, IntRange, Match, Policy, Rule, Target
from core.pricing import builtin_price_table
from dashboard.conditions import StoredFacts, conditions, first_miss
from dashboard.decision import explain_decision, propensity_words

PRICES = builtin_price_table()
MODELS = {"haiku": "claude-haiku-4-5", "sonnet": "claude-sonnet-4-5", "opus": "claude-opus-4-5"}
TARGETS = tuple(Target(name=tier, base_url="https://api.anthropic.com", model=model, tier=tier)  # type: ignore[arg-type]
                for tier, model in MODELS.items())


def policy(*rules: Rule, exploration: Exploration | None = None) -> Policy:
    return Policy(version="v7", targets=TARGETS, rules=rules, exploration=exploration,
                  default=Default(route=("sonnet", "opus")))


SMALL = Rule(name="small-turns", when={"input_tokens": {"lt": 15_000}}, route=("haiku",))


def turn(rule: str, tokens: int = 8_214, session: str = "s-1", **extra: Any) -> dict[str, Any]:
    """A stored turn as the proxy would record it for ``rule``, served on ``target``'s model."""
    target = extra.pop("target", "haiku")
    return {"rule": rule, "policy_version": "v7", "estimated_input_tokens": tokens, "session_id": session,
            "requested_model": MODELS["opus"], "served_model": MODELS[target], "target": target,
            "fallback_hops": [], "ok": True, "tool_count": 12, "thinking": False, **extra}


def test_a_rule_names_its_condition_and_threshold() -> None:
    compiled = compile_policy(policy(SMALL))
    assert explain_decision(turn("small-turns"), PRICES, compiled) == (
        "rule small-turns: estimated input 8 214 tokens < 15 000 → haiku; served by haiku, no fallback (policy v7)")


def test_every_condition_of_a_rule_is_named() -> None:
    rule = Rule(name="deep", when={"input_tokens": {"gte": 50_000, "lt": 200_000}, "thinking": True,
                                   "requested_tier": ["opus", "sonnet"], "repo": ["monorepo"]}, route=("opus",))
    text = explain_decision(turn("deep", 61_000, thinking=True, repo="monorepo", target="opus"), PRICES,
                            compile_policy(policy(rule)))
    assert text.startswith("rule deep: estimated input 61 000 tokens ≥ 50 000 and < 200 000 and "
                           "requested tier opus is one of opus, sonnet and thinking on and repo is monorepo → opus;")


def test_the_default_says_no_rule_matched_and_why_each_missed() -> None:
    compiled = compile_policy(policy(SMALL, Rule(name="think", when={"thinking": True}, route=("opus",))))
    assert explain_decision(turn("default", 26_327, target="sonnet"), PRICES, compiled) == (
        "no rule matched (small-turns: estimated input 26 327 tokens, not < 15 000; think: thinking off, not on): "
        "default → sonnet; served by sonnet, no fallback (policy v7)")


def test_a_default_lists_three_misses_then_counts_the_rest() -> None:
    rules = [Rule(name=f"r{n}", when={"tool_count": {"gte": 20 + n, "lt": 21 + n}}, route=("opus",)) for n in range(5)]
    text = explain_decision(turn("default", target="sonnet"), PRICES, compile_policy(policy(*rules)))
    assert "(r0: tools offered 12, not ≥ 20 and < 21; r1: tools offered 12, not ≥ 21 and < 22; " \
           "r2: tools offered 12, not ≥ 22 and < 23; 2 more): default" in text


def test_a_policy_without_rules_says_no_rule_matched_plainly() -> None:
    text = explain_decision(turn("default", target="sonnet"), PRICES, compile_policy(policy()))
    assert text.startswith("no rule matched: default → sonnet;")


def _session_in(compiled: Any, rule_name: str, facts: RouteFacts) -> tuple[str, Any]:
    """The first session id s-0, s-1, … that decide() sends through ``rule_name``, and its decision."""
    for number in range(1_000):
        decision = decide(compiled, _with_session(facts, f"s-{number}"))
        if decision.rule == rule_name:
            return f"s-{number}", decision
    raise AssertionError(f"no session went through {rule_name}")


def _with_session(facts: RouteFacts, session: str) -> RouteFacts:
    return RouteFacts(input_tokens=facts.input_tokens, tool_count=facts.tool_count,
                      requested_tier=facts.requested_tier, session_id=session)


@pytest.mark.parametrize("share", [0.02, 0.1])
def test_an_explored_session_says_exploration_arm_and_its_propensity(share: float) -> None:
    compiled = compile_policy(policy(SMALL, exploration=Exploration(share=share, targets=("haiku", "sonnet", "opus"))))
    session, decision = _session_in(compiled, "exploration", RouteFacts(input_tokens=26_327, tool_count=12,
                                                                        requested_tier="opus"))
    target = decision.chain[0].name
    text = explain_decision(turn("exploration", 26_327, session, target=target), PRICES, compiled)
    assert text.startswith(f"exploration of {share:.0%} of sessions: session bucket ")
    assert f" < {round(share * 100)}; exploration arm (propensity 1/3) → {target};" in text


def test_a_session_explored_in_a_segment_names_the_segment_and_its_share() -> None:
    block = Exploration(share=0.02, targets=("haiku", "sonnet", "opus"),
                        segments=({"name": "tooly", "when": {"tool_count": {"gte": 10}}, "share": 0.1},))  # type: ignore[arg-type]
    compiled = compile_policy(policy(SMALL, exploration=block))
    session, decision = _session_in(compiled, "exploration:tooly", RouteFacts(input_tokens=26_327, tool_count=12))
    target = decision.chain[0].name
    text = explain_decision(turn("exploration:tooly", 26_327, session, target=target), PRICES, compiled)
    assert text.startswith("exploration of 10% of sessions in segment exploration:tooly: ")
    assert "exploration arm (propensity 1/3)" in text and "tool" in text


def test_a_bucketed_split_rule_is_exploration_too() -> None:
    # the demo's hand-written "explore" rule: a share of sessions spread over the tiers
    explore = Rule(name="explore", when={"session_bucket": {"lt": 10}},
                   split=tuple(Arm(weight=1, route=(tier,)) for tier in MODELS))
    compiled = compile_policy(policy(explore, SMALL))
    session, decision = _session_in(compiled, "explore", RouteFacts(input_tokens=26_327, tool_count=12))
    text = explain_decision(turn("explore", 26_327, session, target=decision.chain[0].name), PRICES, compiled)
    assert text.startswith("rule explore: session bucket ") and "exploration arm (propensity 1/3)" in text


def test_a_weighted_split_names_the_arm_decide_chose() -> None:
    split = Rule(name="ab", when={"input_tokens": {"gte": 20_000}},
                 split=(Arm(weight=3, route=("sonnet",)), Arm(weight=1, route=("opus",))))
    compiled = compile_policy(policy(split))
    seen = set()
    for number in range(40):
        session = f"s-{number}"
        decision = decide(compiled, RouteFacts(input_tokens=30_000, session_id=session))
        target = decision.chain[0].name
        text = explain_decision(turn("ab", 30_000, session, target=target), PRICES, compiled)
        expected = "split arm 1 of 2 (propensity 3/4)" if target == "sonnet" else "split arm 2 of 2 (propensity 1/4)"
        assert f"rule ab: estimated input 30 000 tokens ≥ 20 000; {expected} → {target};" in text
        seen.add(target)
    assert seen == {"sonnet", "opus"}


@pytest.mark.parametrize(("recorded", "compiled", "head"), [
    ("small-turns", None, "rule small-turns fired (policy v7 is not stored, so its conditions are unknown)"),
    ("default", None, "no rule matched: default (policy v7 is not stored, so its conditions are unknown)"),
    ("gone", compile_policy(policy(SMALL)), "rule gone fired (policy v7 has no such rule)"),
    ("side-endpoint", None, "a side endpoint (not a model turn): the default route, no rule applies"),
    ("budget-downgrade:developer", None, "budget downgrade: the developer's budget is past its hard limit"),
    (None, None, "no routing rule recorded"),
])
def test_decisions_no_policy_rule_can_explain(recorded: str | None, compiled: Any, head: str) -> None:
    assert explain_decision(turn(recorded), PRICES, compiled).startswith(f"{head} → haiku;")  # type: ignore[arg-type]


def test_facts_that_do_not_meet_the_recorded_rule_say_so() -> None:
    # the stored estimate disagrees with the rule (e.g. a policy edited under the same version
    # name would be refused, but an estimate can be missing): the sentence does not pretend
    text = explain_decision(turn("small-turns", estimated_input_tokens=None), PRICES, compile_policy(policy(SMALL)))
    assert text.startswith("rule small-turns: estimated input unknown, not < 15 000 → haiku")


@pytest.mark.parametrize(("when", "facts", "said", "holds"), [
    (Match(input_tokens=IntRange(lt=15_000)), StoredFacts(input_tokens=8_214),
     "estimated input 8 214 tokens < 15 000", True),
    (Match(input_tokens=IntRange(gte=15_000)), StoredFacts(input_tokens=8_214),
     "estimated input 8 214 tokens, not ≥ 15 000", False),
    (Match(tool_count=IntRange(gte=5, lt=20)), StoredFacts(tool_count=20), "tools offered 20, not ≥ 5 and < 20", False),
    (Match(thinking=False), StoredFacts(thinking=None), "thinking unknown, not off", False),
    (Match(request_class=("main", "subagent")), StoredFacts(request_class="subagent"),
     "request class subagent is one of main, subagent", True),
    (Match(team=("platform",)), StoredFacts(team=None), "team unknown, not platform", False),
    (Match(developer=("ada",)), StoredFacts(developer="ada"), "developer is ada", True),
    (Match(session_bucket=IntRange(gte=10, lt=20)), StoredFacts(session_bucket=9),
     "session bucket 9, not ≥ 10 and < 20", False),
])
def test_conditions_in_words(when: Match, facts: StoredFacts, said: str, holds: bool) -> None:
    assert [(c.text, c.holds) for c in conditions(when, facts)] == [(said, holds)]
    assert (first_miss(when, facts) is None) is holds


@pytest.mark.parametrize(("share", "words"), [(1 / 3, "1/3"), (0.25, "1/4"), (1.0, "1"), (0.75, "3/4"), (2 / 7, "2/7")])
def test_propensity_words(share: float, words: str) -> None:
    assert propensity_words(share) == words
