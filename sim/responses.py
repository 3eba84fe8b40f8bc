"""Turns a ReplyPlan into the exact bytes Anthropic sends: an SSE event sequence or a JSON message.

Shapes follow the Messages streaming protocol: message_start → (content_block_start, deltas,
content_block_stop)* with one ``ping`` after the first block start → message_delta (stop_reason and
cumulative usage) → message_stop. JSON is compact and UTF-8 (not ``\\u`` escaped) like the real API;
the ping keeps the real API's spaced form ``{"type": "ping"}``.
"""

from __future__ import annotations

from typing import Any

import orjson

from sim.agent_script import ReplyPlan, TextBlock, ThinkingBlock, ToolUseBlock
from sim.prompt_cache import InputUsage

PING_EVENT = b'event: ping\ndata: {"type": "ping"}\n\n'
THINKING_DELTAS = 3
TOOL_JSON_FRAGMENTS = 4


def sse_event(name: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def split_evenly(text: str, pieces: int) -> list[str]:
    """Cut ``text`` into at most ``pieces`` non-empty parts (whole characters, never bytes)."""
    pieces = max(1, min(pieces, len(text)))
    bounds = [len(text) * i // pieces for i in range(pieces + 1)]
    return [text[bounds[i] : bounds[i + 1]] for i in range(pieces)]


def usage_payload(usage: InputUsage, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": usage.ephemeral_5m_input_tokens,
            "ephemeral_1h_input_tokens": usage.ephemeral_1h_input_tokens,
        },
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _block_start_shape(block: TextBlock | ThinkingBlock | ToolUseBlock) -> dict[str, Any]:
    if isinstance(block, ThinkingBlock):
        return {"type": "thinking", "thinking": "", "signature": ""}
    if isinstance(block, TextBlock):
        return {"type": "text", "text": ""}
    return {"type": "tool_use", "id": block.id, "name": block.name, "input": {}}


def _block_deltas(block: TextBlock | ThinkingBlock | ToolUseBlock, text_deltas: int) -> list[dict[str, Any]]:
    if isinstance(block, ThinkingBlock):
        deltas = [
            {"type": "thinking_delta", "thinking": part} for part in split_evenly(block.thinking, THINKING_DELTAS)
        ]
        return [*deltas, {"type": "signature_delta", "signature": block.signature}]
    if isinstance(block, TextBlock):
        return [{"type": "text_delta", "text": part} for part in split_evenly(block.text, text_deltas)]
    arguments = orjson.dumps(block.input).decode()
    # The real API opens a tool's input with an empty fragment, then streams the JSON in pieces.
    fragments = ["", *split_evenly(arguments, TOOL_JSON_FRAGMENTS)]
    return [{"type": "input_json_delta", "partial_json": part} for part in fragments]


def event_payloads(
    plan: ReplyPlan,
    usage: InputUsage,
    *,
    model: str,
    message_id: str,
    text_deltas: int,
    context_management: bool = False,
) -> list[tuple[str, dict[str, Any]]]:
    """Every event of one answer as (name, JSON payload), in order: the one source every fake encodes
    (SSE for Anthropic and Vertex AI, event-stream chunks for Bedrock)."""
    message: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage_payload(usage, 1),
    }
    events: list[tuple[str, dict[str, Any]]] = [("message_start", {"type": "message_start", "message": message})]
    for index, block in enumerate(plan.blocks):
        start = {"type": "content_block_start", "index": index, "content_block": _block_start_shape(block)}
        events.append(("content_block_start", start))
        if index == 0:
            events.append(("ping", {"type": "ping"}))
        for delta in _block_deltas(block, text_deltas):
            events.append(("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    final_usage = usage_payload(usage, plan.output_tokens)
    del final_usage["service_tier"]
    message_delta: dict[str, Any] = {
        "type": "message_delta",
        "delta": {"stop_reason": plan.stop_reason, "stop_sequence": None},
        "usage": final_usage,
    }
    if context_management:
        message_delta["context_management"] = {"applied_edits": []}
    events.append(("message_delta", message_delta))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def sse_events(payloads: list[tuple[str, dict[str, Any]]]) -> list[bytes]:
    """Each payload as a complete ``event:``/``data:`` record (the ping in the real API's spaced form)."""
    return [PING_EVENT if name == "ping" else sse_event(name, payload) for name, payload in payloads]


def stream_events(
    plan: ReplyPlan,
    usage: InputUsage,
    *,
    model: str,
    message_id: str,
    text_deltas: int,
    context_management: bool = False,
) -> list[bytes]:
    """Every SSE event of one answer, each a complete ``event:``/``data:`` record."""
    return sse_events(
        event_payloads(
            plan,
            usage,
            model=model,
            message_id=message_id,
            text_deltas=text_deltas,
            context_management=context_management,
        )
    )


def _block_json(block: TextBlock | ThinkingBlock | ToolUseBlock) -> dict[str, Any]:
    if isinstance(block, ThinkingBlock):
        return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
    if isinstance(block, TextBlock):
        return {"type": "text", "text": block.text}
    return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}


def message_json(plan: ReplyPlan, usage: InputUsage, *, model: str, message_id: str) -> bytes:
    """The non-streaming answer: the same content as the stream, as one JSON message."""
    return orjson.dumps(
        {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [_block_json(block) for block in plan.blocks],
            "stop_reason": plan.stop_reason,
            "stop_sequence": None,
            "usage": usage_payload(usage, plan.output_tokens),
        }
    )
