"""What the fake model answers: a deterministic script that lets a real Claude Code CLI finish a tool loop.

Looking only at the request body:
- the last user message carries ``tool_result`` blocks → a final text (with multi-byte characters;
  FAILED_TOOL_TEXT when a result has ``is_error``), stop_reason ``end_turn``;
- its text carries ``[[sim:write <path> <content…>]]`` / ``[[sim:bash <command…>]]`` and the request
  offers the needed tool → a short text plus one ``Write``/``Bash`` tool_use per directive,
  stop_reason ``tool_use``;
- side requests (structured-output title requests, title prompts) → a short answer;
- anything else → a plain text answer.
Thinking comes first whenever the request enables it. ``max_tokens`` truncates text-only answers the
way the real API does (stop_reason ``max_tokens``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from sim.anthropic_ids import thinking_signature
from sim.prompt_cache import BYTES_PER_TOKEN, estimate_tokens

FINAL_TEXT = "Done ✅ — the file is written. 日本語テキスト 🚀"
# When the CLI denied or failed the tool (tool_result with is_error), say so instead of claiming success.
FAILED_TOOL_TEXT = "The tool failed ❌ — nothing was changed. 日本語テキスト 🚀"
_DIRECTIVE = re.compile(r"\[\[sim:(write|bash)\s+(.*?)\]\]", re.DOTALL)
_FILLER = (
    " The simulated upstream answers deterministically.",
    " Multi-byte check: naïve café, 日本語, emoji 🚀.",
    " Nothing here came from a real model.",
    " Every delta is a separate SSE event.",
)


@dataclass(frozen=True, slots=True)
class ThinkingBlock:
    thinking: str
    signature: str


@dataclass(frozen=True, slots=True)
class TextBlock:
    text: str


@dataclass(frozen=True, slots=True)
class ToolUseBlock:
    id: str
    name: str
    input: dict[str, Any]


Block = ThinkingBlock | TextBlock | ToolUseBlock


@dataclass(frozen=True, slots=True)
class ReplyPlan:
    blocks: tuple[Block, ...]
    stop_reason: str
    output_tokens: int


def _last_user_content(body: dict[str, Any]) -> list[dict[str, Any]]:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return [{"type": "text", "text": content}]
            if isinstance(content, list):
                return [block for block in content if isinstance(block, dict)]
            return []
    return []


def _system_text(body: dict[str, Any]) -> str:
    system = body.get("system")
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "\n".join(str(block.get("text", "")) for block in system if isinstance(block, dict))
    return ""


def _tool_names(body: dict[str, Any]) -> set[str]:
    return {str(tool.get("name")) for tool in body.get("tools") or [] if isinstance(tool, dict)}


def _thinking_enabled(body: dict[str, Any]) -> bool:
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type", "disabled") != "disabled"


def _padded(text: str, min_chars: int) -> str:
    index = 0
    while len(text) < min_chars:
        text += _FILLER[index % len(_FILLER)]
        index += 1
    return text


def _schema_instance(schema: Any) -> Any:
    """The smallest value that satisfies a (simple) JSON schema: enough for structured side requests."""
    if not isinstance(schema, dict):
        return None
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return _schema_instance(schema[key][0])
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties") or {}
        return {name: _schema_instance(sub) for name, sub in properties.items()}
    defaults: dict[str, Any] = {"string": "Simulated session", "boolean": False, "integer": 0, "number": 0, "array": []}
    return defaults.get(kind) if isinstance(kind, str) else None


def _side_answer(body: dict[str, Any]) -> str | None:
    output_format = (body.get("output_config") or {}).get("format")
    if isinstance(output_format, dict) and output_format.get("type") == "json_schema":
        return orjson.dumps(_schema_instance(output_format.get("schema"))).decode()
    system = _system_text(body)
    if "isNewTopic" in system:
        return '{"isNewTopic": false, "title": null}'
    if "title" in system.lower():
        return "Simulated coding session"
    return None


def _tool_uses(text: str, tools: set[str], mint_tool_id: Callable[[], str]) -> list[ToolUseBlock]:
    uses = []
    for kind, argument in _DIRECTIVE.findall(text):
        if kind == "write" and "Write" in tools:
            path, _, content = argument.strip().partition(" ")
            uses.append(ToolUseBlock(mint_tool_id(), "Write", {"file_path": path, "content": content}))
        elif kind == "bash" and "Bash" in tools:
            command = argument.strip()
            description = "Run a command the simulator was asked to run"
            uses.append(ToolUseBlock(mint_tool_id(), "Bash", {"command": command, "description": description}))
    return uses


def output_tokens(blocks: list[Block]) -> int:
    """The tokens a reply of these blocks would count (estimated from their size)."""
    size = 0
    for block in blocks:
        if isinstance(block, ThinkingBlock):
            size += len(block.thinking.encode())
        elif isinstance(block, TextBlock):
            size += len(block.text.encode())
        else:
            size += len(orjson.dumps(block.input)) + len(block.name)
    return estimate_tokens(size)


def plan_reply(body: dict[str, Any], mint_tool_id: Callable[[], str], min_text_chars: int = 0) -> ReplyPlan:
    content = _last_user_content(body)
    user_text = "\n".join(str(b.get("text", "")) for b in content if b.get("type") == "text")
    results = [b for b in content if b.get("type") == "tool_result"]
    messages_count = len(body.get("messages") or [])

    blocks: list[Block] = []
    stop_reason = "end_turn"
    if results:
        thought = f"{len(results)} tool result(s) came back; the task is complete, so I will report."
        failed = any(result.get("is_error") for result in results)
        answer = _padded(FAILED_TOOL_TEXT if failed else FINAL_TEXT, min_text_chars)
    elif uses := _tool_uses(user_text, _tool_names(body), mint_tool_id):
        thought = f"The user asked for {len(uses)} tool call(s); I will issue them now."
        answer = "I'll do that now."
        stop_reason = "tool_use"
    elif (side := _side_answer(body)) is not None:
        thought = "A short side request: answer briefly."
        answer = side
    else:
        thought = "A plain question with no directive: answer in text."
        answer = _padded(f"Simulated answer — I read {messages_count} message(s).", min_text_chars)

    if _thinking_enabled(body):
        blocks.append(ThinkingBlock(thought, thinking_signature(thought)))
    blocks.append(TextBlock(answer))
    if stop_reason == "tool_use":
        blocks.extend(uses)

    max_tokens = body.get("max_tokens")
    if stop_reason != "tool_use" and isinstance(max_tokens, int) and output_tokens(blocks) > max_tokens:
        # Like the real API, generation stops at the limit; a budget this small leaves room for a
        # few characters of text and nothing else.
        blocks = [TextBlock(answer[: max(1, max_tokens * BYTES_PER_TOKEN // 2)])]
        return ReplyPlan(tuple(blocks), "max_tokens", max(1, max_tokens))
    return ReplyPlan(tuple(blocks), stop_reason, output_tokens(blocks))
