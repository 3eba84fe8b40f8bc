"""Proxy mode: the planned sessions driven as Claude Code drives them, through the real proxy, so
what lands in the store is what the gateway really recorded.

Each turn is a Claude-Code-shaped streaming request (hint headers on, so the proxy records the
request class; the developer's virtual key; the repo tag), grown from the previous one the way the
CLI grows it: the assistant's answer echoed back, then the tool results (``is_error`` for calls
that failed or whose input the CLI rejected) or the next prompt, padded to the planned size. The
``x-sim-script`` header makes the fake upstream give the planned answer; slow turns add
``x-sim-fault: slow-first-byte``; a cache-busting turn changes its system prompt. A request offers
the turn's tool_count tools (the core ones, then MCP servers') and has thinking on or off as planned,
so the facts the proxy extracts are the plan's. Like the CLI with telemetry on, the client reports
``claude_code.tool_result`` / ``api_error`` / ``user_prompt`` events, returned to the caller to
store (ingest would have received them as OTLP).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from core.sse import SSEParser
from sim.assemble import assemble_content
from sim.claude_shapes import ClaudeSession, build_headers, build_request_body, encode_body
from sim.claude_tools import filler_text
from sim.faults import FAULT_HEADER
from sim.fleet_config import MAX_OUTPUT_TOKENS, Outcome
from sim.fleet_plan import PlannedTurn, SessionPlan
from sim.fleet_records import API_ERROR_EVENT, USER_PROMPT_EVENT, tool_error, tool_event
from sim.fleet_truth import TruthWriter, truth_row
from sim.prompt_cache import BYTES_PER_TOKEN
from sim.scripted_reply import SCRIPT_HEADER

REPO_HEADER = "x-switchyard-repo"
_EPHEMERAL = {"type": "ephemeral"}


@dataclass(slots=True)
class ProxyRun:
    events: list[dict[str, Any]] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)


def script_header(planned: PlannedTurn) -> str:
    outcome = {Outcome.TRUNCATE: "truncate", Outcome.BAD_TOOL_INPUT: "bad-tool-input", Outcome.TIMEOUT: "timeout",
               Outcome.OVERLOADED: "overloaded"}.get(planned.outcome, "ok")
    parts = [f"tools={','.join(planned.tools)}", f"outcome={outcome}", f"output={max(1, planned.output_tokens)}"]
    if planned.malformed_calls:
        parts.append("malformed=" + ",".join(map(str, planned.malformed_calls)))
    return ";".join(parts)


def _claude_session(plan: SessionPlan) -> ClaudeSession:
    digest = hashlib.sha256(plan.session_id.encode()).hexdigest()
    return ClaudeSession(session_id=plan.session_id, device_id=digest,
                         account_uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, plan.developer.name)),
                         cwd=f"/home/{plan.developer.name}/src/{plan.repo}")


def _missing_parameter(body: dict[str, Any], block: dict[str, Any]) -> str | None:
    """The first required parameter the call left out, by the request's own tool schema."""
    tools = body.get("tools") or []
    schema: dict[str, Any] = next(
        (tool.get("input_schema", {}) for tool in tools if tool.get("name") == block["name"]), {})
    given = block.get("input") or {}
    return next((name for name in schema.get("required", []) if name not in given), None)


def _append(body: dict[str, Any], assistant: list[dict[str, Any]], user: list[dict[str, Any]]) -> dict[str, Any]:
    """The next request: the answer echoed back, then the user's blocks; the cache marker moves to
    the newest block, as the CLI does."""
    messages = [*body["messages"]]
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user" and isinstance(messages[i].get("content"), list):
            blocks = [{k: v for k, v in b.items() if k != "cache_control"} for b in messages[i]["content"]]
            messages[i] = {**messages[i], "content": blocks}
            break
    user = [*user[:-1], {**user[-1], "cache_control": _EPHEMERAL}]
    messages += [{"role": "assistant", "content": assistant}, {"role": "user", "content": user}]
    return {**body, "messages": messages}


def _pad(body: dict[str, Any], target_bytes: int, seed: str) -> dict[str, Any]:
    """Grow the last user block's text so the request is about ``target_bytes`` long."""
    missing = target_bytes - len(encode_body(body))
    if missing <= 0:
        return body
    last = body["messages"][-1]
    block = dict(last["content"][-1])
    key = "content" if block.get("type") == "tool_result" else "text"
    block[key] = str(block.get(key, "")) + "\n" + filler_text(random.Random(seed), missing)
    messages = [*body["messages"][:-1], {**last, "content": [*last["content"][:-1], block]}]
    return {**body, "messages": messages}


