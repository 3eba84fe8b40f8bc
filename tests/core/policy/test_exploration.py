"""The exploration block: a share of sessions, by hash, sent to a target picked by hash, tried
before the rules, with the exact propensity of what was chosen."""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from typing import Any

import pytest

from core.policy.compile import compile_policy
from core.policy.decide import decide
from core.policy.diff import PolicyDiff, diff, render_diff
from core.policy.facts import RouteFacts
from core.policy.hashing import bucket_salt, salted, session_bucket, session_bytes, split_salt, unit_hash
from core.policy.load import dump_policy, load_policy
from core.policy.problems import PolicyError
from core.policy.schema import Policy
from core.policy.validate import validate

from .builders import TIERED_RULES, compiled, policy

TIERS = ["haiku", "sonnet-us", "opus"]
SESSIONS = 20_000


def _explore(share: float | None = None, targets: list[str] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"targets": targets or TIERS}
    if share is not None:
        block["share"] = share
    return block


def _expected_arm(session_id: str, share: float, targets: list[str]) -> str | None:
    """Which target the block should pick, from the hashes alone: None outside the share."""
    session = session_bytes(session_id)
    if session_bucket(salted(bucket_salt()), session) >= round(share * 100):
        return None
    cumulative = [(i + 1) / len(targets) for i in range(len(targets))]
    return targets[bisect_right(cumulative, unit_hash(salted(split_salt("exploration")), session))]


def test_the_share_defaults_to_two_percent() -> None:
    block = load_policy(dump_policy(policy()) + "exploration: {targets: [haiku, opus]}\n").exploration
    assert block is not None and block.share == 0.02
    assert policy().exploration is None


@pytest.mark.parametrize("share", [0.02, 0.1])
def test_decide_explores_the_share_of_sessions_with_exact_propensities(share: float) -> None:
    # a small turn: the rules send it to haiku, so haiku is reached both ways
    routed = compiled([{"name": "small", "when": {"input_tokens": {"lt": 20_000}}, "route": ["haiku"]}],
                      default=["sonnet-us", "opus"], exploration=_explore(share))
    arms: Counter[str] = Counter()
    for i in range(SESSIONS):
        session_id = f"session-{i}"
        decision = decide(routed, RouteFacts(input_tokens=5_000, session_id=session_id))
        arm = _expected_arm(session_id, share, TIERS)
        first = decision.chain[0].name
        if arm is None:
            assert (decision.rule, first) == ("small", "haiku")
        else:
            assert (decision.rule, first) == ("exploration", arm)
            arms[arm] += 1
        explored = share / len(TIERS)
        assert decision.propensity == pytest.approx(explored + (1 - share if first == "haiku" else 0), rel=1e-12)
    assert sum(arms.values()) / SESSIONS == pytest.approx(share, abs=4 * (share / SESSIONS) ** 0.5)
    assert max(arms.values()) - min(arms.values()) < 0.25 * sum(arms.values()) / len(TIERS)


def test_an_arm_falls_back_along_the_default_route() -> None:
    routed = compiled(default=["sonnet-us", "opus"], exploration=_explore(0.5))
    decisions = [decide(routed, RouteFacts(session_id=f"s{i}")) for i in range(2_000)]
    chains = {tuple(t.name for t in d.chain) for d in decisions if d.rule == "exploration"}
    assert chains == {("haiku", "sonnet-us", "opus"), ("sonnet-us", "opus"), ("opus", "sonnet-us")}


def test_share_zero_never_explores() -> None:
    routed = compiled(TIERED_RULES, exploration=_explore(0))
    assert all(decide(routed, RouteFacts(input_tokens=50_000, session_id=f"s{i}")).rule == "mid"
               for i in range(5_000))
    assert decide(routed, RouteFacts(input_tokens=50_000, session_id="s1")).propensity == 1.0


def test_the_block_is_the_same_as_a_first_split_rule() -> None:
    """The rule the block stands for, written by hand under another name: the same turns are
    explored (same bucket hash) and the others routed identically; explored turns get the same
    chains with the same propensities (which session gets which arm differs: the arm salt is the
    rule's name)."""
    block = compiled(TIERED_RULES, exploration=_explore(0.05))
    by_hand = compiled([{"name": "by-hand", "when": {"session_bucket": {"lt": 5}}, "split": [
        {"weight": 1, "route": ["haiku", "opus"]}, {"weight": 1, "route": ["sonnet-us", "opus"]},
        {"weight": 1, "route": ["opus"]}]}, *TIERED_RULES])
    outcomes: dict[str, set[tuple[int, tuple[str, ...], float]]] = {"block": set(), "by hand": set()}
    for i in range(6_000):
        facts = RouteFacts(input_tokens=[1_000, 50_000, 150_000][i % 3], thinking=True, session_id=f"s{i}")
        mine, theirs = decide(block, facts), decide(by_hand, facts)
        assert (mine.rule == "exploration") == (theirs.rule == "by-hand")
        if mine.rule != "exploration":
            assert mine == theirs
        for name, decision in (("block", mine), ("by hand", theirs)):
            chain = tuple(t.name for t in decision.chain)
            outcomes[name].add((facts.input_tokens, chain, round(decision.propensity, 12)))
    assert outcomes["block"] == outcomes["by hand"]


