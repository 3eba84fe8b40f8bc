"""Rebuild the assistant message from an Anthropic SSE stream, as a client does before echoing it
back in the next request (thinking with its signature, text, tool_use with its parsed input)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from core.sse import SSEEvent


def assemble_content(events: Iterable[SSEEvent]) -> list[dict[str, Any]]:
    blocks: dict[int, dict[str, Any]] = {}
    partial_json: dict[int, list[str]] = {}
    for event in events:
        if event.event not in ("content_block_start", "content_block_delta", "content_block_stop"):
            continue
        data = orjson.loads(event.data)
        index = data["index"]
        if event.event == "content_block_start":
            blocks[index] = dict(data["content_block"])
            partial_json[index] = []
        elif event.event == "content_block_delta":
            delta = data["delta"]
            block = blocks[index]
            kind = delta["type"]
            if kind == "text_delta":
                block["text"] = block.get("text", "") + delta["text"]
            elif kind == "thinking_delta":
                block["thinking"] = block.get("thinking", "") + delta["thinking"]
            elif kind == "signature_delta":
                block["signature"] = block.get("signature", "") + delta["signature"]
            elif kind == "input_json_delta":
                partial_json[index].append(delta["partial_json"])
        else:
            block = blocks[index]
            if block.get("type") in ("tool_use", "server_tool_use"):
                text = "".join(partial_json[index])
                block["input"] = orjson.loads(text) if text else {}
    return [blocks[i] for i in sorted(blocks)]
