"""A turn's routing decision in one sentence: the rule the proxy recorded, the conditions that
made it match (each with the turn's own value and the rule's threshold), where the turn went and
how, from the policy version it was decided under:

    rule small-turns: estimated input 8 214 tokens < 15 000 → haiku; served by haiku, no fallback (policy v7)
    rule explore: session bucket 7 < 10; exploration arm (propensity 1/3) → opus; … (policy demo-1)
    exploration of 2% of sessions: session bucket 1 < 2; exploration arm (propensity 1/3) → haiku; …
    no rule matched (small-turns: estimated input 26 327 tokens, not < 15 000): default → sonnet; …

Pure: the turn is a mapping of stored turn fields, the policy the compiled version it names (None
when that version is not stored: the sentence then says the conditions are unknown); the tier
comes from the one tier function (core.pricing.PriceTable.tier_of).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from core.policy.compile import DEFAULT_RULE, CompiledPolicy
from core.policy.exploration import EXPLORATION_RULE, is_exploration_rule, rules_in_order
from core.policy.hashing import session_bytes, unit_hash
from core.policy.schema import Rule
from core.pricing import PriceTable
from dashboard.conditions import StoredFacts, conditions, first_miss, grouped, stored_facts

__all__ = ["explain_decision", "grouped", "hop_trail", "propensity_words"]

# What the proxy records for decisions no policy rule made (proxy/app.py, proxy/budget_gate.py).
SIDE_ENDPOINT_RULE = "side-endpoint"
BUDGET_DOWNGRADE_PREFIX = "budget-downgrade:"
# how many rules a default decision lists as near misses
MISSES_SHOWN = 3


def hop_trail(hops: Sequence[str]) -> str:
    """["primary:529", "secondary:200"] → "primary 529 → secondary": each failed attempt with what
    went wrong, then the target that answered (its status only when it failed too)."""
    steps = []
    for index, hop in enumerate(hops):
        target, _, outcome = hop.rpartition(":") if ":" in hop else (hop, "", "")
        last = index == len(hops) - 1
        succeeded = last and outcome.isdigit() and int(outcome) < 400
        steps.append(target if succeeded or not outcome else f"{target} {outcome}")
    return " → ".join(steps)


def propensity_words(share: float) -> str:
    """0.3333… → "1/3", 0.25 → "1/4", 1.0 → "1": arm weights are small whole numbers."""
    fraction = Fraction(share).limit_denominator(1000)
    return str(fraction.numerator) if fraction.denominator == 1 else f"{fraction.numerator}/{fraction.denominator}"


def _arm(compiled: CompiledPolicy, rule: Rule, session_id: str | None) -> str:
    """Which arm of a split the session's hash picked, as decide() picks it, and its share."""
    assert rule.split is not None
    prepared = next(r for r in compiled.rules if r.name == rule.name)
    index = min(bisect_right(prepared.cumulative, unit_hash(prepared.salt, session_bytes(session_id))),
                len(rule.split) - 1)
    share = propensity_words(rule.split[index].weight / sum(arm.weight for arm in rule.split))
    # a split over a share of sessions (the exploration block, or a hand-written bucketed split) is
    # exploration; any other split is an experiment's arm
    if is_exploration_rule(rule.name) or rule.when.session_bucket is not None:
        return f"exploration arm (propensity {share})"
    return f"split arm {index + 1} of {len(rule.split)} (propensity {share})"


def _matched(compiled: CompiledPolicy, rule: Rule, facts: StoredFacts, session_id: str | None) -> str:
    found = conditions(rule.when, facts)
    said = " and ".join(condition.text for condition in found) if found else "matches every turn"
    if rule.name == EXPLORATION_RULE and compiled.policy.exploration is not None:
        head = f"exploration of {compiled.policy.exploration.share:.0%} of sessions: {said}"
    elif is_exploration_rule(rule.name) and rule.when.session_bucket is not None:  # a segment's rule
        share = (rule.when.session_bucket.lt or 0) / 100
        head = f"exploration of {share:.0%} of sessions in segment {rule.name}: {said}"
    else:
        head = f"rule {rule.name}: {said}"
    return f"{head}; {_arm(compiled, rule, session_id)}" if rule.split else head


def _default(compiled: CompiledPolicy, facts: StoredFacts) -> str:
    misses = []
    for rule in rules_in_order(compiled.policy):
        miss = first_miss(rule.when, facts)
        if miss is not None:
            misses.append(f"{rule.name}: {miss.text}")
    if not misses:
        return "no rule matched: default"
    more = len(misses) - MISSES_SHOWN
    listed = "; ".join(misses[:MISSES_SHOWN]) + (f"; {more} more" if more > 0 else "")
    return f"no rule matched ({listed}): default"


def _reason(turn: Mapping[str, Any], prices: PriceTable, compiled: CompiledPolicy | None) -> str:
    rule = turn.get("rule")
    version = turn.get("policy_version")
    if not rule:
        return "no routing rule recorded"
    if rule == SIDE_ENDPOINT_RULE:
        return "a side endpoint (not a model turn): the default route, no rule applies"
    if rule.startswith(BUDGET_DOWNGRADE_PREFIX):
        return f"budget downgrade: the {rule.removeprefix(BUDGET_DOWNGRADE_PREFIX)}'s budget is past its hard limit"
    if compiled is None:
        head = "no rule matched: default" if rule == DEFAULT_RULE else f"rule {rule} fired"
        return head + (f" (policy {version} is not stored, so its conditions are unknown)" if version else "")
    facts = stored_facts(turn, prices)
    if rule == DEFAULT_RULE:
        return _default(compiled, facts)
    found = next((r for r in rules_in_order(compiled.policy) if r.name == rule), None)
    if found is None:
        return f"rule {rule} fired (policy {compiled.version} has no such rule)"
    return _matched(compiled, found, facts, turn.get("session_id"))


def explain_decision(turn: Mapping[str, Any], prices: PriceTable, compiled: CompiledPolicy | None = None) -> str:
    """The sentence for ``turn``; ``compiled`` is the policy version it names (None if not stored)."""
    model = turn.get("served_model")
    tier = prices.tier_of(model)
    destination = tier if tier else f"target {turn.get('target') or 'unknown'}"
    hops = list(turn.get("fallback_hops") or ())
    route = hop_trail(hops) if hops else f"served by {turn.get('target') or 'unknown target'}, no fallback"
    text = f"{_reason(turn, prices, compiled)} → {destination}; {route}"
    if turn.get("policy_version"):
        text += f" (policy {turn['policy_version']})"
    if turn.get("ok") is False:
        text += f"; failed: {turn.get('error_type') or turn.get('status_code')}"
    return text