def test_the_rules_after_it_stay_reachable() -> None:
    assert validate(policy(TIERED_RULES, exploration=_explore())) == []


def test_a_rule_inside_its_buckets_is_unreachable() -> None:
    rules = [{"name": "explore", "when": {"session_bucket": {"lt": 2}}, "route": ["haiku"]}]
    problems = validate(policy(rules, exploration=_explore()))
    assert [(p.path, p.severity) for p in problems] == [("rules[0]", "error")]
    assert "exploration matches every turn" in problems[0].message


@pytest.mark.parametrize(("block", "rules", "path", "words"), [
    (_explore(0.025), [], "exploration.share", "whole percent"),
    (_explore(0.6), [], "exploration.share", "outside 0..0.5"),
    (_explore(-0.01), [], "exploration.share", "outside 0..0.5"),
    (_explore(float("nan")), [], "exploration.share", "outside"),
    (_explore(targets=["haiku", "opus-eu"]), [], "exploration.targets[1]", "unknown target 'opus-eu'"),
    (_explore(targets=["haiku", "opus", "haiku"]), [], "exploration.targets[2]", "listed twice"),
    (_explore(), [{"name": "exploration", "route": ["haiku"]}], "rules[0].name", "reserved for the exploration"),
])
def test_validation_names_the_problem_and_its_path(block: dict[str, Any], rules: list[dict[str, Any]],
                                                    path: str, words: str) -> None:
    problems = [p for p in validate(policy(rules, exploration=block)) if p.severity == "error"]
    assert [p.path for p in problems] == [path]
    assert words in problems[0].message
    with pytest.raises(PolicyError):
        compile_policy(policy(rules, exploration=block))


@pytest.mark.parametrize("share", [0.0, 0.01, 0.07, 0.29, 0.5])
def test_whole_percents_are_valid(share: float) -> None:
    assert validate(policy(exploration=_explore(share))) == []


def test_two_targets_of_one_sticky_pool_are_a_warning() -> None:
    problems = validate(policy(exploration=_explore(targets=["haiku", "sonnet-us", "sonnet-eu"]),
                               sticky=[{"name": "regions", "targets": ["sonnet-us", "sonnet-eu"]}]))
    assert [(p.path, p.severity) for p in problems] == [("exploration.targets[2]", "warning")]


def test_a_block_needs_two_targets() -> None:
    with pytest.raises(PolicyError) as error:
        load_policy(dump_policy(policy()).replace("targets:", "exploration: {targets: [haiku]}\ntargets:", 1))
    assert [p.path for p in error.value.problems] == ["exploration.targets"]


def test_it_round_trips_through_yaml() -> None:
    with_block = policy(TIERED_RULES, exploration=_explore(0.05))
    assert load_policy(dump_policy(with_block)) == with_block
    assert load_policy(dump_policy(with_block, include_defaults=True)) == with_block
    defaulted = policy(exploration=_explore())
    text = dump_policy(defaulted)
    assert "share" not in text and "exploration:" in text
    assert load_policy(text) == defaulted


def test_the_diff_shows_an_exploration_change() -> None:
    old = policy(TIERED_RULES, exploration=_explore())
    new = Policy.model_validate({**old.model_dump(), "version": "test-2", "exploration": _explore(0.05)})
    d = diff(old, new)
    assert not d.is_empty
    assert "~ exploration: share 0.02 → 0.05" in render_diff(d).splitlines()
    assert PolicyDiff.from_dict(d.to_dict()) == d


def test_the_diff_shows_a_block_added_and_removed() -> None:
    without = policy(TIERED_RULES)
    with_block = Policy.model_validate({**without.model_dump(), "version": "test-2", "exploration": _explore()})
    assert '+ exploration: share 0.02; targets ["haiku", "sonnet-us", "opus"]' in render_diff(
        diff(without, with_block)).splitlines()
    assert "- exploration" in render_diff(diff(with_block, without)).splitlines()


def test_a_diff_stored_before_the_block_existed_still_loads() -> None:
    data = diff(policy(), policy()).to_dict()
    del data["exploration"]
    assert PolicyDiff.from_dict(data).is_empty
