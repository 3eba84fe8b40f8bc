"""Everything that can be wrong with a well-formed policy, found in one pass and reported together.

Errors make compile_policy() refuse the policy; warnings are things a reviewer should look at
(e.g. two rules whose token ranges overlap) but that route deterministically all the same.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

from core.providers.kinds import ALLOWED_AUTH, REQUIRED_FIELDS

from .exploration import EXPLORATION_RULE, SEGMENT_PREFIX, exploration_problems, exploration_rules, segment_rule_name
from .guardrails import guardrail_problems
from .problems import Problem, errors_in
from .reachability import shadowing_problems
from .schema import PERIOD_ADJECTIVES, TIERS, Budget, IntRange, Match, ModelAccess, Policy, Rule, StickyPool, Target

# Decision.rule names the default route "default" and the exploration block "exploration"
RESERVED_RULE_NAMES = {"default": "the default route", EXPLORATION_RULE: "the exploration block"}


def validate(policy: Policy) -> list[Problem]:
    """All problems of ``policy``, errors and warnings, in document order."""
    targets = {t.name for t in policy.targets}
    problems: list[Problem] = []
    problems += _duplicates("targets", [t.name for t in policy.targets], "target")
    for index, target in enumerate(policy.targets):
        problems += _target_problems(f"targets[{index}]", target)
    problems += _duplicates("rules", [r.name for r in policy.rules], "rule")
    problems += _duplicates("sticky", [p.name for p in policy.sticky], "sticky pool")
    block = list(exploration_problems(policy.exploration, targets, policy.sticky)) if policy.exploration else []
    for index, segment in enumerate(policy.exploration.segments if policy.exploration else ()):
        block += _when_problems(f"exploration.segments[{index}].when", segment.when)
    problems += block
    by_name = {t.name: t for t in policy.targets}
    for index, rule in enumerate(policy.rules):
        problems += _rule_problems(f"rules[{index}]", rule, targets)
        problems += _model_override_problems(f"rules[{index}]", rule, by_name)
    problems += _chain_problems("default.route", policy.default.route, targets)
    problems += _shadowing(policy, block_is_valid=not errors_in(block))
    problems += _fallback_problems(policy)
    problems += _sticky_problems(policy.sticky, {t.name: t for t in policy.targets})
    problems += _budget_problems(policy.budgets, targets)
    problems += _access_problems(policy.model_access, by_name)
    problems += guardrail_problems(policy.guardrails)
    return problems


def _shadowing(policy: Policy, block_is_valid: bool) -> Iterable[Problem]:
    """Shadowing among the rules as decide() tries them, the exploration block's rule first (it
    takes only its share of session buckets, so the rules after it stay reachable)."""
    if not block_is_valid:  # no rule to place first: check the policy's own rules alone
        return shadowing_problems(policy.rules)
    block = policy.exploration
    path_of = {EXPLORATION_RULE: "exploration"} | {
        segment_rule_name(segment, i): f"exploration.segments[{i}]" for i, segment in enumerate(block.segments)
    } if block is not None else {}
    explore = exploration_rules(policy)
    return shadowing_problems((*explore, *policy.rules), [path_of[rule.name] for rule in explore]
                              + [f"rules[{i}]" for i in range(len(policy.rules))])


def _duplicates(section: str, names: Sequence[str], what: str) -> Iterable[Problem]:
    counts = Counter(names)
    reported: set[str] = set()
    for index, name in enumerate(names):
        if counts[name] > 1 and name not in reported:
            reported.add(name)
            yield Problem(f"{section}[{index}].name", f"{what} {name!r} is defined {counts[name]} times")


def _chain_problems(path: str, chain: Sequence[str], targets: set[str]) -> Iterable[Problem]:
    if not chain:
        yield Problem(path, "empty chain: name at least one target")
    seen: set[str] = set()
    for index, name in enumerate(chain):
        if name not in targets:
            yield Problem(f"{path}[{index}]", f"unknown target {name!r}")
        if name in seen:
            yield Problem(f"{path}[{index}]", f"target {name!r} appears twice in the chain")
        seen.add(name)


def _target_problems(path: str, target: Target) -> Iterable[Problem]:
    """A target of another provider names what its URLs and signatures need (docs/providers/)."""
    for field in REQUIRED_FIELDS[target.provider]:
        if getattr(target, field) is None:
            yield Problem(f"{path}.{field}", f"target {target.name!r} (provider {target.provider}) needs {field}")
    if target.auth not in ALLOWED_AUTH[target.provider]:
        allowed = " or ".join(sorted(ALLOWED_AUTH[target.provider]))
        yield Problem(f"{path}.auth", f"target {target.name!r}: provider {target.provider} authenticates with "
                      f"{allowed}, not {target.auth}")
    if target.project is not None and target.provider != "vertex":
        yield Problem(f"{path}.project", f"target {target.name!r}: project applies to provider vertex only",
                      "warning")


def _model_override_problems(path: str, rule: Rule, targets: dict[str, Target]) -> Iterable[Problem]:
    """A rule's model rewrite is an Anthropic model id: a target of another provider keeps its own
    (the provider's id for it), so the rewrite does not reach it."""
    models = [(f"{path}.model", rule.model, rule.route or ())] + [
        (f"{path}.split[{i}].model", arm.model or rule.model, arm.route) for i, arm in enumerate(rule.split or ())]
    for where, model, route in models:
        if model is None:
            continue
        for name in route:
            target = targets.get(name)
            if target is not None and target.provider != "anthropic":
                yield Problem(where, f"model {model!r} does not apply to target {name!r} (provider "
                              f"{target.provider}): it is sent its own model {target.model!r}", "warning")


def _rule_problems(path: str, rule: Rule, targets: set[str]) -> Iterable[Problem]:
    if rule.name in RESERVED_RULE_NAMES:
        yield Problem(f"{path}.name", f"{rule.name!r} is reserved for {RESERVED_RULE_NAMES[rule.name]}")
    elif rule.name.startswith(SEGMENT_PREFIX):
        yield Problem(f"{path}.name", f"names starting {SEGMENT_PREFIX!r} are reserved for the exploration "
                      "block's segments")
    yield from _when_problems(f"{path}.when", rule.when)
    if (rule.route is None) == (rule.split is None):
        yield Problem(path, f"rule {rule.name!r} needs exactly one of route or split")
    if rule.route is not None:
        yield from _chain_problems(f"{path}.route", rule.route, targets)
    if rule.split is not None:
        weights = [arm.weight for arm in rule.split]
        if not all(math.isfinite(w) for w in weights):
            yield Problem(f"{path}.split", "weights must be finite numbers")
        elif sum(weights) <= 0:
            yield Problem(f"{path}.split", "weights sum to 0: name at least one arm with a positive weight")
        for index, arm in enumerate(rule.split):
            yield from _chain_problems(f"{path}.split[{index}].route", arm.route, targets)


def _when_problems(path: str, when: Match) -> Iterable[Problem]:
    yield from _range_problems(f"{path}.input_tokens", when.input_tokens, upper=None)
    yield from _range_problems(f"{path}.tool_count", when.tool_count, upper=None)
    yield from _range_problems(f"{path}.session_bucket", when.session_bucket, upper=100)
    for field in ("requested_tier", "request_class", "agent_type", "developer", "team", "repo", "group"):
        values = getattr(when, field)
        if values is not None and not values:
            yield Problem(f"{path}.{field}", "an empty list matches nothing: leave the field out instead",
                          "warning")


def _range_problems(path: str, bounds: IntRange | None, upper: int | None) -> Iterable[Problem]:
    if bounds is None:
        return
    for side in ("gte", "lt"):
        value = getattr(bounds, side)
        if value is not None and value < 0:
            yield Problem(f"{path}.{side}", f"negative bound {value}")
        if value is not None and upper is not None and value > upper:
            yield Problem(f"{path}.{side}", f"{value} is outside 0..{upper}")
    if bounds.gte is not None and bounds.lt is not None and bounds.gte >= bounds.lt:
        yield Problem(path, f"empty range: gte {bounds.gte} >= lt {bounds.lt} (lt is exclusive)")
    elif bounds.lt == 0:
        yield Problem(f"{path}.lt", "lt 0 matches nothing (lt is exclusive)")


def _fallback_problems(policy: Policy) -> Iterable[Problem]:
    for index, status in enumerate(policy.fallback.on_status):
        if not 400 <= status <= 599:
            yield Problem(f"fallback.on_status[{index}]", f"{status} is not an error status (400..599)")
    repeated = sorted(s for s, n in Counter(policy.fallback.on_status).items() if n > 1)
    if repeated:
        yield Problem("fallback.on_status", f"listed more than once: {repeated}", "warning")


def _sticky_problems(pools: Sequence[StickyPool], targets: dict[str, Target]) -> Iterable[Problem]:
    pool_of: dict[str, str] = {}
    for index, pool in enumerate(pools):
        path = f"sticky[{index}]"
        members = [targets[name] for name in pool.targets if name in targets]
        for position, name in enumerate(pool.targets):
            where = f"{path}.targets[{position}]"
            if name not in targets:
                yield Problem(where, f"unknown target {name!r}")
            elif name in pool_of and pool_of[name] != pool.name:
                yield Problem(where, f"target {name!r} is already in sticky pool {pool_of[name]!r}")
            elif pool.targets.index(name) != position:
                yield Problem(where, f"target {name!r} appears twice in the pool")
            pool_of.setdefault(name, pool.name)
        for field in ("tier", "model"):
            values = {getattr(t, field) for t in members}
            if len(values) > 1:
                shown = ", ".join(sorted(str(v) for v in values))
                yield Problem(f"{path}.targets", f"members differ in {field} ({shown}): a session's turns would "
                              "be served differently depending on its hash", "warning")


def _budget_problems(budgets: Sequence[Budget], targets: set[str]) -> Iterable[Problem]:
    seen: dict[tuple[str, str, str], int] = {}
    for index, budget in enumerate(budgets):
        path = f"budgets[{index}]"
        key = (budget.scope, budget.name, budget.cadence)
        if key in seen:
            yield Problem(path, f"{PERIOD_ADJECTIVES[budget.cadence]} budget for {budget.scope} {budget.name!r} is "
                          f"already defined at budgets[{seen[key]}] (one budget per principal and period)")
        seen.setdefault(key, index)
        if budget.hard <= budget.soft:
            yield Problem(f"{path}.hard", f"hard ({budget.hard}) must be above soft ({budget.soft})")
        if budget.action == "downgrade" and budget.downgrade_to is None:
            yield Problem(f"{path}.downgrade_to", "action downgrade needs downgrade_to (a target name)")
        if budget.downgrade_to is not None:
            if budget.downgrade_to not in targets:
                yield Problem(f"{path}.downgrade_to", f"unknown target {budget.downgrade_to!r}")
            if budget.action != "downgrade":
                yield Problem(f"{path}.downgrade_to", f"ignored: the action is {budget.action}", "warning")


def _access_problems(entries: Sequence[ModelAccess], targets: dict[str, Target]) -> Iterable[Problem]:
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        path = f"model_access[{index}]"
        if entry.group in seen:
            yield Problem(f"{path}.group", f"group {entry.group!r} already has an allowlist at "
                          f"model_access[{seen[entry.group]}]: list all its models in one entry")
        seen.setdefault(entry.group, index)
        for position, model in enumerate(entry.models):
            if not model.strip():
                yield Problem(f"{path}.models[{position}]", "a blank model name allows nothing")
        if entry.on_denied == "downgrade":
            if entry.downgrade_to is None:
                yield Problem(f"{path}.downgrade_to", "on_denied downgrade needs downgrade_to (a target name)")
            elif entry.downgrade_to not in targets:
                yield Problem(f"{path}.downgrade_to", f"unknown target {entry.downgrade_to!r}")
            elif targets[entry.downgrade_to].model is None:
                yield Problem(f"{path}.downgrade_to", f"target {entry.downgrade_to!r} keeps the requested model "
                              "(it sets no model), so a denied model would be sent as asked: name a target "
                              "with a model")
        elif entry.downgrade_to is not None:
            yield Problem(f"{path}.downgrade_to", "ignored: on_denied is reject", "warning")
        tiers = [m for m in entry.models if m in TIERS]
        if len(tiers) == len(TIERS):
            yield Problem(f"{path}.models", "every tier is listed: the allowlist denies only unpriced models",
                          "warning")
