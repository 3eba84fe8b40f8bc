"""A routing rule's conditions in words, each checked against one stored turn's facts:

    estimated input 8 214 tokens < 15 000          (holds)
    estimated input 26 327 tokens, not < 15 000    (does not hold)
    requested tier opus is one of opus, sonnet
    session bucket 7 < 10

Pure. The facts are what the proxy stored with the turn (a fact it did not store is "unknown",
which, like a missing request fact in decide(), never satisfies a condition); the session bucket
is recomputed from the session id with the same salted hash decide() uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.policy.hashing import bucket_salt, salted, session_bucket, session_bytes
from core.policy.schema import IntRange, Match
from core.pricing import PriceTable


def grouped(number: int) -> str:
    """14203 → "14 203" (thousands separated by a space, as people write token counts)."""
    return f"{number:,}".replace(",", " ")


@dataclass(frozen=True, slots=True)
class StoredFacts:
    """The routing facts of a stored turn; None where the turn does not say."""

    input_tokens: int | None = None
    tool_count: int | None = None
    requested_tier: str | None = None
    thinking: bool | None = None
    request_class: str | None = None
    agent_type: str | None = None
    developer: str | None = None
    team: str | None = None
    repo: str | None = None
    session_bucket: int = 0


def stored_facts(turn: Mapping[str, Any], prices: PriceTable) -> StoredFacts:
    estimated, tools = turn.get("estimated_input_tokens"), turn.get("tool_count")
    return StoredFacts(
        input_tokens=None if estimated is None else int(estimated), tool_count=None if tools is None else int(tools),
        requested_tier=prices.tier_of(turn.get("requested_model")), thinking=turn.get("thinking"),
        request_class=turn.get("request_class"), agent_type=turn.get("agent_type"), developer=turn.get("developer"),
        team=turn.get("team"), repo=turn.get("repo"),
        session_bucket=session_bucket(salted(bucket_salt()), session_bytes(turn.get("session_id"))))


@dataclass(frozen=True, slots=True)
class Condition:
    text: str
    holds: bool


# (Match field, words, unit) in the order a reader scans a rule: size first, who last.
_RANGES = {"input_tokens": ("estimated input", " tokens"), "tool_count": ("tools offered", ""),
           "session_bucket": ("session bucket", "")}
_MEMBERS = {"requested_tier": "requested tier", "request_class": "request class", "agent_type": "agent type",
            "developer": "developer", "team": "team", "repo": "repo"}
_ORDER = ("input_tokens", "tool_count", "requested_tier", "thinking", "request_class", "agent_type", "developer",
          "team", "repo", "session_bucket")


def _bounds(bounds: IntRange) -> str:
    parts = ([f"≥ {grouped(bounds.gte)}"] if bounds.gte is not None else []) + (
        [f"< {grouped(bounds.lt)}"] if bounds.lt is not None else [])
    return " and ".join(parts) or "any value"


def _range(words: str, unit: str, value: int | None, bounds: IntRange) -> Condition:
    wanted = _bounds(bounds)
    if value is None:
        return Condition(f"{words} unknown, not {wanted}", False)
    holds = (bounds.gte is None or value >= bounds.gte) and (bounds.lt is None or value < bounds.lt)
    shown = f"{words} {grouped(value)}{unit}"
    return Condition(f"{shown} {wanted}" if holds else f"{shown}, not {wanted}", holds)


def _member(words: str, value: str | None, allowed: tuple[str, ...]) -> Condition:
    wanted = allowed[0] if len(allowed) == 1 else f"one of {', '.join(allowed)}"
    if value is not None and value in allowed:
        return Condition(f"{words} is {value}" if len(allowed) == 1 else f"{words} {value} is {wanted}", True)
    return Condition(f"{words} {value if value is not None else 'unknown'}, not {wanted}", False)


def _thinking(value: bool | None, wanted: bool) -> Condition:
    def word(flag: bool) -> str:
        return "on" if flag else "off"

    if value is wanted:
        return Condition(f"thinking {word(wanted)}", True)
    return Condition(f"thinking {'unknown' if value is None else word(value)}, not {word(wanted)}", False)


def conditions(when: Match, facts: StoredFacts) -> list[Condition]:
    """Every condition ``when`` sets, in reading order (an empty list: the rule matches every turn)."""
    found = []
    for field in _ORDER:
        wanted = getattr(when, field)
        if wanted is None:
            continue
        if field in _RANGES:
            words, unit = _RANGES[field]
            found.append(_range(words, unit, getattr(facts, field), wanted))
        elif field == "thinking":
            found.append(_thinking(facts.thinking, wanted))
        else:
            found.append(_member(_MEMBERS[field], getattr(facts, field), wanted))
    return found


def first_miss(when: Match, facts: StoredFacts) -> Condition | None:
    """The first condition of ``when`` these facts fail, None when all hold."""
    return next((condition for condition in conditions(when, facts) if not condition.holds), None)
