"""Any valid policy is a starting point (issue 16, item 1): the project's own reference policy
(docs/examples/policy.yaml: rules for compaction, repos, subagents, thinking and a team before the
tier rules; a haiku rule that also asks for fewer than 40 tools; opus as the default) yields a
proposal that moves the tier rules' token thresholds, may re-route the rules written for a kind of
work (compaction, Explore sub-agents, big thinking turns: their predicates stay byte for byte),
keeps the pins (a repo, a team asking for opus) byte for byte and in place, lists both in the
evidence with the turns they took, and routes as the replay priced it. Policies the optimizer
cannot move are refused with the reason."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from bench.optimizer_world import START, generate
from core.policy.compile import compile_policy
from core.policy.decide import decide
from core.policy.facts import RouteFacts
from core.policy.load import load_policy
from core.policy.schema import Policy
from core.pricing import builtin_price_table
from optimizer.candidate import params_of
from optimizer.propose import Settings, candidate_problems, propose
from optimizer.replay import TIERS
from optimizer.turn_facts import TurnFacts
from store.engine import make_engine
from store.policies import activate, create_version
from store.proposal_decisions import approve
from store.testing import migrated_sqlite_url
from switchyard.optimize_cli import rule_lines
from tests.optimizer.stored import store_world
from tests.optimizer.test_candidate_validity import assert_routes_as_priced, routed_tiers

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "policy.yaml"
# z=1: on the held-out half of the sessions (optimizer.split) the point estimate's pick (z=0: every
# turn to haiku) is 0.055 worse than the active policy
# min_explored_sessions=4: a 3 000-turn world has a few explored sessions behind each move (the
# opus → sonnet move above 120 K rests on 4); the minimum has tests of its own (test_moves, test_split)
SETTINGS = Settings(start=START, end=START + timedelta(days=7), seed=3, trials=25, min_ess=50.0,
                    min_ess_sessions=10.0, z=1.0, bootstrap_rounds=50, max_quality_loss=0.02, min_explored_sessions=4)
BEFORE_TIERS = ["compaction", "security-repos", "explore-subagents", "big-thinking", "platform-asks-opus"]
PINS = ["security-repos", "platform-asks-opus"]  # who or where: kept as written
REROUTABLE = ["compaction", "explore-subagents", "big-thinking"]  # a kind of work


def _example(share: float | None = None) -> Policy:
    policy = load_policy(EXAMPLE.read_text())
    if share is None:
        return policy
    assert policy.exploration is not None
    return policy.model_copy(update={"exploration": policy.exploration.model_copy(update={"share": share})})


def _store(tmp_path: Path, policy: Policy, *, turns: int, seed: int):  # type: ignore[no-untyped-def]
    engine = make_engine(migrated_sqlite_url(tmp_path))
    prices = builtin_price_table()
    create_version(engine, policy, actor="setup", now=START - timedelta(days=1))
    activate(engine, policy.version, actor="setup", now=START - timedelta(days=1))
    # every fifth session's turns are compaction calls, routed by the compaction rule
    world = generate(policy, prices, turns=turns, seed=seed, days=7.0, compaction_every=5)
    store_world(engine, world, prices)
    return engine, world


def _proposal(engine):  # type: ignore[no-untyped-def]
    """The proposal on ``engine``'s store (there must be one) and its candidate, which validates."""
    outcome = propose(engine, builtin_price_table(), SETTINGS)
    assert outcome.proposal is not None, outcome.reason
    candidate = Policy.model_validate(outcome.proposal.document)
    assert candidate_problems(candidate) == []
    return outcome, candidate


def _untagged(tokens: np.ndarray) -> TurnFacts:
    """Facts of turns with no thinking, no tools and no repo."""
    return TurnFacts(np.zeros(tokens.size, dtype=bool), np.zeros(tokens.size, dtype=np.int64),
                     np.full(tokens.size, None, dtype=object))


def test_the_reference_policy_yields_a_proposal_that_keeps_its_other_rules(tmp_path: Path) -> None:
    policy = _example(share=0.3)  # enough explored sessions for a small world's evidence
    engine, world = _store(tmp_path, policy, turns=3_000, seed=11)
    try:
        outcome, candidate = _proposal(engine)
        before = {rule.name: rule.model_dump(mode="json") for rule in policy.rules}
        after = {rule.name: rule.model_dump(mode="json") for rule in candidate.rules}
        assert [r.name for r in candidate.rules][:len(BEFORE_TIERS)] == BEFORE_TIERS  # in place, first
        assert all(after[name] == before[name] for name in PINS)  # byte for byte
        assert all(after[name]["when"] == before[name]["when"] for name in REROUTABLE)  # only a route may change
        assert after["small-turns"]["when"]["tool_count"] == {"gte": None, "lt": 40}  # the limit is kept too
        assert candidate.default == policy.default and candidate.budgets == policy.budgets
        assert candidate.sticky == policy.sticky and candidate.exploration == policy.exploration
        evidence = outcome.proposal.evidence
        kept = {entry["rule"]: entry for entry in evidence["kept_as_written"]}
        assert list(kept) == PINS and all(entry["note"] == "kept as written" for entry in kept.values())
        assert evidence["turns_routed_by_kept_rules"] == 0  # the world names no repo or team
        rules = {entry["rule"]: entry for entry in evidence["reroutable_rules"]}
        assert list(rules) == REROUTABLE
        compaction = world.frame["request_class"].eq("compaction").sum()
        assert rules["compaction"]["turns"] == compaction > 0
        assert evidence["turns"] == world.frame.height  # every turn in the replay: none is pinned
        params = params_of(candidate)
        assert params.haiku_limit is not None and params.haiku_limit.tool_count_below == 40

        approve(engine, outcome.proposal.id, actor="alice")
        tokens = world.frame["tokens"].to_numpy()
        facts = _untagged(tokens)
        tiers, rules = routed_tiers(candidate, tokens, facts)
        expected = params.actions(tokens, facts)
        routed = [i for i, rule in enumerate(rules) if rule != "exploration"]
        assert routed and all(tiers[i] == ("haiku", "sonnet", "opus")[expected[i]] for i in routed)
    finally:
        engine.dispose()


