"""Which file a tool result came from, for the allow-list of test-fixture paths. Pure.

A ``tool_result`` block names only the ``tool_use_id`` it answers; the file is in that tool call's
input, in an earlier assistant message (Claude Code's Read, Edit, Write and NotebookEdit take
``file_path`` or ``notebook_path``; Grep and Glob take ``path``). Looked up only for a finding in a
tool result (rare), so the walk back through the history costs nothing on a clean request. A
Bash command's output has no file to name (``cat tests/fixtures/.env`` is a command, not a path):
its findings are never allowed by path.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.secrets.incremental import Where

PATH_KEYS = ("file_path", "notebook_path", "path")


def _tool_use_id(body: Mapping[str, object], where: Where) -> str | None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not 0 <= where.message_index < len(messages):
        return None
    message = messages[where.message_index]
    content = message.get("content") if isinstance(message, Mapping) else None
    if not isinstance(content, list) or not 0 <= where.block_index < len(content):
        return None
    block = content[where.block_index]
    if not isinstance(block, Mapping) or block.get("type") != "tool_result":
        return None
    tool_use_id = block.get("tool_use_id")
    return tool_use_id if isinstance(tool_use_id, str) else None


def tool_result_path(body: Mapping[str, object], where: Where) -> str | None:
    """The file path of the tool call whose result holds ``where``, or None (not a tool result, a
    tool without a path, or a call the history no longer holds)."""
    if where.kind != "tool_result":
        return None
    tool_use_id = _tool_use_id(body, where)
    messages = body.get("messages")
    if tool_use_id is None or not isinstance(messages, list):
        return None
    for message in reversed(messages[: where.message_index]):
        if not isinstance(message, Mapping) or message.get("role") != "assistant":
            continue
        content = message.get("content")
        for block in content if isinstance(content, list) else ():
            if isinstance(block, Mapping) and block.get("type") == "tool_use" and block.get("id") == tool_use_id:
                tool_input = block.get("input")
                if not isinstance(tool_input, Mapping):
                    return None
                return next((value for key in PATH_KEYS if isinstance(value := tool_input.get(key), str)), None)
    return None
