"""Properties of decide() over arbitrary facts: deterministic, chains of real targets, propensities
in (0, 1] that match how often each action is actually taken."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from core.policy.decide import decide
from core.policy.facts import RouteFacts
from core.policy.schema import TIERS

from .builders import TIERED_RULES, compiled

EXPLORING = compiled([
    {"name": "explore", "when": {"session_bucket": {"lt": 2}},
     "split": [{"weight": 1, "route": ["haiku"]}, {"weight": 1, "route": ["opus"]},
               {"weight": 2, "route": ["sonnet-us"], "model": "claude-sonnet-x"}]},
    {"name": "canary", "when": {"session_bucket": {"gte": 2, "lt": 7}, "thinking": True}, "route": ["opus"]},
    *TIERED_RULES,
], sticky=[{"name": "sonnet-regions", "targets": ["sonnet-us", "sonnet-eu"]}])

names = st.sampled_from(["intern-1", "platform", "vault", "data", "Explore", "Plan", "x"])
facts_strategy = st.builds(
    RouteFacts,
    input_tokens=st.integers(0, 400_000),
    tool_count=st.integers(0, 60),
    requested_tier=st.none() | st.sampled_from(TIERS),
    thinking=st.booleans(),
    request_class=st.none() | st.sampled_from(["main", "subagent", "workflow", "compaction", "auxiliary"]),
    agent_type=st.none() | names,
    developer=st.none() | names,
    team=st.none() | names,
    repo=st.none() | names,
    session_id=st.none() | st.text(max_size=40),
)


@given(facts_strategy)
def test_decide_is_deterministic_and_well_formed(facts: RouteFacts) -> None:
    first = decide(EXPLORING, facts)
    assert decide(EXPLORING, facts) == first
    assert first.chain and all(EXPLORING.target(t.name) is t for t in first.chain)
    assert len({t.name for t in first.chain}) == len(first.chain)
    assert 0.0 < first.propensity <= 1.0
    assert first.version == "test"


@settings(max_examples=25, deadline=None)
@given(facts_strategy)
def test_propensity_is_how_often_the_action_is_taken_over_sessions(facts: RouteFacts) -> None:
    sessions = 6_000
    taken: Counter[tuple[str, str | None]] = Counter()
    reported: defaultdict[tuple[str, str | None], set[float]] = defaultdict(set)
    for i in range(sessions):
        decision = decide(EXPLORING, RouteFacts(**{**_fields(facts), "session_id": f"session-{i}"}))
        action = (decision.chain[0].name, decision.model)
        taken[action] += 1
        reported[action].add(round(decision.propensity, 12))
    for action, count in taken.items():
        (propensity,) = reported[action]  # the same for every session that took it
        tolerance = 5 * math.sqrt(propensity * (1 - propensity) / sessions) + 1e-9
        assert abs(count / sessions - propensity) <= tolerance, (action, count, propensity)
    # inverse-propensity weights of the actions taken sum to the number of possible actions
    mean_inverse = sum(count / next(iter(reported[a])) for a, count in taken.items()) / sessions
    assert abs(mean_inverse - len(taken)) < 0.35 * len(taken)


def _fields(facts: RouteFacts) -> dict[str, object]:
    return {name: getattr(facts, name) for name in RouteFacts.__slots__}