def test_the_reference_policy_as_written_reaches_the_guards(tmp_path: Path) -> None:
    """With its 2 % exploration, a small world may not hold enough evidence; the reason is then the
    guards', never "cannot move this policy"."""
    engine, _ = _store(tmp_path, _example(), turns=2_000, seed=12)
    try:
        outcome = propose(engine, builtin_price_table(), SETTINGS)
        assert outcome.proposal is not None or "nothing the optimizer can move" not in outcome.reason, outcome.reason
    finally:
        engine.dispose()


@pytest.mark.parametrize(("change", "reason"), [
    (lambda d: {**d, "targets": [{**t, "tier": None} for t in d["targets"]]}, "no tiered route to change"),
    (lambda d: {**d, "rules": [*d["rules"], {"name": "late-pin", "when": {"team": ["payments"]},
                                             "route": ["opus"]}]}, "'late-pin' come after the tier rules"),
    (lambda d: {**d, "rules": [r for r in d["rules"] if r["name"] != "small-turns"]}, "no haiku rule to move"),
    # a pinned haiku rule is the team's, not a threshold to move
    (lambda d: {**d, "rules": [{**r, "pinned": True} if r["name"] == "small-turns" else r for r in d["rules"]]},
     "no haiku rule to move"),
    # a gap between the haiku and sonnet rules: those turns reach the opus default, not sonnet
    (lambda d: {**d, "rules": [{**r, "when": {"input_tokens": {"gte": 30_000, "lt": 120_000}}}
                               if r["name"] == "mid-turns" else r for r in d["rules"]]},
     "sends 20,000 input tokens to opus (rule 'default') where its tier rules read as sonnet"),
    # no sonnet target: the turns the haiku rule's tool limit turns away have no tier to go to
    (lambda d: {**d, "targets": [t for t in d["targets"] if t.get("tier") != "sonnet"],
                "rules": [{**r, "route": ["opus"]} if r["name"] != "small-turns" else {**r, "route": ["haiku"]}
                          for r in d["rules"]], "default": {"route": ["opus"]}, "sticky": []},
     "no sonnet target for the turns it turns away"),
])
def test_what_cannot_be_moved_is_refused_with_the_reason(tmp_path: Path, change, reason: str) -> None:  # type: ignore[no-untyped-def]
    document = change(_example().model_dump(mode="json"))
    if "late-pin" not in str(document) and reason != "no haiku rule to move":
        document["exploration"] = None  # exploration targets must name tiers' targets; keep it valid
    policy = Policy.model_validate(document)
    engine = make_engine(migrated_sqlite_url(tmp_path))
    try:
        create_version(engine, policy, actor="setup")
        activate(engine, policy.version, actor="setup")
        outcome = propose(engine, builtin_price_table(), SETTINGS)
        assert outcome.proposal is None and reason in outcome.reason, outcome.reason
    finally:
        engine.dispose()


def test_a_policy_with_no_sonnet_target_moves_its_one_threshold(tmp_path: Path) -> None:
    """Haiku and opus targets only: every trial keeps the two thresholds together (a sonnet band
    would need a sonnet rule with nowhere to route), so the search spends its trials on where haiku
    stops, and the proposal names only the policy's own targets and routes as it was priced.
    Before, the best trials opened a sonnet band that no evidence could back, and no proposal came."""
    document = {"version": "two-tiers", "exploration": {"share": 0.3, "targets": ["haiku", "opus"]},
                "targets": [{"name": "haiku", "base_url": "https://api.anthropic.com", "model": "claude-haiku-4-5",
                             "tier": "haiku"},
                            {"name": "opus", "base_url": "https://api.anthropic.com", "model": "claude-opus-4-5",
                             "tier": "opus"}],
                "rules": [{"name": "haiku-tokens", "when": {"input_tokens": {"lt": 10_000}}, "route": ["haiku"]}],
                "default": {"route": ["opus"]}}
    policy = Policy.model_validate(document)
    engine, world = _store(tmp_path, policy, turns=6_000, seed=3)
    try:
        _, candidate = _proposal(engine)
        assert {name for rule in candidate.rules for name in rule.route or ()} <= {"haiku", "opus"}
        params = params_of(candidate)
        assert params.base.haiku_below == params.base.opus_from != 10_000
        tokens = world.frame["tokens"].to_numpy()[:1_500]
        facts = _untagged(tokens)
        assert set(routed_tiers(candidate, tokens, facts)[0]) <= {"haiku", "opus"}
        assert_routes_as_priced(candidate, params, tokens, facts)
    finally:
        engine.dispose()


