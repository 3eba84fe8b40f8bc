"""A rule's conditions and action in words, for the people who review and explain routing:

    3 ≤ tools offered < 20 and thinking on            (conditions)
    route haiku, then sonnet-us; model claude-haiku-4-5  (action)

Pure: it reads a rule's JSON form (``Rule.model_dump(mode="json")``, the shape a stored diff holds)
so one wording serves live policies and stored documents alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# The schema's predicate names, as a reviewer reads them (the order of Match, so text is stable).
FIELD_WORDS = {
    "input_tokens": "estimated input tokens", "tool_count": "tools offered", "requested_tier": "requested tier",
    "thinking": "thinking", "request_class": "request class", "agent_type": "agent type",
    "developer": "developer", "team": "team", "repo": "repo", "group": "group",
    "session_bucket": "session bucket",
}
ANY = "any"  # a predicate left out: it holds for every request


def number(value: object) -> str:
    """20000 → "20,000"; other values as text."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:,g}"


def field_words(name: str) -> str:
    return FIELD_WORDS.get(name, name.replace("_", " "))


def value_words(name: str, value: Any) -> str:
    """What one predicate asks, without its name: ``< 20,000``, ``8,000 – 20,000``, ``on``,
    ``vault`` or ``one of a, b``; ``any`` when it is left out."""
    if value is None:
        return ANY
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, Mapping):
        low, high = value.get("gte"), value.get("lt")
        if low is not None and high is not None:
            return f"≥ {number(low)} and < {number(high)}"
        if low is not None:
            return f"≥ {number(low)}"
        return f"< {number(high)}" if high is not None else ANY
    if isinstance(value, Sequence) and not isinstance(value, str):
        items = [str(item) for item in value]
        return items[0] if len(items) == 1 else "one of " + ", ".join(items)
    return str(value)


def condition(name: str, value: Any) -> str:
    """One predicate in words: ``estimated input tokens < 20,000``, ``thinking on``,
    ``repo is vault``, ``team is one of a, b``."""
    words, asked = field_words(name), value_words(name, value)
    if isinstance(value, bool | Mapping):
        return f"{words} {asked}"
    return f"{words} is {asked}"


def conditions(when: Mapping[str, Any] | None) -> list[str]:
    """Every predicate a rule asks (all must hold), in schema order; none: the rule matches every request."""
    return [condition(name, value) for name, value in (when or {}).items() if value is not None]


def when_words(when: Mapping[str, Any] | None) -> str:
    found = conditions(when)
    return " and ".join(found) if found else "every request (no condition)"


def chain(route: Sequence[str]) -> str:
    """["haiku", "sonnet-us"] → "haiku, then sonnet-us" (first choice first, the rest on failure)."""
    return ", then ".join(route)


def action_words(rule: Mapping[str, Any]) -> str:
    """Where a matching request goes: its route (or weighted split) and any model it is rewritten to."""
    parts = []
    if rule.get("route"):
        parts.append(f"route {chain(rule['route'])}")
    if rule.get("split"):
        parts.append(f"split {split_words(rule['split'])}")
    if rule.get("model"):
        parts.append(f"model {rule['model']}")
    return "; ".join(parts) or "no route"


def split_words(split: Sequence[Mapping[str, Any]]) -> str:
    """Weighted arms as shares of sessions: ``75% to haiku; 25% to opus, then sonnet-us (model x)``."""
    total = sum(float(arm.get("weight", 0)) for arm in split) or 1.0
    arms = []
    for arm in split:
        text = f"{float(arm.get('weight', 0)) / total:.0%} to {chain(arm.get('route') or ())}"
        arms.append(text + (f" (model {arm['model']})" if arm.get("model") else ""))
    return "; ".join(arms)
