"""Threshold rules of a policy: read the token thresholds between tiers (and the segment overrides,
optimizer.segments) out of a policy, and write new ones into a copy of it, changing nothing else.

A *threshold rule* matches on ``when.input_tokens`` and nothing else, and routes (no split) to a
chain whose first target has a tier. The haiku rule's ``lt`` is the haiku → sonnet threshold, the
opus rule's ``gte`` the sonnet → opus one; a sonnet threshold rule, when there is one, gets the
range between them.

A *segment rule* is the same with one more predicate: ``thinking: true``, ``tool_count: {gte: k}``,
``repo: [name]`` and the like (optimizer.segments). A segment's rules form an override when they
come in a row before the first threshold rule and are what :func:`with_params` writes for some
thresholds: a haiku rule (``lt``), an opus rule (``gte``) and, when those differ, a sonnet rule
for the range between. On a policy with a haiku limit the haiku rule asks the limit's predicates
too and the sonnet rule runs from 0; a rule an earlier rule would catch every turn of is left
out. The override's thresholds apply to the segment's turns before the base thresholds do, in the
order the segments first appear.

Other rules (exploration splits, team rules, segment rules that do not cover every token count)
and the default are kept as they are; the replay models only threshold and segment rules, which is
why a policy without a haiku and an opus threshold rule is refused rather than guessed at.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.policy.reachability import covers
from core.policy.schema import IntRange, Match, Policy, Rule
from optimizer.replay import TIERS, Thresholds
from optimizer.segments import HaikuLimit, Override, RoutingParams, RuleRoute, Segment


class NotAThresholdPolicyError(ValueError):
    """The policy has no haiku and opus threshold rules for the optimizer to move."""


def _tier_of_rule(policy: Policy, rule: Rule) -> str | None:
    if rule.route is None or rule.when.input_tokens is None:
        return None
    if rule.when.model_copy(update={"input_tokens": None}) != Match():
        return None
    first = next((target for target in policy.targets if target.name == rule.route[0]), None)
    return None if first is None else first.tier


def _limit_of_rule(policy: Policy, rule: Rule) -> HaikuLimit | None:
    """The HaikuLimit of a haiku rule matching on input_tokens (lt only) plus ``tool_count: {lt: k}``
    and/or ``thinking: false`` — a hand-written "small turns" rule — else None."""
    when = rule.when
    if rule.route is None or when.input_tokens is None or when.input_tokens.gte is not None \
            or when.input_tokens.lt is None:
        return None
    if when.model_copy(update={"input_tokens": None, "tool_count": None, "thinking": None}) != Match():
        return None
    tools = when.tool_count
    if tools is not None and (tools.gte is not None or tools.lt is None):
        return None
    if when.thinking is True or (tools is None and when.thinking is None):
        return None
    first = next((target for target in policy.targets if target.name == rule.route[0]), None)
    if first is None or first.tier != "haiku":
        return None
    return HaikuLimit(tool_count_below=None if tools is None else tools.lt, thinking=when.thinking)


def threshold_rules(policy: Policy) -> dict[str, Rule]:
    """tier → its threshold rule (the first one, when several match). Without a haiku rule matching
    on input_tokens alone, the first haiku rule with a HaikuLimit is the haiku threshold rule."""
    found: dict[str, Rule] = {}
    for rule in policy.rules:
        tier = None if rule.pinned else _tier_of_rule(policy, rule)
        if tier is not None:
            found.setdefault(tier, rule)
    if "haiku" not in found:
        limited = next((rule for rule in policy.rules
                        if not rule.pinned and _limit_of_rule(policy, rule) is not None), None)
        if limited is not None:
            found["haiku"] = limited
    return found


def haiku_limit(policy: Policy) -> HaikuLimit | None:
    haiku = threshold_rules(policy).get("haiku")
    return None if haiku is None else _limit_of_rule(policy, haiku)


def has_tier(policy: Policy, tier: str) -> bool:
    """Whether some target of ``policy`` is on ``tier``: only then can a written rule route there."""
    return any(target.tier == tier for target in policy.targets)


def _default_tier(policy: Policy) -> str | None:
    tiers = {target.name: target.tier for target in policy.targets}
    return tiers.get(policy.default.route[0])


def _ladder(policy: Policy) -> bool:
    """Whether the policy spells the sonnet → opus threshold as a ladder: no opus threshold rule,
    opus as the default, and the sonnet rule's ``lt`` (or, with no sonnet rule, the haiku rule's)
    where opus starts — the way a rule per tier is usually written by hand."""
    return "opus" not in threshold_rules(policy) and _default_tier(policy) == "opus"


def thresholds_of(policy: Policy) -> Thresholds:
    rules = threshold_rules(policy)
    haiku, opus, sonnet = rules.get("haiku"), rules.get("opus"), rules.get("sonnet")
    if not any(target.tier for target in policy.targets):
        raise NotAThresholdPolicyError(f"policy {policy.version!r} has no tiered route to change: no target names "
                                       "a tier (haiku, sonnet, opus)")
    if haiku is None or haiku.when.input_tokens is None or haiku.when.input_tokens.lt is None:
        raise NotAThresholdPolicyError(
            f"policy {policy.version!r} has no haiku rule to move: the optimizer moves a rule that routes to a haiku "
            "target and matches only on when.input_tokens (lt), and keeps every other rule (and every pinned one) "
            "as written")
    below = haiku.when.input_tokens.lt
    if _limit_of_rule(policy, haiku) is not None and not has_tier(policy, "sonnet"):
        # the replay sends the turns the haiku rule's other predicates turn away to sonnet
        raise NotAThresholdPolicyError(
            f"policy {policy.version!r} has a haiku rule {haiku.name!r} that also asks more than input_tokens, and "
            "no sonnet target for the turns it turns away: add a target with tier: sonnet, or match the haiku rule "
            "on input_tokens only")
    if opus is not None:
        start = opus.when.input_tokens.gte if opus.when.input_tokens is not None else None
        if start is None:
            raise NotAThresholdPolicyError("the opus rule needs input_tokens.gte")
    elif _ladder(policy):
        if sonnet is None:
            start = below
        elif sonnet.when.input_tokens is None or sonnet.when.input_tokens.lt is None:
            raise NotAThresholdPolicyError(f"the sonnet rule {sonnet.name!r} needs input_tokens.lt: with opus as the "
                                           "default, that is where opus starts")
        else:
            start = sonnet.when.input_tokens.lt
    else:
        raise NotAThresholdPolicyError(
            f"policy {policy.version!r} has no opus threshold to move: it needs an opus rule matching only "
            "when.input_tokens (gte), or opus as the default after the haiku and sonnet rules")
    return Thresholds(min(below, start), max(below, start))


def _range(tier: str, thresholds: Thresholds) -> IntRange:
    if tier == "haiku":
        return IntRange(lt=thresholds.haiku_below)
    if tier == "opus":
        return IntRange(gte=thresholds.opus_from)
    return IntRange(gte=thresholds.haiku_below, lt=thresholds.opus_from)


def _without_limit(when: Match, limit: HaikuLimit) -> Match | None:
    """A segment's haiku rule's predicate less the haiku limit's (None: it does not ask all of them,
    so it is no override's haiku rule on this policy)."""
    update: dict[str, object] = {}
    if limit.thinking is not None:
        if when.thinking is not limit.thinking:
            return None
        update["thinking"] = None
    if limit.tool_count_below is not None:
        tools = when.tool_count
        if tools is None or tools.lt != limit.tool_count_below:
            return None
        update["tool_count"] = None if tools.gte is None else IntRange(gte=tools.gte)
    return when.model_copy(update=update)


