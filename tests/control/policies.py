"""Small, valid policy documents for the control-plane tests."""

from __future__ import annotations

from typing import Any

from core.policy.schema import Policy


def document(version: str, parent: str | None = None, base_url: str = "https://api.anthropic.com",
             small_model: str = "claude-haiku-4-5", **extra: Any) -> dict[str, Any]:
    return {
        "version": version,
        "parent": parent,
        "targets": [
            {"name": "haiku", "base_url": base_url, "model": small_model, "tier": "haiku"},
            {"name": "sonnet", "base_url": base_url, "model": "claude-sonnet-4-5", "tier": "sonnet"},
        ],
        "rules": [{"name": "small", "when": {"input_tokens": {"lt": 20000}}, "route": ["haiku", "sonnet"]}],
        "default": {"route": ["sonnet"]},
        **extra,
    }


def policy(version: str, parent: str | None = None, **extra: Any) -> Policy:
    return Policy.model_validate(document(version, parent, **extra))
