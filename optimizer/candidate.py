"""Threshold rules of a policy: read the token thresholds between tiers out of a policy, and write
new ones into a copy of it, changing nothing else.

A *threshold rule* matches on ``when.input_tokens`` and nothing else, and routes (no split) to a
chain whose first target has a tier. The haiku rule's ``lt`` is the haiku → sonnet threshold, the
opus rule's ``gte`` the sonnet → opus one; a sonnet threshold rule, when there is one, gets the
range between them. Other rules (exploration splits, repo or team rules) and the default are kept
as they are; the replay models only the threshold rules, which is why a policy without a haiku and
an opus threshold rule is refused rather than guessed at.
"""

from __future__ import annotations

from core.policy.schema import IntRange, Match, Policy, Rule
from optimizer.replay import Thresholds


class NotAThresholdPolicyError(ValueError):
    """The policy has no haiku and opus threshold rules for the optimizer to move."""


def _tier_of_rule(policy: Policy, rule: Rule) -> str | None:
    if rule.route is None or rule.when.input_tokens is None:
        return None
    if rule.when.model_copy(update={"input_tokens": None}) != Match():
        return None
    first = next((target for target in policy.targets if target.name == rule.route[0]), None)
    return None if first is None else first.tier


def threshold_rules(policy: Policy) -> dict[str, Rule]:
    """tier → its threshold rule (the first one, when several match)."""
    found: dict[str, Rule] = {}
    for rule in policy.rules:
        tier = _tier_of_rule(policy, rule)
        if tier is not None:
            found.setdefault(tier, rule)
    return found


def thresholds_of(policy: Policy) -> Thresholds:
    rules = threshold_rules(policy)
    haiku, opus = rules.get("haiku"), rules.get("opus")
    if haiku is None or opus is None or haiku.when.input_tokens is None or opus.when.input_tokens is None:
        raise NotAThresholdPolicyError(f"policy {policy.version!r} needs a haiku and an opus rule matching only "
                                       "when.input_tokens for the optimizer to tune")
    below, start = haiku.when.input_tokens.lt, opus.when.input_tokens.gte
    if below is None or start is None:
        raise NotAThresholdPolicyError("the haiku rule needs input_tokens.lt and the opus rule input_tokens.gte")
    return Thresholds(min(below, start), max(below, start))


def _range(tier: str, thresholds: Thresholds) -> IntRange:
    if tier == "haiku":
        return IntRange(lt=thresholds.haiku_below)
    if tier == "opus":
        return IntRange(gte=thresholds.opus_from)
    return IntRange(gte=thresholds.haiku_below, lt=thresholds.opus_from)


def with_thresholds(policy: Policy, thresholds: Thresholds, version: str, *, description: str | None = None) -> Policy:
    """A copy of ``policy`` as version ``version`` (its parent the old version) whose threshold
    rules carry ``thresholds``."""
    thresholds_of(policy)  # refuse policies the replay cannot model
    rules = threshold_rules(policy)
    chosen = {rule.name: tier for tier, rule in rules.items()}
    new_rules = tuple(
        rule.model_copy(update={"when": rule.when.model_copy(update={"input_tokens": _range(chosen[rule.name],
                                                                                             thresholds)})})
        if rule.name in chosen else rule
        for rule in policy.rules)
    update: dict[str, object] = {"version": version, "parent": policy.version, "rules": new_rules}
    if description is not None:
        update["description"] = description
    return Policy.model_validate({**policy.model_dump(mode="json"),
                                  **{k: v for k, v in update.items() if k != "rules"},
                                  "rules": [rule.model_dump(mode="json") for rule in new_rules]})