def _segment_of_rule(policy: Policy, rule: Rule, limit: HaikuLimit | None) -> tuple[Segment, str] | None:
    """(segment, tier) of a rule routing one segment's token range to one tier, else None. On a
    policy with a haiku limit a segment's haiku rule asks the limit's predicates too. A pinned rule
    is no part of an override: it is kept as written."""
    if rule.pinned or rule.route is None or rule.when.input_tokens is None:
        return None
    first = next((target for target in policy.targets if target.name == rule.route[0]), None)
    if first is None or first.tier is None:
        return None
    when = rule.when
    if first.tier == "haiku" and limit is not None:
        stripped = _without_limit(rule.when, limit)
        if stripped is None:
            return None
        when = stripped
    rest = when.model_copy(update={"input_tokens": None, "thinking": None, "tool_count": None, "repo": None,
                                   "request_class": None, "agent_type": None, "team": None, "developer": None})
    if rest != Match():
        return None
    segments = []
    if when.thinking is True:
        segments.append(Segment.thinking())
    elif when.thinking is not None:
        return None
    if when.tool_count is not None:
        if when.tool_count.lt is not None or when.tool_count.gte is None:
            return None
        segments.append(Segment.tools(when.tool_count.gte))
    for kind in ("request_class", "agent_type", "team", "repo"):
        values = getattr(when, kind)
        if values is not None:
            if len(values) != 1:
                return None
            segments.append(Segment.one_of(kind, values[0]))
    if when.developer is not None:
        segments.append(Segment.developers(when.developer))
    if len(segments) != 1:
        return None
    return segments[0], first.tier


