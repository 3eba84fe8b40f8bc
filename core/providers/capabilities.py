"""The per-provider capability table (capabilities.yaml) and the one function that applies it: what
to drop from a request before it goes to a provider that would reject it, header half and body half
together. Pure; the table is loaded once by whoever holds it (the proxy, at start)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml


@dataclass(frozen=True, slots=True)
class Capabilities:
    betas: frozenset[str]
    fields: frozenset[str]
    beta_parts: tuple[tuple[str, tuple[str, ...]], ...]  # beta -> the body parts it alone makes valid


def load_capabilities(text: str | None = None) -> dict[str, Capabilities]:
    """The table by provider; ``text`` for tests, else the packaged capabilities.yaml."""
    if text is None:
        text = resources.files("core.providers").joinpath("capabilities.yaml").read_text()
    document = yaml.safe_load(text)
    table: dict[str, Capabilities] = {}
    for provider, entry in document.items():
        if provider.startswith("common"):
            continue
        parts = entry.get("beta_parts") or {}
        table[provider] = Capabilities(
            betas=frozenset(entry.get("betas") or ()), fields=frozenset(entry.get("fields") or ()),
            beta_parts=tuple((beta, tuple(paths)) for beta, paths in parts.items()))
    return table


def split_betas(header: str | None) -> list[str]:
    return [b.strip() for b in (header or "").split(",") if b.strip()]


def fit(capabilities: Capabilities, betas: list[str], body: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Drop from ``body`` (in place) and from ``betas`` what the provider does not accept; returns
    (the betas kept, what was dropped as ``beta:x`` / ``field:x`` / ``field:tools[].x`` labels).

    Order matters: a beta is dropped first, then the body parts only it makes valid, then every
    top-level field the provider does not know. A part whose beta is kept stays."""
    dropped: list[str] = []
    kept = []
    for beta in betas:
        if beta in capabilities.betas:
            kept.append(beta)
        else:
            dropped.append(f"beta:{beta}")
    kept_set = set(kept)
    for beta, parts in capabilities.beta_parts:
        if beta in kept_set:
            continue
        for part in parts:
            if _drop_part(body, part):
                dropped.append(f"field:{part}")
    for field in list(body):
        if field not in capabilities.fields:
            del body[field]
            dropped.append(f"field:{field}")
    return kept, dropped


def _drop_part(body: dict[str, Any], part: str) -> bool:
    """Remove ``part`` (``field``, ``field.key`` or ``tools[].key``) from ``body``; True if it was there.
    Containers are copied before they change, so the caller's other references (the parsed request
    shared by every target of the chain) stay intact."""
    if part.startswith("tools[]."):
        key = part[len("tools[]."):]
        tools = body.get("tools")
        if not isinstance(tools, list) or not any(isinstance(t, dict) and key in t for t in tools):
            return False
        body["tools"] = [{k: v for k, v in t.items() if k != key} if isinstance(t, dict) else t for t in tools]
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
