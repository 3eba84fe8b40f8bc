"""Thinking blocks signed by one provider, sent to another.

A thinking block's signature can be bound to the provider that made it, so after a fallback from
Anthropic to Bedrock (or back) the history's thinking blocks may be refused. The API lets a request
leave out the thinking of *earlier* turns (only the current tool loop's must come back unchanged), so
the proxy retries once without them: before the first byte reaches the client, recorded on the span."""

from __future__ import annotations

from typing import Any

THINKING_BLOCKS = frozenset({"thinking", "redacted_thinking"})


def is_signature_rejection(status: int, body: bytes) -> bool:
    """A 400 that refuses a thinking block's signature (Anthropic: "Invalid `signature` in `thinking`
    block"; the providers word it alike)."""
    if status != 400:
        return False
    lowered = body[:4096].lower()
    return b"signature" in lowered and b"thinking" in lowered


def _current_loop_start(messages: list[Any]) -> int:
    """Index of the last user message that is not only tool results: the current turn starts there,
    and every assistant message after it belongs to the tool loop still running."""
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str) or not isinstance(content, list):
            return index
        if any(not (isinstance(b, dict) and b.get("type") == "tool_result") for b in content):
            return index
    return 0


def without_earlier_thinking(parsed: dict[str, Any]) -> dict[str, Any] | None:
    """``parsed`` with the thinking blocks of earlier turns removed, or None when it has none (then
    a retry would only repeat the refusal). The caller's document is not changed."""
    messages = parsed.get("messages")
    if not isinstance(messages, list):
        return None
    start = _current_loop_start(messages)
    changed = False
    out = list(messages)
    for index in range(start):
        message = messages[index]
        if not isinstance(message, dict) or message.get("role") != "assistant":
            continue
        content = message.get("content")
        if not isinstance(content, list):
            continue
        kept = [b for b in content if not (isinstance(b, dict) and b.get("type") in THINKING_BLOCKS)]
        if len(kept) != len(content):
            changed = True
            out[index] = {**message, "content": kept or [{"type": "text", "text": ""}]}
    return {**parsed, "messages": out} if changed else None
