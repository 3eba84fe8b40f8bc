"""A rule's ``when`` turned into a few small closures, one per constrained fact.

Only the predicates a rule actually sets become checks, and each is specialised for its shape
(lower bound only, upper only, both; a frozenset for a list), so decide() spends a handful of
attribute reads and comparisons per rule instead of walking every field of Match. The session
bucket is not a check here: compile.py turns it into a set of bucket intervals, which is what lets
decide() compute propensities exactly.
"""

from __future__ import annotations

from collections.abc import Callable

from .facts import RouteFacts
from .schema import IntRange, Match

Check = Callable[[RouteFacts], bool]


# The two range facts get hand-written closures: an attribute read inline is ~3x cheaper than
# going through a getter function, and they are the predicates nearly every rule has.
def _tokens_check(bounds: IntRange) -> Check:
    low, high = bounds.gte, bounds.lt
    if low is not None and high is not None:
        return lambda facts: low <= facts.input_tokens < high
    if low is not None:
        return lambda facts: facts.input_tokens >= low
    if high is not None:
        return lambda facts: facts.input_tokens < high
    return lambda facts: True


def _tools_check(bounds: IntRange) -> Check:
    low, high = bounds.gte, bounds.lt
    if low is not None and high is not None:
        return lambda facts: low <= facts.tool_count < high
    if low is not None:
        return lambda facts: facts.tool_count >= low
    if high is not None:
        return lambda facts: facts.tool_count < high
    return lambda facts: True


def _member_check(field: str, allowed: frozenset[str]) -> Check:
    # None (a fact the request did not carry) is never in a set of names: missing never matches.
    if field == "requested_tier":
        return lambda facts: facts.requested_tier in allowed
    if field == "request_class":
        return lambda facts: facts.request_class in allowed
    if field == "agent_type":
        return lambda facts: facts.agent_type in allowed
    if field == "developer":
        return lambda facts: facts.developer in allowed
    if field == "team":
        return lambda facts: facts.team in allowed
    if field == "repo":
        return lambda facts: facts.repo in allowed
    raise ValueError(f"not a membership predicate: {field}")


MEMBER_FIELDS = ("requested_tier", "request_class", "agent_type", "developer", "team", "repo")


def _group_check(allowed: frozenset[str]) -> Check:
    # a caller without groups (most virtual keys) never matches a group predicate
    return lambda facts: not allowed.isdisjoint(facts.groups)


def checks_for(when: Match) -> tuple[Check, ...]:
    """The rule's checks, cheapest and most selective first: token ranges split traffic the most."""
    checks: list[Check] = []
    if when.input_tokens is not None:
        checks.append(_tokens_check(when.input_tokens))
    if when.thinking is not None:
        wanted = when.thinking
        checks.append(lambda facts: facts.thinking is wanted)
    for field in MEMBER_FIELDS:
        values: tuple[str, ...] | None = getattr(when, field)
        if values is not None:
            checks.append(_member_check(field, frozenset(values)))
    if when.group is not None:
        checks.append(_group_check(frozenset(when.group)))
    if when.tool_count is not None:
        checks.append(_tools_check(when.tool_count))
    return tuple(checks)