def _first_threshold_index(policy: Policy) -> int:
    chosen = {rule.name for rule in threshold_rules(policy).values()}
    return next(index for index, rule in enumerate(policy.rules) if rule.name in chosen)


def _read_override(policy: Policy, segment: Segment, run: Sequence[Rule], before: Sequence[Rule]) -> Thresholds | None:
    """The thresholds whose override, written after ``before``, is exactly ``run`` (None: no
    thresholds are): the values its rules name are tried, smallest first. So a rule the writer left
    out, because an earlier rule catches every turn it would (kept ``thinking`` turns from 120 K to
    opus, say), is read as there, and a hand-written override reads back the way it is written."""
    numbers = sorted({0, *(value for rule in run if rule.when.input_tokens is not None
                           for value in (rule.when.input_tokens.gte, rule.when.input_tokens.lt) if value is not None)})
    whens = [rule.when for rule in run]
    sonnet = has_tier(policy, "sonnet")  # else the writer keeps the two thresholds together
    for below in numbers:
        for start in (value for value in numbers if value >= below and (sonnet or value == below)):
            thresholds = Thresholds(below, start)
            if [rule.when for rule in _override_rules(policy, Override(segment, thresholds), before)] == whens:
                return thresholds
    return None


_TIER_ORDER = {"haiku": 0, "sonnet": 1, "opus": 2}


def segment_rules(policy: Policy) -> dict[Segment, tuple[Thresholds, tuple[str, ...]]]:
    """segment → (its thresholds, the names of its rules), for the overrides the policy holds, in
    the order they take effect. An override is a run of rules in a row, one segment's, tiers
    rising, that with_params would write for some thresholds: a hand-written segment rule elsewhere
    (``thinking`` turns from 120 K to opus, say) is no part of one and is kept as written."""
    thresholds_of(policy)
    limit = haiku_limit(policy)
    runs: list[tuple[Segment, int, list[Rule]]] = []  # segment, index of its first rule, its rules
    previous: tuple[Segment, str] | None = None
    for index, rule in enumerate(policy.rules[:_first_threshold_index(policy)]):
        found = _segment_of_rule(policy, rule, limit)
        if found is not None:
            if previous is None or previous[0] != found[0] or _TIER_ORDER[found[1]] <= _TIER_ORDER[previous[1]]:
                runs.append((found[0], index, []))
            runs[-1][2].append(rule)
        previous = found
    found_overrides: dict[Segment, tuple[Thresholds, tuple[str, ...]]] = {}
    for segment, first, run in runs:
        thresholds = _read_override(policy, segment, run, policy.rules[:first])
        if thresholds is not None and segment not in found_overrides:  # a later one is never reached
            found_overrides[segment] = (thresholds, tuple(rule.name for rule in run))
    return found_overrides


def _tier_of_route(policy: Policy, route: Sequence[str]) -> str | None:
    return next((target.tier for target in policy.targets if target.name == route[0]), None)


def tunable_names(policy: Policy) -> set[str]:
    """The threshold and segment rules: what the search moves."""
    names = {rule.name for rule in threshold_rules(policy).values()}
    return names | {name for _, rule_names in segment_rules(policy).values() for name in rule_names}


def explores(rule: Rule) -> bool:
    """A split or a session-bucket rule: the exploration the replay learns from."""
    return rule.split is not None or rule.when.session_bucket is not None


