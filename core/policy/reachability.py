"""Rules that can never fire, and ranges that overlap by accident.

First match wins, so a rule is dead when an earlier rule matches every turn it matches (its match
is a superset). This checks that predicate by predicate, which catches the common mistakes (a
catch-all rule above others, a narrower rule below a wider one) without a solver; a rule covered
only by the *union* of several earlier rules is not detected.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .problems import Problem
from .schema import IntRange, Match, Rule

_INFINITY = 1 << 62
# Each range predicate's domain: token and tool counts are never negative; buckets are 0..99.
RANGE_DOMAINS: dict[str, tuple[int, int]] = {
    "input_tokens": (0, _INFINITY),
    "tool_count": (0, _INFINITY),
    "session_bucket": (0, 100),
}
SET_FIELDS = ("requested_tier", "request_class", "agent_type", "developer", "team", "repo", "group")


def bounds_of(field: str, bounds: IntRange | None) -> tuple[int, int]:
    """The half-open interval a range predicate admits, clipped to the field's domain."""
    low, high = RANGE_DOMAINS[field]
    if bounds is None:
        return low, high
    return (max(low, bounds.gte) if bounds.gte is not None else low,
            min(high, bounds.lt) if bounds.lt is not None else high)


def _range_covers(field: str, wide: IntRange | None, narrow: IntRange | None) -> bool:
    wide_low, wide_high = bounds_of(field, wide)
    narrow_low, narrow_high = bounds_of(field, narrow)
    return narrow_low >= narrow_high or (wide_low <= narrow_low and narrow_high <= wide_high)


def covers(wide: Match, narrow: Match) -> bool:
    """Whether every turn ``narrow`` matches is also matched by ``wide``."""
    for field in RANGE_DOMAINS:
        if not _range_covers(field, getattr(wide, field), getattr(narrow, field)):
            return False
    for field in SET_FIELDS:
        allowed: tuple[str, ...] | None = getattr(wide, field)
        required: tuple[str, ...] | None = getattr(narrow, field)
        # a missing fact never matches a constrained predicate, so an unconstrained ``narrow``
        # admits turns (those without the fact) that no list in ``wide`` admits
        if allowed is not None and (required is None or not set(required) <= set(allowed)):
            return False
    return wide.thinking is None or wide.thinking == narrow.thinking


def _same_except(first: Match, second: Match, field: str) -> bool:
    return first.model_copy(update={field: None}) == second.model_copy(update={field: None})


def shadowing_problems(rules: Sequence[Rule], paths: Sequence[str] | None = None) -> Iterable[Problem]:
    """Unreachable rules (errors); an unreachable default and partly overlapping ranges (warnings).
    ``paths`` locates each rule (default ``rules[i]``; the exploration block's rule is not in
    ``rules`` of the document, but it is tried first all the same)."""
    where = list(paths) if paths is not None else [f"rules[{i}]" for i in range(len(rules))]
    everything = Match()
    for later, rule in enumerate(rules):
        for earlier in range(later):
            if covers(rules[earlier].when, rule.when):
                yield Problem(where[later], f"rule {rule.name!r} is unreachable: {_who(where, rules, earlier)} "
                              "matches every turn it matches")
                break
        else:
            yield from _overlaps(rules, later, where)
    for index, rule in enumerate(rules):
        if covers(rule.when, everything):
            # a warning, not an error: the default cannot split, so a catch-all *split* (say 90/10
            # for everything the rules above leave) is only expressible as a last rule like this
            yield Problem("default", f"the default is unreachable: {_who(where, rules, index)} matches every turn",
                          "warning")
            break


def _who(where: Sequence[str], rules: Sequence[Rule], index: int) -> str:
    name = rules[index].name
    return where[index] if where[index] == name else f"{where[index]} ({name!r})"


def _overlaps(rules: Sequence[Rule], later: int, where: Sequence[str]) -> Iterable[Problem]:
    rule = rules[later]
    for earlier in range(later):
        other = rules[earlier]
        for field in RANGE_DOMAINS:
            mine, theirs = getattr(rule.when, field), getattr(other.when, field)
            if mine is None or theirs is None or not _same_except(rule.when, other.when, field):
                continue
            low, high = bounds_of(field, mine)
            other_low, other_high = bounds_of(field, theirs)
            overlap = (max(low, other_low), min(high, other_high))
            # a later range that contains the earlier one is the usual cascade (< 20k, then < 120k)
            contains = low <= other_low and other_high <= high
            if overlap[0] < overlap[1] and not contains:
                shown = f"[{overlap[0]}, {overlap[1]})" if overlap[1] < _INFINITY else f"[{overlap[0]}, ∞)"
                yield Problem(f"{where[later]}.when.{field}", f"overlaps {_who(where, rules, earlier)} on "
                              f"{shown}: those turns go to {other.name!r}", "warning")
