"""Every candidate the optimizer writes is a valid policy that routes as the replay priced it
(issue 16, item 4): a property over random starting policies (with and without a sonnet rule, a
default on any tier, exploration or none) and random base thresholds and segment overrides —
meeting thresholds included, the case that once wrote ``input_tokens: {gte: x, lt: x}``."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.optimizer_world import MODELS, default_policy
from core.policy.compile import compile_policy
from core.policy.decide import decide
from core.policy.exploration import EXPLORATION_RULE, SEGMENT_PREFIX
from core.policy.facts import RouteFacts
from core.policy.schema import Policy
from optimizer.candidate import params_of, with_params, with_thresholds
from optimizer.propose import candidate_problems
from optimizer.replay import TIERS, Thresholds
from optimizer.segments import TIER_THRESHOLDS, Override, RoutingParams, Segment
from optimizer.turn_facts import TurnFacts

TURNS = 300
REPOS = np.array(["api", "web", "legacy/billing", None], dtype=object)


def three_rule_policy(version: str = "v1", *, haiku_below: int = 10_000, opus_from: int = 60_000,
                      default: str = "opus", explore: int = 0, ladder: bool = False, tools_below: int | None = None,
                      thinking_off: bool = False, kept: bool = False) -> Policy:
    """A policy shaped like a hand-written one: a rule per tier, the default on ``default``; with
    ``ladder`` no opus rule (opus is the default, the sonnet rule says ``lt`` only), with
    ``tools_below`` the haiku rule also asks ``tool_count < tools_below`` (and with ``thinking_off``
    ``thinking: false``), with ``kept`` rules the optimizer keeps as written come first (a
    compaction rule, a team pin, and a segment rule of its own, big thinking turns to opus, just
    before where the optimizer writes its overrides)."""
    targets = [{"name": f"anthropic-{tier}", "base_url": "https://api.anthropic.com", "model": MODELS[tier],
                "tier": tier} for tier in TIERS]
    rules: list[dict[str, object]] = []
    if explore:
        rules.append({"name": "explore", "when": {"session_bucket": {"lt": explore}},
                      "split": [{"weight": 1, "route": [f"anthropic-{tier}"]} for tier in TIERS]})
    if kept:
        rules += [{"name": "compaction", "when": {"request_class": ["compaction"]}, "route": ["anthropic-haiku"]},
                  {"name": "platform", "when": {"team": ["platform"]}, "route": ["anthropic-opus"]},
                  {"name": "big-thinking", "when": {"thinking": True, "input_tokens": {"gte": 150_000}},
                   "route": ["anthropic-opus"]}]
    small: dict[str, object] = {"input_tokens": {"lt": haiku_below}}
    if tools_below is not None:
        small["tool_count"] = {"lt": tools_below}
    if thinking_off:
        small["thinking"] = False
    rules.append({"name": "small", "when": small, "route": ["anthropic-haiku"]})
    if ladder:
        rules.append({"name": "mid", "when": {"input_tokens": {"lt": opus_from}},
                      "route": ["anthropic-sonnet", "anthropic-opus"]})
        default = "opus"
    else:
        rules += [{"name": "mid", "when": {"input_tokens": {"gte": haiku_below, "lt": opus_from}},
                   "route": ["anthropic-sonnet", "anthropic-opus"]},
                  {"name": "large", "when": {"input_tokens": {"gte": opus_from}}, "route": ["anthropic-opus"]}]
    return Policy.model_validate({"version": version, "targets": targets, "rules": rules,
                                  "default": {"route": [f"anthropic-{default}"]}})


def routed_tiers(policy: Policy, tokens: np.ndarray, facts: TurnFacts) -> tuple[list[str], list[str]]:
    """decide()'s first tier and rule for every turn (each turn its own session)."""
    compiled = compile_policy(policy)
    tier_of = {target.name: target.tier for target in policy.targets}
    tiers, rules = [], []
    for i in range(tokens.size):
        decision = decide(compiled, RouteFacts(input_tokens=int(tokens[i]), thinking=bool(facts.thinking[i]),
                                               tool_count=int(facts.tool_count[i]), repo=facts.repo[i],
                                               requested_tier="sonnet", session_id=f"session-{i}"))
        tiers.append(str(tier_of[decision.chain[0].name]))
        rules.append(decision.rule)
    return tiers, rules


def assert_routes_as_priced(candidate: Policy, params: RoutingParams, tokens: np.ndarray, facts: TurnFacts) -> None:
    expected = params.actions(tokens, facts)
    tiers, rules = routed_tiers(candidate, tokens, facts)
    # exploration (the policy block's, or the simulated fleet's split rule ``explore``) and the rules
    # kept as written are not what the replay prices (their turns are taken out of it:
    # optimizer.kept_rules.pinned); here the kept ones never see a turn of theirs
    for i, (tier, rule) in enumerate(zip(tiers, rules, strict=True)):
        if rule not in ("explore", EXPLORATION_RULE) and not rule.startswith(SEGMENT_PREFIX):
            assert tier == TIERS[expected[i]], (i, int(tokens[i]), rule, params)


@st.composite
def thresholds(draw: st.DrawFn) -> Thresholds:
    below = draw(st.integers(1, 200_000))
    return Thresholds(below, below + draw(st.sampled_from([0, 0, 1, draw(st.integers(0, 200_000))])))


