"""Exploration segments: sessions matching a segment's predicates are explored at its own (larger)
share, by a rule placed before the block's, with the exact propensity of what was chosen."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.policy.compile import compile_policy
from core.policy.decide import decide
from core.policy.diff import PolicyDiff, diff, render_diff
from core.policy.exploration import exploration_rules, is_exploration_rule
from core.policy.facts import RouteFacts
from core.policy.hashing import bucket_salt, salted, session_bucket, session_bytes
from core.policy.load import dump_policy, load_policy
from core.policy.problems import PolicyError
from core.policy.schema import Policy
from core.policy.validate import validate

from .builders import TIERED_RULES, compiled, policy

TIERS = ["haiku", "sonnet-us", "opus"]
SMALL = [{"name": "small", "when": {"input_tokens": {"lt": 20_000}}, "route": ["haiku"]}]
PAY = {"name": "pay", "when": {"repo": ["payments"]}, "share": 0.08}
THINK = {"when": {"thinking": True}, "share": 0.05}


def _block(share: float = 0.02, segments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"share": share, "targets": TIERS, "segments": segments if segments is not None else [PAY, THINK]}


def _bucket(session_id: str) -> int:
    return session_bucket(salted(bucket_salt()), session_bytes(session_id))


# (facts, the share that explores it, the rule that explores it)
CASES = [
    (RouteFacts(input_tokens=5_000, repo="payments"), 0.08, "exploration:pay"),
    (RouteFacts(input_tokens=5_000, repo="payments", thinking=True), 0.08, "exploration:pay"),  # the larger share
    (RouteFacts(input_tokens=5_000, thinking=True), 0.05, "exploration:2"),  # unnamed: its position
    (RouteFacts(input_tokens=5_000, repo="web"), 0.02, "exploration"),
    (RouteFacts(input_tokens=5_000), 0.02, "exploration"),  # a fact the request lacks never matches
]


@pytest.mark.parametrize(("facts", "share", "rule"), CASES)
def test_decide_gives_exact_propensities_in_and_out_of_a_segment(facts: RouteFacts, share: float, rule: str) -> None:
    # a small turn goes to haiku by the rules; an explored one to any of three arms
    routed = compiled(SMALL, default=["sonnet-us", "opus"], exploration=_block())
    seen = set()
    for i in range(3_000):
        session_id = f"session-{i}"
        decision = decide(routed, replace(facts, session_id=session_id))
        explored = _bucket(session_id) < round(share * 100)
        assert decision.rule == (rule if explored else "small")
        first = decision.chain[0].name
        assert decision.propensity == pytest.approx(share / 3 + (1 - share if first == "haiku" else 0), rel=1e-12)
        seen.add(first)
    assert seen == set(TIERS)


@settings(max_examples=60, deadline=None)
@given(block=st.integers(0, 20), extra=st.integers(0, 30), in_segment=st.booleans(),
       tokens=st.sampled_from([5_000, 50_000]))
def test_the_share_of_explored_sessions_in_a_segment_is_the_declared_share(block: int, extra: int, in_segment: bool,
                                                                            tokens: int) -> None:
    """Over many sessions, the explored ones are the declared share of the segment's sessions (the
    block's share outside it), and the propensities logged for each action add up to one."""
    segment = block + extra
    routed = compiled(SMALL, default=["sonnet-us", "opus"],
                      exploration=_block(block / 100, [{"when": {"team": ["core"]}, "share": segment / 100}]))
    sessions = 4_000
    explored = 0
    propensity: dict[str, float] = {}
    for i in range(sessions):
        decision = decide(routed, RouteFacts(input_tokens=tokens, team="core" if in_segment else "web",
                                             session_id=f"s-{block}-{extra}-{i}"))
        explored += is_exploration_rule(decision.rule)
        propensity[decision.chain[0].name] = decision.propensity
    share = (segment if in_segment else block) / 100
    assert explored / sessions == pytest.approx(share, abs=4 * (share * (1 - share) / sessions) ** 0.5 + 1e-9)
    if explored > 30:  # every arm was seen: one propensity per action, a distribution
        assert sum(propensity.values()) == pytest.approx(1.0, rel=1e-9)


