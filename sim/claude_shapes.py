"""Builds request bodies and headers shaped like a Claude Code CLI's, deterministic from a seed.

Shapes follow what the real CLI 2.1.330 was seen sending (docs/claude-code-traffic.md): a system
prompt of three blocks (a per-request billing tag, the identity line, the instructions), a first
user message holding a ``<system-reminder>`` and the opening prompt, a ``role: "system"`` message
with the environment (a cached text block on the first turn, a plain string afterwards), then the
turns, ``cache_control`` on the last block only. The tool set is the fuller interactive one.

Three layers change at different rates, as in production: tools depend on the CLI version (shared by
a whole fleet), the system prompt and identity on the session, the history on the request seed. So a
series of requests from one session repeats its prefix, as the real CLI does for prompt caching.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from sim.anthropic_ids import thinking_signature
from sim.claude_tools import claude_code_tools, filler_text

CLI_VERSION = "2.1.330"
DEFAULT_MODEL = "claude-opus-5-5"
ANTHROPIC_BETAS = (
    "claude-code-20250219",
    "interleaved-thinking-2025-05-14",
    "context-management-2025-06-27",
    "per-turn-control-2026-07-01",
    "mid-conversation-tool-changes-2026-07-01",
    "thinking-token-count-2026-05-13",
    "advanced-tool-use-2025-11-20",
    "effort-2025-11-24",
    "thinking-display-updates-2026-08-18",
)
_EPHEMERAL = {"type": "ephemeral"}
_HISTORY_TOOLS = ("Read", "Grep", "Bash", "Glob")
_REMINDER = (
    "<system-reminder>\nAttribution for git commits and pull requests you create from here on:\n"
    "- End git commit messages with:\nCo-Authored-By: Claude <noreply@anthropic.com>\n"
    "- End pull request descriptions with:\n🤖 Generated with [Claude Code](https://claude.com/claude-code)\n"
    "</system-reminder>\n"
)


@dataclass(frozen=True, slots=True)
class ClaudeSession:
    """Who is asking: one CLI process on one developer's machine."""

    session_id: str
    device_id: str
    account_uuid: str
    cwd: str
    cli_version: str = CLI_VERSION
    entrypoint: str = "cli"  # "sdk-cli" for `claude -p`


def make_session(seed: int, cli_version: str = CLI_VERSION, entrypoint: str = "cli") -> ClaudeSession:
    rng = random.Random(f"session:{seed}")
    return ClaudeSession(
        session_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        device_id=f"{rng.getrandbits(256):064x}",
        account_uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        cwd=f"/home/dev{seed % 97}/src/project-{seed % 13}",
        cli_version=cli_version,
        entrypoint=entrypoint,
    )


def _system_blocks(session: ClaudeSession, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(f"system:{session.session_id}")
    billing = f"x-anthropic-billing-header: cc_version={session.cli_version}.{seed % 1000:03d}; "
    return [
        {"type": "text", "text": f"{billing}cc_entrypoint={session.entrypoint};"},
        {
            "type": "text",
            "text": "You are Claude Code, Anthropic's official CLI for Claude.",
            "cache_control": _EPHEMERAL,
        },
        {"type": "text", "text": "\n" + filler_text(rng, 7000), "cache_control": _EPHEMERAL},
    ]


def _environment(session: ClaudeSession, model: str) -> str:
    return (
        "# Environment\nYou have been invoked in the following environment: \n"
        f" - Primary working directory: {session.cwd}\n - Is a git repository: true\n - Platform: linux\n"
        f" - Shell: bash\n\nThe exact model ID is {model}.\n"
    )


def _code_listing(rng: random.Random, chars: int) -> str:
    lines = []
    size = 0
    number = 1
    while size < chars:
        verb, noun = rng.choice(("load", "parse", "route", "store", "emit")), rng.choice(("span", "turn", "policy"))
        line = f"{number:>6}\tdef {verb}_{noun}(value):  # {rng.choice(('fast', 'pure', 'ü', '日本'))}"
        lines.append(line)
        size += len(line) + 1
        number += 1
    return "\n".join(lines)


def _tool_cycle(rng: random.Random, session: ClaudeSession, chars: int) -> list[dict[str, Any]]:
    """assistant thinks and calls a tool → tool_result → assistant answers → user asks again."""
    tool = rng.choice(_HISTORY_TOOLS)
    tool_id = f"toolu_01{rng.getrandbits(110):028x}"[:30]
    thought = filler_text(rng, 300)
    tool_input = {"Read": {"file_path": f"{session.cwd}/core/module_{rng.randint(1, 99)}.py"},
                  "Grep": {"pattern": "def \\w+_span", "output_mode": "content", "-n": True},
                  "Bash": {"command": "pytest -q tests/core", "description": "Run the core tests"},
                  "Glob": {"pattern": "**/*.py"}}[tool]  # fmt: skip
    return [
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": thought, "signature": thinking_signature(thought)},
                {"type": "text", "text": filler_text(rng, 120)},
                {"type": "tool_use", "id": tool_id, "name": tool, "input": tool_input},
            ],
        },
        {
            "role": "user",
            "content": [{"tool_use_id": tool_id, "type": "tool_result", "content": _code_listing(rng, chars)}],
        },
        {"role": "assistant", "content": [{"type": "text", "text": filler_text(rng, 400)}]},
        {"role": "user", "content": [{"type": "text", "text": filler_text(rng, 200)}]},
    ]