@st.composite
def routing_params(draw: st.DrawFn) -> RoutingParams:
    segments = draw(st.lists(st.sampled_from([Segment.thinking(), Segment.tools(29), Segment.tools(41),
                                              Segment.repo("legacy/billing"), Segment.repo("api")]),
                             max_size=3, unique_by=lambda s: (s.kind, s.value if s.kind == "repo" else "")))
    return RoutingParams(draw(thresholds()), tuple(Override(s, draw(thresholds())) for s in segments))


starting_policies = st.one_of(
    st.builds(lambda b, e, x: default_policy("v1", haiku_below=b, opus_from=b + e, explore=x),
              st.integers(1, 50_000), st.integers(0, 200_000), st.sampled_from([0, 3, 30])),
    st.builds(lambda b, e, d, x: three_rule_policy("v1", haiku_below=b, opus_from=b + e + 1, default=d, explore=x),
              st.integers(1, 50_000), st.integers(0, 200_000), st.sampled_from(TIERS), st.sampled_from([0, 3])),
    # hand-written shapes (issue 16, item 1): a ladder with opus as the default, a haiku rule that
    # also asks for few tools, rules kept as written before the tier rules
    # (a haiku limit that excludes the thinking segment or a tool-dense one: their overrides have
    # no haiku rule)
    st.builds(lambda b, e, x, t, o, k: three_rule_policy("v1", haiku_below=b, opus_from=b + e + 1, explore=x,
                                                         ladder=True, tools_below=t, thinking_off=o, kept=k),
              st.integers(1, 50_000), st.integers(0, 200_000), st.sampled_from([0, 3]),
              st.sampled_from([None, 29, 40]), st.booleans(), st.booleans()))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=starting_policies, steps=st.lists(routing_params(), min_size=1, max_size=3), seed=st.integers(0, 2**16))
def test_every_candidate_validates_reads_back_and_routes_as_priced(start: Policy, steps: list[RoutingParams],
                                                                    seed: int) -> None:
    """Successive proposals, each written over the last (what approving them in turn does)."""
    rng = np.random.default_rng(seed)
    boundaries = np.array([p for step in steps for t in [step.base, *(o.thresholds for o in step.overrides)]
                           for p in (t.haiku_below, t.opus_from)])
    tokens = np.concatenate([rng.integers(0, 300_000, TURNS - 2 * boundaries.size),
                             boundaries, np.maximum(boundaries - 1, 0)])  # both sides of every threshold
    thinking = rng.random(tokens.size) < 0.4
    # the re-routable big-thinking rule (when the policy has it) routes thinking turns from 150 K
    big = any(rule.name == "big-thinking" for rule in start.rules)
    facts = TurnFacts(thinking, rng.choice([17, 17, 29, 41], tokens.size), rng.choice(REPOS, tokens.size),
                      rule=np.where(big & thinking & (tokens >= 150_000), "big-thinking", None).astype(object))
    policy = start
    for number, drawn in enumerate(steps, start=2):
        # the search keeps what the haiku rule asks besides tokens (it moves thresholds only), and
        # may send a re-routable rule's turns, whole, to any tier
        active = params_of(policy)
        rerouted = tuple(Override(Segment.rule(rule.name), TIER_THRESHOLDS[int(rng.integers(0, 3))])
                         for rule in active.rules if rng.random() < 0.7)
        params = replace(drawn, overrides=drawn.overrides + rerouted, haiku_limit=active.haiku_limit,
                         rules=active.rules)
        candidate = with_params(policy, params, f"v{number}")
        assert candidate_problems(candidate) == [], (params, candidate.rules)
        read = params_of(candidate)
        assert read.rules == params.as_written().rules  # each rule's route where the replay priced it
        if not big:
            assert read == params.as_written()
        # else an override rule the kept big-thinking rule shadows is left out: the thresholds it
        # carried may read back otherwise, but route every turn the replay prices the same
        assert_routes_as_priced(candidate, params, tokens, facts)
        assert_routes_as_priced(candidate, read, tokens, facts)
        policy = candidate


def test_meeting_thresholds_leave_the_sonnet_rule_out_and_wider_ones_bring_it_back() -> None:
    """The bug measured on a world built outside the project: ``haiku_below == opus_from`` wrote the
    sonnet rule as ``{gte: 13869, lt: 13869}``, which the validator (and so approval) refuses."""
    start = three_rule_policy()
    met = with_thresholds(start, Thresholds(13_869, 13_869), "v2")
    assert candidate_problems(met) == []
    assert [rule.name for rule in met.rules] == ["small", "large"]
    tokens = np.array([13_868, 13_869, 200_000])
    facts = TurnFacts(np.zeros(3, dtype=bool), np.zeros(3, dtype=np.int64), np.array([None] * 3, dtype=object))
    assert routed_tiers(met, tokens, facts)[0] == ["haiku", "opus", "opus"]
    # the default is opus: a wider range needs a sonnet rule again, after the haiku and opus rules
    wider = with_thresholds(met, Thresholds(5_000, 50_000), "v3")
    assert candidate_problems(wider) == []
    assert [rule.name for rule in wider.rules] == ["small", "large", "sonnet-tokens"]
    assert routed_tiers(wider, np.array([4_999, 5_000, 49_999, 50_000]), TurnFacts(
        np.zeros(4, dtype=bool), np.zeros(4, dtype=np.int64), np.array([None] * 4, dtype=object)))[0] == \
        ["haiku", "sonnet", "sonnet", "opus"]
