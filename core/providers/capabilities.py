"""The per-provider capability table (capabilities.yaml) and the one function that applies it: what
to drop from a request before it goes to a provider that would reject it, header half and body half
together. Pure; the table is loaded once by whoever holds it (the proxy, at start)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

_TOOLS = "tools[]."


@dataclass(frozen=True, slots=True)
class Capabilities:
    betas: frozenset[str]
    fields: frozenset[str]
    tool_fields: frozenset[str]
    unlocked_by: tuple[tuple[str, frozenset[str]], ...]  # body part -> the betas that make it valid


def _flat(items: list[Any]) -> list[str]:
    """YAML anchors let a list hold a list (``[*core, model]``): flatten one level."""
    out: list[str] = []
    for item in items or ():
        out.extend(item if isinstance(item, list) else [item])
    return out


def load_capabilities(text: str | None = None) -> dict[str, Capabilities]:
    """The table by provider; ``text`` for tests, else the packaged capabilities.yaml."""
    if text is None:
        text = resources.files("core.providers").joinpath("capabilities.yaml").read_text()
    document = yaml.safe_load(text)
    table: dict[str, Capabilities] = {}
    for provider, entry in document.items():
        if provider == "common":
            continue
        table[provider] = Capabilities(
            betas=frozenset(_flat(entry.get("betas"))), fields=frozenset(_flat(entry.get("fields"))),
            tool_fields=frozenset(_flat(entry.get("tool_fields"))),
            unlocked_by=tuple((part, frozenset(betas)) for part, betas in (entry.get("unlocked_by") or {}).items()))
    return table


def split_betas(header: str | None) -> list[str]:
    return [b.strip() for b in (header or "").split(",") if b.strip()]


def fit(capabilities: Capabilities, betas: list[str], body: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Drop from ``body`` (in place; nested containers are copied, never changed) and from ``betas``
    what the provider does not accept. Returns (the betas kept, labels of what was dropped:
    ``beta:x``, ``field:x``, ``field:x.y``, ``field:tools[].x``).

    A beta is dropped first; then each body part whose unlocking betas are all gone; then every
    other top-level field and custom-tool key the provider does not know."""
    dropped: list[str] = []
    kept: list[str] = []
    for beta in betas:
        if beta in capabilities.betas:
            kept.append(beta)
        else:
            dropped.append(f"beta:{beta}")
    kept_set = set(kept)
    unlocked_fields: set[str] = set()
    unlocked_tool_keys: set[str] = set()
    for part, unlocking in capabilities.unlocked_by:
        if unlocking & kept_set:
            if part.startswith(_TOOLS):
                unlocked_tool_keys.add(part[len(_TOOLS):])
            elif "." not in part:
                unlocked_fields.add(part)
        elif _drop_part(body, part):
            dropped.append(f"field:{part}")
    for field in list(body):
        if field not in capabilities.fields and field not in unlocked_fields:
            del body[field]
            dropped.append(f"field:{field}")
    dropped += _fit_tools(body, capabilities.tool_fields | unlocked_tool_keys)
    return kept, dropped


def _custom(tool: object) -> bool:
    # server tools (web search, bash, text editor …) have shapes of their own
    return isinstance(tool, dict) and tool.get("type", "custom") == "custom"


def _fit_tools(body: dict[str, Any], allowed: frozenset[str] | set[str]) -> list[str]:
    tools = body.get("tools")
    if not isinstance(tools, list):
        return []
    unknown = sorted({key for tool in tools if _custom(tool) for key in tool if key not in allowed})
    if unknown:
        body["tools"] = [{k: v for k, v in tool.items() if k in allowed} if _custom(tool) else tool for tool in tools]
    return [f"field:tools[].{key}" for key in unknown]


def _drop_part(body: dict[str, Any], part: str) -> bool:
    """Remove ``part`` (``field``, ``field.key`` or ``tools[].key``) from ``body``; True if it was there.
    Containers are copied before they change, so the caller's other references (the parsed request
    shared by every target of the chain) stay intact."""
    if part.startswith(_TOOLS):
        key = part[len(_TOOLS):]
        tools = body.get("tools")
        if not isinstance(tools, list) or not any(_custom(t) and key in t for t in tools):
            return False
        body["tools"] = [{k: v for k, v in t.items() if k != key} if _custom(t) else t for t in tools]
        return True
    field, _, key = part.partition(".")
    if not key:
        return body.pop(field, _MISSING) is not _MISSING
    inner = body.get(field)
    if not isinstance(inner, dict) or key not in inner:
        return False
    rest = {k: v for k, v in inner.items() if k != key}
    if rest:
        body[field] = rest
    else:
        del body[field]  # an object left empty ({"output_config": {}}) is itself rejected by some providers
    return True


_MISSING = object()
