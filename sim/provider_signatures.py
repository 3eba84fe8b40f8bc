"""Thinking signatures bound to the provider that made them.

Each fake signs its thinking blocks with a key of its own (a keyed variant of the fake Anthropic's
signature, so the fake Anthropic's stay byte-identical), and can be told to reject a request whose
history carries a thinking block it did not sign, with the real error text. That is what a gateway
meets after a cross-provider fallback: the prior turns' thinking came from the other provider.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sim.agent_script import ReplyPlan, ThinkingBlock
from sim.anthropic_ids import thinking_signature

ANTHROPIC = "anthropic"


def provider_signature(provider: str, thinking: str) -> str:
    """The signature ``provider``'s fake puts on ``thinking`` (the fake Anthropic's for "anthropic")."""
    return thinking_signature(thinking if provider == ANTHROPIC else f"{provider}\x1f{thinking}")


def sign_plan(plan: ReplyPlan, provider: str) -> ReplyPlan:
    blocks = tuple(
        replace(block, signature=provider_signature(provider, block.thinking))
        if isinstance(block, ThinkingBlock)
        else block
        for block in plan.blocks
    )
    return replace(plan, blocks=blocks)


def refused_thinking(body: dict[str, Any], provider: str, *, refuse: bool) -> str | None:
    """``foreign_thinking`` when the fake is set to refuse foreign signatures, else None."""
    return foreign_thinking(body, provider) if refuse else None


def foreign_thinking(body: dict[str, Any], provider: str) -> str | None:
    """The path (``messages.1.content.0``) of the first thinking block ``provider`` did not sign."""
    messages = body.get("messages")
    for m_index, message in enumerate(messages if isinstance(messages, list) else []):
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list) or message.get("role") != "assistant":
            continue
        for c_index, block in enumerate(content):
            if not isinstance(block, dict) or block.get("type") != "thinking":
                continue
            thinking, signature = block.get("thinking"), block.get("signature")
            if not isinstance(thinking, str) or signature != provider_signature(provider, thinking):
                return f"messages.{m_index}.content.{c_index}"
    return None
