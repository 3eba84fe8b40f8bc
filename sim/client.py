"""A simulated Claude Code client: sessions of Claude-Code-shaped turns through a gateway,
including tool loops (tool_use → tool_result → final answer), for the demo and the tests."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from core.sse import SSEParser, StreamTap
from sim.assemble import assemble_content
from sim.claude_shapes import build_headers, build_request_body, encode_body, make_session, with_tool_results

_PROMPTS = (
    "Explain the retry logic in the payment client.",
    "Run the tests and tell me what fails. [[sim:bash pytest -q tests/]]",
    "Add a changelog entry. [[sim:write CHANGELOG.md ## Unreleased - retries]]",
    "Why is the build slow?",
    "List the files in src. [[sim:bash ls -la src]]",
)
_MODELS = ("claude-sonnet-4-5-20250929", "claude-opus-4-5-20251101", "claude-haiku-4-5-20251001")


@dataclass(frozen=True, slots=True)
class TurnResult:
    developer: str
    session_id: str
    model: str
    status: int
    ttfb_ms: float
    duration_ms: float
    input_tokens: int
    output_tokens: int
    cache_creation_tokens: int
    cache_read_tokens: int
    stop_reason: str | None
    tool_uses: tuple[str, ...]
    error: str | None


async def _one_turn(client: httpx.AsyncClient, url: str, headers: dict[str, str], body: dict,
                    developer: str, session_id: str) -> tuple[TurnResult, list[dict]]:
    started = time.perf_counter()
    ttfb = 0.0
    tap, parser, events = StreamTap(), SSEParser(), []
    async with client.stream("POST", url + "/v1/messages?beta=true", headers=headers,
                             content=encode_body(body)) as response:
        async for chunk in response.aiter_raw():
            if not ttfb:
                ttfb = (time.perf_counter() - started) * 1000
            tap.feed(chunk)
            events.extend(parser.feed(chunk))
        status = response.status_code
    summary = tap.summary() if status == 200 else None
    error = None if status == 200 else f"HTTP {status}"
    if summary is not None and summary.error_type:
        error = summary.error_type
    result = TurnResult(
        developer=developer, session_id=session_id, model=body["model"], status=status, ttfb_ms=ttfb,
        duration_ms=(time.perf_counter() - started) * 1000,
        input_tokens=summary.input_tokens if summary else 0,
        output_tokens=summary.output_tokens if summary else 0,
        cache_creation_tokens=summary.cache_creation_tokens if summary else 0,
        cache_read_tokens=summary.cache_read_tokens if summary else 0,
        stop_reason=summary.stop_reason if summary else None,
        tool_uses=summary.tool_use_names if summary else (), error=error,
    )
    return result, assemble_content(events) if status == 200 else []


async def run_session(
    client: httpx.AsyncClient, url: str, key: str, developer: str, seed: int, *,
    repo: str | None = None, on_turn: Callable[[TurnResult], Awaitable[None] | None] | None = None,
    tool_time: Callable[[], float] | None = None,
) -> list[TurnResult]:
    """One coding session: a prompt, then the tool loop until the model stops asking for tools.
    ``tool_time``: seconds Claude Code spends running the tools before it sends their results (the
    gap between a session's turns; none: back to back)."""
    rng = random.Random(seed)
    session = make_session(seed)
    headers = build_headers(session, auth_token=key)
    if repo:
        headers["x-switchyard-repo"] = repo
    body = build_request_body(seed, session=session, prompt=rng.choice(_PROMPTS), model=rng.choice(_MODELS),
                              history_chars=rng.choice((20_000, 60_000, 120_000, 200_000)))
    results = []
    for _ in range(4):  # a bounded tool loop
        result, content = await _one_turn(client, url, headers, body, developer, session.session_id)
        results.append(result)
        if on_turn is not None:
            maybe = on_turn(result)
            if maybe is not None:
                await maybe
        if result.stop_reason != "tool_use":
            break
        if tool_time is not None:
            await asyncio.sleep(tool_time())
        body = with_tool_results(body, content, "ok: done")
    return results