def test_the_segment_rules_come_first_and_stand_for_hand_written_rules() -> None:
    block = policy(TIERED_RULES, exploration=_block())
    rules = exploration_rules(block)
    assert [r.name for r in rules] == ["exploration:pay", "exploration:2", "exploration"]
    assert rules[0].when.repo == ("payments",) and rules[0].when.session_bucket is not None
    assert rules[0].when.session_bucket.lt == 8 and rules[1].when.session_bucket.lt == 5  # type: ignore[union-attr]
    assert rules[0].split == rules[2].split  # same arms
    assert validate(block) == []


def test_segments_explore_with_the_block_share_at_zero() -> None:
    routed = compiled(SMALL, exploration=_block(0.0, [PAY]))
    assert [r.name for r in routed.rules][:1] == ["exploration:pay"]
    outside = [decide(routed, RouteFacts(input_tokens=5_000, repo="web", session_id=f"s{i}")) for i in range(2_000)]
    assert {d.rule for d in outside} == {"small"} and {d.propensity for d in outside} == {1.0}


@pytest.mark.parametrize(("segments", "rules", "path", "words"), [
    ([{**PAY, "share": 0.025}], [], "exploration.segments[0].share", "whole percent"),
    ([{**PAY, "share": 0.6}], [], "exploration.segments[0].share", "outside 0..0.5"),
    ([{**PAY, "share": float("nan")}], [], "exploration.segments[0].share", "outside"),
    ([{**PAY, "share": 0.01}], [], "exploration.segments[0].share", "below the block's share"),
    ([{**PAY, "when": {"session_bucket": {"lt": 5}}}], [], "exploration.segments[0].when.session_bucket",
     "leave session_bucket out"),
    ([{**PAY, "when": {"input_tokens": {"gte": 9, "lt": 3}}}], [], "exploration.segments[0].when.input_tokens",
     "empty range"),
    ([PAY, {**THINK, "name": "pay"}], [], "exploration.segments[1].name", "also segment 1's"),
    ([PAY], [{"name": "exploration:x", "route": ["haiku"]}], "rules[0].name", "reserved for the exploration"),
])
def test_validation_names_the_segment_and_its_field(segments: list[dict[str, Any]], rules: list[dict[str, Any]],
                                                    path: str, words: str) -> None:
    problems = [p for p in validate(policy(rules, exploration=_block(segments=segments))) if p.severity == "error"]
    assert [p.path for p in problems] == [path]
    assert words in problems[0].message
    with pytest.raises(PolicyError):
        compile_policy(policy(rules, exploration=_block(segments=segments)))


def test_an_unknown_predicate_is_refused_with_its_path() -> None:
    text = dump_policy(policy()) + "exploration:\n  targets: [haiku, opus]\n  segments:\n" \
                                   "    - {when: {colour: [red]}, share: 0.05}\n"
    with pytest.raises(PolicyError) as error:
        load_policy(text)
    assert any(p.path.startswith("exploration.segments") and "colour" in p.path for p in error.value.problems)


def test_segments_round_trip_through_yaml() -> None:
    with_segments = policy(TIERED_RULES, exploration=_block())
    assert load_policy(dump_policy(with_segments)) == with_segments


def test_the_diff_shows_a_segment_change_added_and_removed() -> None:
    old = policy(TIERED_RULES, exploration=_block(segments=[PAY]))
    raised = Policy.model_validate({**old.model_dump(), "version": "test-2",
                                    "exploration": _block(segments=[{**PAY, "share": 0.1}])})
    lines = render_diff(diff(old, raised)).splitlines()
    assert "~ exploration: segments[0].share 0.08 → 0.1" in lines
    none = Policy.model_validate({**old.model_dump(), "version": "test-3", "exploration": _block(segments=[])})
    added = render_diff(diff(none, old))
    assert "~ exploration: segments (unset) → " in added and '"repo": ["payments"]' in added
    d = diff(old, none)
    assert "~ exploration: segments " in render_diff(d) and PolicyDiff.from_dict(d.to_dict()) == d