def build_messages(seed: int, session: ClaudeSession, chars: int, prompt: str, model: str) -> list[dict[str, Any]]:
    """The conversation: turn one as the CLI opens it, then tool cycles until ``chars`` characters,
    the last user message carrying ``prompt`` and the only message-level cache_control marker."""
    rng = random.Random(f"history:{session.session_id}:{seed}")
    if chars <= 0:
        opening = [{"type": "text", "text": _REMINDER}, {"type": "text", "text": prompt, "cache_control": _EPHEMERAL}]
        environment = [{"type": "text", "text": _environment(session, model), "cache_control": _EPHEMERAL}]
        return [{"role": "user", "content": opening}, {"role": "system", "content": environment}]
    messages: list[dict[str, Any]] = [
        {
            "role": "user",
            "content": [{"type": "text", "text": _REMINDER}, {"type": "text", "text": filler_text(rng, 150)}],
        },
        {"role": "system", "content": _environment(session, model)},
    ]
    size = 0
    while size < chars:
        cycle = _tool_cycle(rng, session, min(6000, max(200, chars - size)))
        messages.extend(cycle)
        size += len(orjson.dumps(cycle))
    messages[-1] = {"role": "user", "content": [{"type": "text", "text": prompt, "cache_control": _EPHEMERAL}]}
    return messages


def build_request_body(
    seed: int = 0,
    *,
    session: ClaudeSession | None = None,
    history_chars: int = 50_000,
    prompt: str = "Summarise what changed in the repository.",
    model: str = DEFAULT_MODEL,
    tool_count: int = 17,
    thinking: bool = True,
    stream: bool = True,
    max_tokens: int = 128_000,
) -> dict[str, Any]:
    """A main-loop /v1/messages body, field order and shapes as the CLI sends them.

    ``history_chars=0`` gives the first turn of a session exactly as the CLI opens it."""
    session = session if session is not None else make_session(seed)
    user_id = json.dumps(
        {"device_id": session.device_id, "account_uuid": session.account_uuid, "session_id": session.session_id},
        separators=(",", ":"),
    )
    body: dict[str, Any] = {
        "model": model,
        "messages": build_messages(seed, session, history_chars, prompt, model),
        "system": _system_blocks(session, seed),
        "tools": claude_code_tools(tool_count, cli_version=session.cli_version),
        "metadata": {"user_id": user_id},
        "max_tokens": max_tokens,
    }
    if thinking:
        body["thinking"] = {"type": "adaptive", "display": "updates"}
    body["context_management"] = {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}
    body["output_config"] = {"effort": "medium"}
    body["stream"] = stream
    return body


def quota_request_body(session: ClaudeSession, model: str = "claude-haiku-4-5-20251001") -> dict[str, Any]:
    """The tiny request the CLI sends at start-up to check quota (max_tokens 1)."""
    user_id = json.dumps({"device_id": session.device_id, "session_id": session.session_id}, separators=(",", ":"))
    return {
        "model": model,
        "max_tokens": 1,
        "messages": [{"role": "user", "content": "quota"}],
        "metadata": {"user_id": user_id},
    }