def routing_rules_before(policy: Policy) -> list[Rule]:
    """The rules that route besides the tunable ones and exploration, in policy order (they must
    come before the tunable ones: optimizer.kept_rules.check_order)."""
    tunable = tunable_names(policy)
    return [rule for rule in policy.rules if rule.name not in tunable and not explores(rule)]


# what a re-routable rule may ask: what the request is, not who sends it or for which code
_WORK_FIELDS = frozenset({"input_tokens", "tool_count", "thinking", "request_class", "agent_type"})


def reroutable(policy: Policy, rule: Rule) -> bool:
    """Whether the search may send ``rule``'s turns to another tier (optimizer.kept_rules explains)."""
    if rule.pinned or rule.route is None or rule.model is not None or explores(rule):
        return False
    asked = {name for name, value in rule.when if value is not None}
    return _tier_of_route(policy, rule.route) is not None and asked <= _WORK_FIELDS


def reroutable_rules(policy: Policy) -> list[Rule]:
    """The re-routable rules, in policy order."""
    return [rule for rule in routing_rules_before(policy) if reroutable(policy, rule)]


def params_of(policy: Policy) -> RoutingParams:
    """The base thresholds, segment overrides, haiku limit and re-routable rules the replay models
    for ``policy``."""
    rules = tuple(RuleRoute(rule.name, TIERS.index(str(_tier_of_route(policy, rule.route or ()))))
                  for rule in reroutable_rules(policy))
    return RoutingParams(thresholds_of(policy), tuple(Override(segment, thresholds)
                                                      for segment, (thresholds, _) in segment_rules(policy).items()),
                         haiku_limit(policy), rules)


def _route_of_tier(policy: Policy, tier: str) -> tuple[str, ...]:
    """Where a segment rule for ``tier`` sends turns: like the base threshold rule for that tier,
    else the default when it starts on that tier, else the first target on the tier."""
    rule = threshold_rules(policy).get(tier)
    if rule is not None and rule.route is not None:
        return rule.route
    first = {target.name: target.tier for target in policy.targets}
    if first.get(policy.default.route[0]) == tier:
        return policy.default.route
    named = next((target.name for target in policy.targets if target.tier == tier), None)
    if named is None:
        raise NotAThresholdPolicyError(f"policy {policy.version!r} has no target on tier {tier!r}")
    return (named,)


def _override_rules(policy: Policy, override: Override, before: Sequence[Rule]) -> list[Rule]:
    """An override's rules, tiers rising, written after ``before``. With a haiku limit its haiku
    rule asks the limit's predicates too (none when the limit excludes the segment, or
    ``haiku_below`` is 0) and its sonnet rule runs from 0, so the turns the limit turns away stay in
    the segment. A rule an earlier one would catch every turn of is left out: it could never fire,
    and the validator refuses a policy holding one (a kept rule for big thinking turns, say, covers
    the thinking override's opus rule once its threshold is above the kept rule's)."""
    segment, thresholds, limit = override.segment, override.thresholds, haiku_limit(policy)
    written: list[tuple[str, dict[str, object], IntRange]] = []
    if limit is None:
        tiers = ["haiku", "sonnet", "opus"] if thresholds.haiku_below < thresholds.opus_from else ["haiku", "opus"]
        written = [(tier, segment.when(), _range(tier, thresholds)) for tier in tiers]
    else:
        if thresholds.haiku_below > 0 and not limit.excludes(segment):
            written.append(("haiku", limit.when(segment), IntRange(lt=thresholds.haiku_below)))
        if thresholds.opus_from > 0:
            written.append(("sonnet", segment.when(), IntRange(lt=thresholds.opus_from)))
        written.append(("opus", segment.when(), IntRange(gte=thresholds.opus_from)))
    rules = [Rule.model_validate({"name": f"{segment.slug}-{tier}",
                                  "when": {**when, "input_tokens": tokens.model_dump(exclude_none=True)},
                                  "route": list(_route_of_tier(policy, tier))}) for tier, when, tokens in written]
    return [rule for rule in rules if not any(covers(earlier.when, rule.when) for earlier in before)]


