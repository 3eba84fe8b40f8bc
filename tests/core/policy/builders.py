"""Small policies for the tests, written as the documents people write."""

from __future__ import annotations

import copy
from typing import Any

from core.policy.compile import CompiledPolicy, compile_policy
from core.policy.schema import Policy

TARGETS: list[dict[str, Any]] = [
    {"name": "haiku", "base_url": "https://api.anthropic.com", "tier": "haiku", "model": "claude-haiku-4-5"},
    {"name": "sonnet-us", "base_url": "https://api.anthropic.com", "tier": "sonnet", "model": "claude-sonnet-4-5",
     "region": "us"},
    {"name": "sonnet-eu", "base_url": "https://eu.example.com", "tier": "sonnet", "model": "claude-sonnet-4-5",
     "region": "eu"},
    {"name": "opus", "base_url": "https://api.anthropic.com", "tier": "opus", "model": "claude-opus-4-1"},
]


def document(rules: list[dict[str, Any]] | None = None, default: list[str] | None = None,
             **extra: Any) -> dict[str, Any]:
    return {"version": "test", "targets": copy.deepcopy(TARGETS), "rules": rules or [],
            "default": {"route": default or ["opus"]}, **extra}


def policy(rules: list[dict[str, Any]] | None = None, default: list[str] | None = None, **extra: Any) -> Policy:
    return Policy.model_validate(document(rules, default, **extra))


def compiled(rules: list[dict[str, Any]] | None = None, default: list[str] | None = None,
             **extra: Any) -> CompiledPolicy:
    return compile_policy(policy(rules, default, **extra))


# haiku / sonnet / opus by estimated input tokens, with the predicates a fleet actually uses above
TIERED_RULES: list[dict[str, Any]] = [
    {"name": "compaction", "when": {"request_class": ["compaction"]}, "route": ["haiku", "sonnet-us"]},
    {"name": "security-repo", "when": {"repo": ["vault"]}, "route": ["opus", "sonnet-us"]},
    {"name": "interns", "when": {"developer": ["intern-1"], "team": ["platform"]}, "route": ["haiku"]},
    {"name": "explore-agent", "when": {"request_class": ["subagent"], "agent_type": ["Explore"]},
     "route": ["haiku"]},
    {"name": "many-tools", "when": {"tool_count": {"gte": 30}}, "route": ["opus"]},
    {"name": "asked-haiku", "when": {"requested_tier": ["haiku"]}, "route": ["haiku", "sonnet-us"]},
    {"name": "big-thinking", "when": {"thinking": True, "input_tokens": {"gte": 120000}}, "route": ["opus"],
     "model": "claude-opus-4-1-thinking"},
    {"name": "small", "when": {"input_tokens": {"lt": 20000}}, "route": ["haiku", "sonnet-us"]},
    {"name": "mid", "when": {"input_tokens": {"lt": 120000}}, "route": ["sonnet-us", "opus"]},
]