def title_request_body(
    session: ClaudeSession, first_prompt: str, model: str = "claude-haiku-4-5-20251001"
) -> dict[str, Any]:
    """A session-title side request: small, a system prompt asking for a title, structured output."""
    return {
        "model": model,
        "max_tokens": 512,
        "system": [{"type": "text", "text": "Generate a concise, sentence-case title for this coding session."}],
        "messages": [{"role": "user", "content": first_prompt}],
        "output_config": {
            "format": {
                "type": "json_schema",
                "schema": {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]},
            }
        },
        "metadata": {"user_id": json.dumps({"session_id": session.session_id}, separators=(",", ":"))},
        "stream": True,
    }


def _without_cache_control(message: dict[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    if not isinstance(content, list):
        return message
    blocks = [{k: v for k, v in block.items() if k != "cache_control"} for block in content]
    return {**message, "content": blocks}


def with_tool_results(body: dict[str, Any], assistant_content: list[dict[str, Any]], result: str) -> dict[str, Any]:
    """The next request of a tool loop: the assistant's turn echoed back verbatim, then one tool_result per
    tool_use (key order as the CLI writes it), the cache marker moved to the newest block."""
    results: list[dict[str, Any]] = [
        {"tool_use_id": block["id"], "type": "tool_result", "content": result}
        for block in assistant_content
        if block.get("type") == "tool_use"
    ]
    if results:
        results[-1]["cache_control"] = _EPHEMERAL
    messages = [*body["messages"]]
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=None)
    if last_user is not None:
        messages[last_user] = _without_cache_control(messages[last_user])
    messages += [{"role": "assistant", "content": assistant_content}, {"role": "user", "content": results}]
    return {**body, "messages": messages}


def build_headers(
    session: ClaudeSession,
    *,
    api_key: str | None = None,
    auth_token: str | None = None,
    hint_headers: bool = False,
    request_class: str = "main",
    prev_tool_durations: str | None = None,
) -> dict[str, str]:
    """The headers the CLI sends with /v1/messages, in its order (names lower-cased).

    The HTTP client adds connection, host and content-length; ``accept-encoding`` goes last as the CLI's
    does. ``hint_headers`` is CLAUDE_CODE_GATEWAY_HINT_HEADERS=1.
    """
    headers = {
        "accept": "application/json",
        "content-type": "application/json",
        "user-agent": f"claude-cli/{session.cli_version} (external, {session.entrypoint})",
        "x-claude-code-session-id": session.session_id,
        "x-stainless-arch": "x64",
        "x-stainless-lang": "js",
        "x-stainless-os": "Linux",
        "x-stainless-package-version": "0.128.0",
        "x-stainless-retry-count": "0",
        "x-stainless-runtime": "node",
        "x-stainless-runtime-version": "v26.12.1",
        "x-stainless-timeout": "600",
        "anthropic-beta": ",".join(ANTHROPIC_BETAS),
        "anthropic-dangerous-direct-browser-access": "true",
        "anthropic-version": "2023-06-01",
    }
    if api_key is not None:
        headers["x-api-key"] = api_key
    if auth_token is not None:
        headers["authorization"] = f"Bearer {auth_token}"
    headers["x-app"] = "cli"
    if hint_headers:
        headers["x-claude-1p-request-class"] = request_class
        if request_class == "subagent":
            headers["x-claude-code-agent-type"] = "general-purpose"
        if prev_tool_durations:
            headers["x-claude-code-prev-tool-durations"] = prev_tool_durations
        headers["x-claude-code-prompt-id"] = str(uuid.uuid5(uuid.NAMESPACE_OID, session.session_id))
        headers["x-claude-code-request-class"] = request_class
    headers["accept-encoding"] = "gzip, deflate, br, zstd"
    return headers


def encode_body(body: dict[str, Any]) -> bytes:
    """Compact JSON, as JSON.stringify writes it (non-ASCII kept as UTF-8)."""
    return orjson.dumps(body)