def with_params(policy: Policy, params: RoutingParams, version: str, *, description: str | None = None) -> Policy:
    """A copy of ``policy`` as version ``version`` whose threshold rules carry ``params.base`` and whose
    segment overrides are ``params``' (those routing exactly like the base are left out): the old
    overrides' rules are removed, the new ones go just before the first threshold rule."""
    base = with_thresholds(policy, params.base, version, description=description)
    old = {name for _, names in segment_rules(policy).values() for name in names}
    kept = [rule for rule in base.rules if rule.name not in old]
    first = next(index for index, rule in enumerate(kept) if rule.name in
                 {r.name for r in threshold_rules(base).values()})
    written = params.as_written()
    routes = {rule.name: rule.tier for rule in written.rules}
    # a re-routed rule keeps its name, place and predicate; only its route changes
    kept = [rule if rule.name not in routes or _tier_of_route(policy, rule.route or ()) == TIERS[routes[rule.name]]
            else rule.model_copy(update={"route": _route_of_tier(policy, TIERS[routes[rule.name]])})
            for rule in kept]
    rules = kept[:first]
    for override in written.overrides:
        rules += _override_rules(policy, override, rules)
    rules += kept[first:]
    return Policy.model_validate({**base.model_dump(mode="json"),
                                  "rules": [rule.model_dump(mode="json") for rule in rules]})


def _sonnet_rule_name(policy: Policy) -> str:
    taken = {rule.name for rule in policy.rules}
    return next(name for name in ("sonnet-tokens", *(f"sonnet-tokens-{i}" for i in range(2, len(taken) + 3)))
                if name not in taken)


def _needs_sonnet_rule(policy: Policy) -> bool:
    """Whether turns between the thresholds would miss sonnet without a rule of their own (the
    default does not start on sonnet)."""
    tiers = {target.name: target.tier for target in policy.targets}
    return tiers.get(policy.default.route[0]) != "sonnet"


def with_thresholds(policy: Policy, thresholds: Thresholds, version: str, *, description: str | None = None) -> Policy:
    """A copy of ``policy`` as version ``version`` (its parent the old version) whose threshold
    rules carry ``thresholds``.

    When the thresholds meet (``haiku_below == opus_from``) sonnet's range is empty, and a rule
    for it could only be written as ``{gte: x, lt: x}``, which is not a valid policy: the sonnet
    threshold rule is left out. When the range is not empty and neither a sonnet threshold rule
    nor the default sends it to sonnet, a sonnet rule is added after the haiku and opus rules, so
    the written policy routes the range where the replay priced it."""
    thresholds_of(policy)  # refuse policies the replay cannot model
    rules = threshold_rules(policy)
    chosen = {rule.name: tier for tier, rule in rules.items()}
    # With a haiku limit, the turns it keeps off haiku below the haiku threshold need the sonnet
    # rule too: it is written from 0 (``lt`` only) and kept however narrow the range.
    limited = haiku_limit(policy) is not None
    empty_sonnet = thresholds.haiku_below >= thresholds.opus_from and not limited

    def tokens_range(tier: str) -> IntRange:
        wide = _range(tier, thresholds)
        return IntRange(lt=wide.lt) if tier == "sonnet" and limited else wide

    new_rules: list[Rule] = []
    for rule in policy.rules:
        tier = chosen.get(rule.name)
        if tier is None:
            new_rules.append(rule)
        elif not (tier == "sonnet" and empty_sonnet):
            new_rules.append(rule.model_copy(update={"when": rule.when.model_copy(
                update={"input_tokens": tokens_range(tier)})}))
    needs_sonnet = thresholds.haiku_below < thresholds.opus_from or limited
    if needs_sonnet and "sonnet" not in rules and _needs_sonnet_rule(policy):
        after = max(index for index, rule in enumerate(new_rules) if chosen.get(rule.name) in ("haiku", "opus"))
        between = tokens_range("sonnet").model_dump(exclude_none=True)
        added = Rule.model_validate({"name": _sonnet_rule_name(policy), "when": {"input_tokens": between},
                                     "route": list(_route_of_tier(policy, "sonnet"))})
        new_rules.insert(after + 1, added)
    update: dict[str, object] = {"version": version, "parent": policy.version}
    if description is not None:
        update["description"] = description
    return Policy.model_validate({**policy.model_dump(mode="json"), **update,
                                  "rules": [rule.model_dump(mode="json") for rule in new_rules]})
