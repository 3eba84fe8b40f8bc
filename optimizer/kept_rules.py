"""Any valid policy as a starting point: which of its rules the optimizer moves, which it keeps as
written, and which turns those kept rules take out of the replay. Pure (core.policy's decide()).

The *tunable* rules are the threshold and segment rules optimizer.candidate reads (and the default,
where the turns no rule takes go). Every other rule that routes (not a split, not a session-bucket
rule: those carry the exploration the replay learns from) comes before them and catches the same
turns under the active policy and under any candidate. Of those:

* a *re-routable* rule is one the team wrote for a kind of work: it asks only what the request is
  (request class, agent type, thinking, tools offered, input tokens), routes to a chain whose first
  target has a tier, and rewrites no model. Compaction calls to haiku, Explore sub-agents to haiku,
  big thinking turns to opus: whether another tier does as well there is a question for the
  evidence. Its turns stay in the replay as a block of their own that the search may send, whole,
  to another tier (optimizer.segments, ``rule`` segments); the candidate then changes the rule's
  route and nothing else;
* every other one is *kept as written*: a rule that names who asks (team, developer, group, the
  tier the client asked for) or where (repo) is the team's decision about people or code, not a
  routing guess; as is one that rewrites the model, and one the team marked ``pinned: true``. The
  candidate copies it unchanged, in place;
  its turns cost and score the same under both, so they are taken out of the replay (pinned) and
  counted in the evidence.

Which rule routes a turn is asked of decide() on the policy without its exploration: an explored
turn counts where the rule would have sent it, as the replay prices every turn outside exploration.
A rule after the first tunable rule would catch different turns as the thresholds move, which the
replay does not model: such a policy is refused, naming the rule.

Before the search and after writing the candidate, :func:`check_reading` asks decide() how the
policy routes a grid of token counts (every threshold and its neighbour, in and outside each
segment and the haiku limit) and refuses a policy (or fails a candidate) that routes any that
reach the tunable rules elsewhere than the thresholds read from it say, or a re-routable rule to
another tier than read: the replay prices what the proxy will do, or nothing.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from core.policy.compile import compile_policy
from core.policy.decide import decide
from core.policy.facts import RouteFacts
from core.policy.schema import Policy, Rule
from optimizer.candidate import (
    NotAThresholdPolicyError,
    explores,
    reroutable,
    reroutable_rules,
    routing_rules_before,
    tunable_names,
)
from optimizer.replay import TIERS
from optimizer.segments import RoutingParams, Segment
from optimizer.turn_facts import TurnFacts


def kept_rules(policy: Policy) -> list[Rule]:
    """The rules the optimizer copies unchanged (in policy order), exploration and re-routable ones aside."""
    return [rule for rule in routing_rules_before(policy) if not reroutable(policy, rule)]


def check_order(policy: Policy) -> None:
    """Refuse a kept rule after the first tunable one (see the module docstring)."""
    tunable = tunable_names(policy)
    first = next(index for index, rule in enumerate(policy.rules) if rule.name in tunable)
    late = [rule.name for rule in policy.rules[first:] if rule.name not in tunable and not explores(rule)]
    if late:
        raise NotAThresholdPolicyError(
            f"rule(s) {', '.join(repr(name) for name in late)} come after the tier rules the optimizer moves: which "
            "turns they catch would change with the thresholds, and the replay does not model that; move them "
            "before the tier rules (they are then kept as written)")


def _unexplored(policy: Policy) -> Policy:
    """``policy`` without its exploration: how it routes a turn outside the explored sessions."""
    return policy.model_copy(update={"exploration": None,
                                     "rules": tuple(rule for rule in policy.rules if not explores(rule))})


def _look(segment: Segment) -> dict[str, object]:
    """Facts of a turn inside ``segment`` (and no other)."""
    if segment.kind == "thinking":
        return {"thinking": True}
    if segment.kind == "tools":
        return {"tool_count": int(segment.value)}
    if segment.kind == "developers":
        return {"developer": segment.members[0]}
    return {segment.kind: segment.value}


_FIELDS = ("thinking", "tool_count", "repo", "request_class", "agent_type", "team", "developer")


def _grid(params: RoutingParams) -> tuple[np.ndarray, TurnFacts]:
    blocks = [params.base, *(override.thresholds for override in params.overrides)]
    edges = sorted({value + step for t in blocks for value in (t.haiku_below, t.opus_from) for step in (-1, 0, 1)
                    if value + step >= 0} | {0, 1_000_000_000})
    looks: list[dict[str, object]] = [{}]
    segments = [_look(override.segment) for override in params.overrides]
    looks += segments
    limit = params.haiku_limit
    if limit is not None:  # turns the haiku limit turns away, outside every segment and inside each
        for look in [{}, *segments]:
            tools = look.get("tool_count", 0)
            looks.append({**look, "thinking": limit.thinking is False or look.get("thinking") is True,
                          "tool_count": max(limit.tool_count_below or 0, tools if isinstance(tools, int) else 0)})
    tokens = np.array([edge for _ in looks for edge in edges], dtype=np.int64)
    defaults: dict[str, object] = {"thinking": False, "tool_count": 0}
    columns = {name: [look.get(name, defaults.get(name)) for look in looks for _ in edges] for name in _FIELDS}
    facts = TurnFacts(np.array(columns["thinking"], dtype=bool), np.array(columns["tool_count"], dtype=np.int64),
                      *(np.array(columns[name], dtype=object) for name in _FIELDS[2:]))
    return tokens, facts


def check_reading(policy: Policy, params: RoutingParams) -> None:
    """NotAThresholdPolicyError when the policy's tunable rules route some grid point elsewhere
    than ``params`` (see the module docstring), or a re-routable rule's route starts elsewhere than
    ``params`` says."""
    params = params.as_written()
    tier_of = {target.name: target.tier for target in policy.targets}
    routes = {rule.name: rule.route for rule in policy.rules}
    for rule in params.rules:
        route = routes.get(rule.name)
        routed = None if not route else tier_of.get(route[0])
        if routed != TIERS[rule.tier]:
            raise NotAThresholdPolicyError(f"policy {policy.version!r} routes rule {rule.name!r} to "
                                           f"{routed or 'no tier'} where it reads as {TIERS[rule.tier]}")
    # a point a rule before the tier rules catches is not the thresholds' to route (its turns are
    # pinned, or a re-routable rule's block): only the points that reach the tunable rules count
    compiled, before = compile_policy(_unexplored(policy)), {rule.name for rule in routing_rules_before(policy)}
    tokens, facts = _grid(params)
    expected = params.actions(tokens, facts)
    for i in range(tokens.size):
        decision = decide(compiled, RouteFacts(input_tokens=int(tokens[i]), thinking=bool(facts.thinking[i]),
                                               tool_count=int(facts.tool_count[i]), repo=facts.repo[i],
                                               request_class=facts.column("request_class", tokens.size)[i],
                                               agent_type=facts.column("agent_type", tokens.size)[i],
                                               team=facts.column("team", tokens.size)[i],
                                               developer=facts.column("developer", tokens.size)[i]))
        routed = tier_of.get(decision.chain[0].name)
        if decision.rule not in before and routed != TIERS[expected[i]]:
            raise NotAThresholdPolicyError(
                f"policy {policy.version!r} sends {int(tokens[i]):,} input tokens to {routed or 'an untiered target'} "
                f"(rule {decision.rule!r}) where its tier rules read as {TIERS[expected[i]]}: the optimizer cannot "
                "price it as written")


def _facts_of(row: dict[str, object]) -> RouteFacts:
    return RouteFacts(input_tokens=int(row["tokens"] or 0), tool_count=int(row["tool_count"] or 0),  # type: ignore[call-overload]
                      requested_tier=row.get("requested_tier"), thinking=bool(row["thinking"]),  # type: ignore[arg-type]
                      request_class=row.get("request_class"), agent_type=row.get("agent_type"),  # type: ignore[arg-type]
                      developer=row.get("developer"), team=row.get("team"), repo=row.get("repo"),  # type: ignore[arg-type]
                      session_id=row.get("session_id"))  # type: ignore[arg-type]


def routing_rules(policy: Policy, frame: pl.DataFrame) -> np.ndarray:
    """Per row of ``frame``: the name of the rule before the tunable ones that routes it under
    ``policy`` without its exploration (kept or re-routable), else None."""
    names = {rule.name for rule in routing_rules_before(policy)}
    found = np.full(frame.height, None, dtype=object)
    if not names:
        return found
    compiled = compile_policy(_unexplored(policy))
    for index, row in enumerate(frame.iter_rows(named=True)):
        rule = decide(compiled, _facts_of(row)).rule
        if rule in names:
            found[index] = rule
    return found


def pinned(policy: Policy, routed: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    """(per row: whether a kept rule routes it; turns per kept rule), from :func:`routing_rules`."""
    counts = {rule.name: int((routed == rule.name).sum()) for rule in kept_rules(policy)}
    mask = np.isin(routed, np.array(list(counts), dtype=object)) if counts else np.zeros(routed.size, dtype=bool)
    return mask, counts


def rule_column(policy: Policy, routed: np.ndarray) -> np.ndarray:
    """Per row: the re-routable rule that routes it (TurnFacts.rule), else None, from :func:`routing_rules`."""
    names = {rule.name for rule in reroutable_rules(policy)}
    return np.array([name if name in names else None for name in routed.tolist()], dtype=object)


def kept_evidence(policy: Policy, counts: dict[str, int]) -> list[dict[str, object]]:
    """The evidence's "kept as written" list: each kept rule, where it routes, the turns it took."""
    return [{"rule": rule.name, "route": list(rule.route or ()), "turns": counts.get(rule.name, 0),
             "note": "kept as written (pinned)" if rule.pinned else "kept as written"} for rule in kept_rules(policy)]


def rule_evidence(policy: Policy, candidate: Policy, routed: np.ndarray) -> list[dict[str, object]]:
    """The evidence's "re-routable rules" list: each, its route before and after, the turns it routed."""
    after = {rule.name: rule for rule in candidate.rules}
    entries: list[dict[str, object]] = []
    for rule in reroutable_rules(policy):
        route = list(after[rule.name].route or ()) if rule.name in after else []
        entries.append({"rule": rule.name, "route": list(rule.route or ()), "candidate_route": route,
                        "turns": int((routed == rule.name).sum()),
                        "note": "re-routed" if route != list(rule.route or ()) else "re-routable: kept as written"})
    return entries
