"""Request facts: what the gateway knows about a turn before it is sent upstream.

Pure functions of the request's headers and parsed body. They feed attribution (who, which
session, which agent), the routing decision and the span. Claude Code's own headers are preferred
over values dug out of the body, because they are cheaper and what the CLI means to say.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from core.turn_bounds import MAX_IDENTITY_CHARS, shortened

# Claude Code's headers (see DESIGN.md, "Facts about the client").
SESSION_HEADER = "x-claude-code-session-id"
REQUEST_CLASS_HEADER = "x-claude-code-request-class"
AGENT_TYPE_HEADER = "x-claude-code-agent-type"
AGENT_ID_HEADER = "x-claude-code-agent-id"
PARENT_AGENT_ID_HEADER = "x-claude-code-parent-agent-id"
PROMPT_ID_HEADER = "x-claude-code-prompt-id"
COMPACTION_HEADER = "x-claude-code-compaction"
# switchyard's own: the repo tag, set through Claude Code's ANTHROPIC_CUSTOM_HEADERS.
REPO_HEADER = "x-switchyard-repo"

# A cheap, deliberately rough estimate: JSON-encoded Claude Code bodies run at about four bytes
# per token. Routing thresholds only need the order of magnitude; exact counts come from usage.
BYTES_PER_TOKEN = 4

_CLI_VERSION = re.compile(r"claude-cli/([0-9][0-9A-Za-z.\-+]*)")


@dataclass(slots=True, frozen=True)
class RequestFacts:
    model: str | None = None
    stream: bool = False
    thinking: bool = False
    tool_count: int = 0
    max_tokens: int | None = None
    estimated_input_tokens: int = 0
    session_id: str | None = None
    agent_id: str | None = None
    parent_agent_id: str | None = None
    request_class: str | None = None
    agent_type: str | None = None
    prompt_id: str | None = None
    compaction: bool = False
    repo: str | None = None
    cli_version: str | None = None
    tool_result_ids: tuple[str, ...] = ()
    tool_result_error_ids: tuple[str, ...] = ()


def _clean(value: object) -> str | None:
    """An identifier fit for a span: a non-empty string of bounded length (a longer one is cut and
    ends in a digest of the whole, so two long ids stay two), else None."""
    if not isinstance(value, str) or not value:
        return None
    return shortened(value, MAX_IDENTITY_CHARS)


def session_from_metadata(body: Mapping[str, object]) -> str | None:
    """Claude Code's ``metadata.user_id`` is a JSON *string* holding device_id, account_uuid and
    session_id. Older CLIs used a plain ``user_<hash>_account_<uuid>_session_<uuid>`` form."""
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        return None
    user_id = metadata.get("user_id")
    if not isinstance(user_id, str):
        return None
    if user_id.startswith("{"):
        try:
            decoded = json.loads(user_id)
        except ValueError:
            return None
        return _clean(decoded.get("session_id")) if isinstance(decoded, dict) else None
    marker = "_session_"
    if marker in user_id:
        return _clean(user_id.rsplit(marker, 1)[1])
    return None


def _thinking_enabled(body: Mapping[str, object]) -> bool:
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def _newest_user_message(messages: list[object]) -> Mapping[str, object] | None:
    """Claude Code interleaves ``role: "system"`` reminders after the user's turn, so the newest user
    message is not always the last one; an assistant message ends the search (no user turn since)."""
    for message in reversed(messages):
        if not isinstance(message, dict):
            return None
        role = message.get("role")
        if role == "user":
            return message
        if role != "system":
            return None
    return None


def tool_results(body: Mapping[str, object]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The tool_result blocks of the newest user message: (all ids, ids with ``is_error``).
    They tell the *previous* turn whether the tools it asked for failed."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return (), ()
    last = _newest_user_message(messages)
    if last is None:
        return (), ()
    content = last.get("content")
    if not isinstance(content, list):
        return (), ()
    ids: list[str] = []
    errors: list[str] = []
    for block in content:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            tool_use_id = _clean(block.get("tool_use_id"))
            if tool_use_id is None:
                continue
            ids.append(tool_use_id)
            if block.get("is_error") is True:
                errors.append(tool_use_id)
    return tuple(ids), tuple(errors)


def extract_facts(headers: Mapping[str, str], body: Mapping[str, object] | None, body_size: int) -> RequestFacts:
    """Facts from lower-cased ``headers`` and the parsed JSON ``body`` (None when the request has no
    JSON body, e.g. GET /v1/models)."""
    get = headers.get
    user_agent = get("user-agent", "")
    match = _CLI_VERSION.search(user_agent)
    common = {
        "agent_id": _clean(get(AGENT_ID_HEADER)),
        "parent_agent_id": _clean(get(PARENT_AGENT_ID_HEADER)),
        "request_class": _clean(get(REQUEST_CLASS_HEADER)),
        "agent_type": _clean(get(AGENT_TYPE_HEADER)),
        "prompt_id": _clean(get(PROMPT_ID_HEADER)),
        "compaction": get(COMPACTION_HEADER, "").lower() in ("1", "true", "yes"),
        "repo": _clean(get(REPO_HEADER)),
        "cli_version": match.group(1) if match else None,
    }
    session_id = _clean(get(SESSION_HEADER))
    if body is None:
        return RequestFacts(session_id=session_id, **common)  # type: ignore[arg-type]
    if session_id is None:
        session_id = session_from_metadata(body)
    tools = body.get("tools")
    max_tokens = body.get("max_tokens")
    result_ids, error_ids = tool_results(body)
    return RequestFacts(
        model=_clean(body.get("model")),
        stream=body.get("stream") is True,
        thinking=_thinking_enabled(body),
        tool_count=len(tools) if isinstance(tools, list) else 0,
        max_tokens=max_tokens if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) else None,
        estimated_input_tokens=body_size // BYTES_PER_TOKEN,
        session_id=session_id,
        tool_result_ids=result_ids,
        tool_result_error_ids=error_ids,
        **common,  # type: ignore[arg-type]
    )