class _SessionDriver:
    def __init__(self, plan: SessionPlan, client: httpx.AsyncClient, base_url: str, key: str, run: ProxyRun,
                 slow_first_byte_s: float) -> None:
        self.plan, self.client, self.base_url, self.run = plan, client, base_url, run
        self.slow_first_byte_s = slow_first_byte_s
        self.claude = _claude_session(plan)
        self.headers = build_headers(self.claude, auth_token=key, hint_headers=True, request_class="main")
        self.headers[REPO_HEADER] = plan.repo

    def _event(self, name: str, attributes: dict[str, Any]) -> None:
        self.run.events.append({"session_id": self.plan.session_id, "event_name": name, "time_ns": time.time_ns(),
                                "attributes": attributes})

    def _fresh(self, planned: PlannedTurn) -> dict[str, Any]:
        """A session's opening request (or the one after a compaction), with history up to the
        planned size. The size without history is measured on the same body (tools, thinking,
        prompt, model): the tool list is most of it. A turn planned smaller than that is sent at that
        size (the proxy then estimates it larger than planned)."""
        seed = self.plan.index * 1000 + planned.seq
        prompt = filler_text(random.Random(seed), 200)

        def body(history_chars: int) -> dict[str, Any]:
            return build_request_body(seed, session=self.claude, history_chars=history_chars, model=planned.model,
                                      prompt=prompt, tool_count=planned.tool_count, thinking=planned.thinking,
                                      max_tokens=MAX_OUTPUT_TOKENS)

        return body(max(0, planned.total_tokens * BYTES_PER_TOKEN - len(encode_body(body(0)))))

    async def _send(self, body: dict[str, Any], planned: PlannedTurn) -> tuple[int, list[dict[str, Any]]]:
        headers = {**self.headers, SCRIPT_HEADER: script_header(planned)}
        if planned.outcome is Outcome.SLOW:
            headers[FAULT_HEADER] = f"slow-first-byte:{self.slow_first_byte_s}"
        if planned.cache_bust:  # a prompt that changes every time: nothing can be read from the cache
            system = [*body["system"]]
            system[-1] = {**system[-1], "text": system[-1]["text"] + f"\n<!-- generated {uuid.uuid4()} -->"}
            body = {**body, "system": system}
        parser, events = SSEParser(), []
        async with self.client.stream("POST", self.base_url + "/v1/messages?beta=true", headers=headers,
                                      content=encode_body(body)) as response:
            async for chunk in response.aiter_raw():
                events.extend(parser.feed(chunk))
            status = response.status_code
        return status, assemble_content(events) if status == 200 else []

    def _results(self, body: dict[str, Any], planned: PlannedTurn,
                 content: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run the tools like the CLI: reject malformed input, fail the calls planned to fail."""
        blocks = []
        calls = [block for block in content if block.get("type") == "tool_use"]
        for index, call in enumerate(calls):
            missing = _missing_parameter(body, call)
            error = tool_error(call["name"], True) if missing else (
                tool_error(call["name"], False) if index in planned.failing_calls else None)
            event = tool_event(self.plan.session_id, time.time_ns(), call["name"], call["id"], error,
                               0 if missing else 40)
            self.run.events.append(event)
            result: dict[str, Any] = {"tool_use_id": call["id"], "type": "tool_result",
                                      "content": f"<tool_use_error>{error}</tool_use_error>" if error else "ok"}
            if error:
                result["is_error"] = True
            blocks.append(result)
        return blocks

    async def drive(self) -> None:
        body: dict[str, Any] | None = None
        previous_total = 0
        for planned in self.plan.turns:
            if body is None or planned.total_tokens < previous_total:  # first turn, or the CLI compacted
                body = self._fresh(planned)
            previous_total = planned.total_tokens
            body = _pad({**body, "model": planned.model}, planned.total_tokens * BYTES_PER_TOKEN,
                        f"{self.plan.session_id}:{planned.seq}")
            if planned.new_prompt:
                self._event(USER_PROMPT_EVENT, {"prompt_length": 200})
            status, content = await self._send(body, planned)
            self.run.statuses[status] += 1
            if status != 200:
                self._event(API_ERROR_EVENT, {"model": planned.model, "status_code": str(status)})
                continue  # the next turn retries the same request
            results = self._results(body, planned, content)
            user = results or [{"type": "text", "text": "Next, please."}]
            body = _append(body, content, user)


async def _drive_all(plans: Sequence[SessionPlan], base_url: str, keys: Mapping[str, str], concurrency: int,
                     slow_first_byte_s: float, timeout_s: float) -> ProxyRun:
    run = ProxyRun()
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        async def one(plan: SessionPlan) -> None:
            async with gate:
                await _SessionDriver(plan, client, base_url, keys[plan.developer.name], run, slow_first_byte_s).drive()

        await asyncio.gather(*(one(plan) for plan in plans))
    return run


def run_through_proxy(plans: Sequence[SessionPlan], base_url: str, keys: Mapping[str, str], *,
                      concurrency: int = 8, slow_first_byte_s: float = 0.6, timeout_s: float = 60.0,
                      truth_path: Path | None = None) -> ProxyRun:
    """Drive ``plans`` through the proxy at ``base_url`` (``keys``: developer → virtual key);
    write the ground truth to ``truth_path`` when given. Returns the telemetry events and the
    HTTP statuses seen."""
    if truth_path is not None:
        with TruthWriter(truth_path) as writer:
            for plan in plans:
                writer.write(truth_row(plan, turn) for turn in plan.turns)
    return asyncio.run(_drive_all(plans, base_url, keys, concurrency, slow_first_byte_s, timeout_s))