def test_a_rule_for_a_kind_of_work_is_re_routed_when_a_cheaper_tier_does_as_well(tmp_path: Path) -> None:
    """The reference policy with its compaction rule sending compaction calls to opus: they are easy
    on every tier, so the proposal sends them to a cheaper one by changing that rule's route and
    nothing else about it, and says so in the evidence."""
    document = _example(share=0.3).model_dump(mode="json")
    document["rules"] = [{**rule, "route": ["opus", "sonnet-us"]} if rule["name"] == "compaction" else rule
                         for rule in document["rules"]]
    policy = Policy.model_validate(document)
    engine, _ = _store(tmp_path, policy, turns=3_000, seed=11)
    try:
        outcome, candidate = _proposal(engine)
        rerouted = next(rule for rule in candidate.rules if rule.name == "compaction")
        original = next(rule for rule in policy.rules if rule.name == "compaction")
        assert rerouted.when == original.when and rerouted.route != original.route
        assert rerouted.route[0] in ("haiku", "sonnet-us")
        assert [r.name for r in candidate.rules][:len(BEFORE_TIERS)] == BEFORE_TIERS  # still in place
        entry = next(e for e in outcome.proposal.evidence["reroutable_rules"] if e["rule"] == "compaction")
        assert entry["note"] == "re-routed" and entry["candidate_route"] == list(rerouted.route)
        assert "the turns rule compaction routes: opus → " in outcome.proposal.evidence["rationale"]
        # decide() on the candidate sends compaction calls where the replay priced them
        compiled = compile_policy(candidate)
        tier_of = {target.name: target.tier for target in candidate.targets}
        decisions = [decide(compiled, RouteFacts(input_tokens=tokens, request_class="compaction", session_id=f"s{i}"))
                     for i in range(40) for tokens in (1_000, 30_000, 300_000)]
        routed = {tier_of[d.chain[0].name] for d in decisions if d.rule == "compaction"}  # outside exploration
        assert routed == {TIERS[params_of(candidate).rules[0].tier]}
    finally:
        engine.dispose()


def test_the_cli_says_which_rules_it_kept_and_which_it_re_routed() -> None:
    evidence = {"kept_as_written": [{"rule": "security-repos", "turns": 12, "note": "kept as written"}],
                "reroutable_rules": [
                    {"rule": "compaction", "route": ["opus", "sonnet-us"], "candidate_route": ["haiku", "sonnet-us"],
                     "turns": 1_200, "note": "re-routed"},
                    {"rule": "big-thinking", "route": ["opus"], "candidate_route": ["opus"], "turns": 3,
                     "note": "re-routable: kept as written"}]}
    assert rule_lines(evidence) == ["kept as written: security-repos (12 turns)",
                                    "re-routed: compaction opus → haiku (1,200 turns)"]
    assert rule_lines({}) == []


def test_a_pinned_rule_is_kept_as_written_even_where_re_routing_it_would_save(tmp_path: Path) -> None:
    """``pinned: true`` says "the optimizer keeps this rule": the compaction rule sending compaction
    calls to opus, which the proposal otherwise re-routes to a cheaper tier (the test above), stays
    byte for byte, listed as a pin; routing ignores the flag."""
    document = _example(share=0.3).model_dump(mode="json")
    document["rules"] = [{**rule, "route": ["opus", "sonnet-us"], "pinned": True} if rule["name"] == "compaction"
                         else rule for rule in document["rules"]]
    policy = Policy.model_validate(document)
    assert [rule.name for rule in params_of(policy).rules] == ["explore-subagents", "big-thinking"]
    unpinned = Policy.model_validate({**document, "rules": [{**rule, "pinned": None} for rule in document["rules"]]})
    compiled, plain = compile_policy(policy), compile_policy(unpinned)
    for facts in (RouteFacts(input_tokens=5_000, request_class="compaction", session_id="s1"),
                  RouteFacts(input_tokens=50_000, session_id="s2")):
        assert decide(compiled, facts).chain == decide(plain, facts).chain  # routing ignores it
    engine, _ = _store(tmp_path, policy, turns=3_000, seed=11)
    try:
        outcome, candidate = _proposal(engine)
        after = next(rule for rule in candidate.rules if rule.name == "compaction")
        assert after == policy.rules[0]  # byte for byte, the flag too
        kept = {entry["rule"]: entry["note"] for entry in outcome.proposal.evidence["kept_as_written"]}
        assert kept["compaction"] == "kept as written (pinned)"
        assert "compaction" not in {entry["rule"] for entry in outcome.proposal.evidence["reroutable_rules"]}
    finally:
        engine.dispose()
