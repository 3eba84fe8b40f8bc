"""FAST mode's records: a planned session → the Turn records the proxy would have exported for it
and the telemetry events Claude Code would have sent (tool results, API errors, prompts). Pure.

The records match what the real path produces field for field where it matters to the evals:
one trace per session (the proxy derives it from the session id), the request class the plan
gives (``main`` for the fleet, which sends Claude Code's hint headers), tool_use ids and names on
the answering turn, the tool_result ids and ``is_error`` ids on the *next* request, error types and
messages as Anthropic words them.
"""

from __future__ import annotations

import random
from typing import Any

from core.spans import Turn, session_trace_id
from sim.fleet_plan import PlannedTurn, SessionPlan

CLI_VERSION = "2.1.330"
TOOL_RESULT_EVENT = "claude_code.tool_result"
API_ERROR_EVENT = "claude_code.api_error"
USER_PROMPT_EVENT = "claude_code.user_prompt"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# What Claude Code reports when a tool fails while running.
TOOL_ERRORS = {
    "Edit": "String to replace not found in file.",
    "Bash": "Command failed with exit code 1",
    "Read": "File does not exist.",
    "Grep": "rg: regex parse error: unclosed group",
    "Glob": "Directory does not exist.",
    "Write": "File has not been read yet. Read it first before writing to it.",
}
# The parameter a malformed call leaves out (the first required one after the path).
REQUIRED_PARAMETER = {"Edit": "old_string", "Bash": "command", "Read": "file_path", "Grep": "pattern",
                      "Glob": "pattern", "Write": "content"}
ERROR_OF_STATUS = {
    504: ("timeout_error", "Request timed out while processing"),
    529: ("overloaded_error", "Overloaded"),
}


def tool_error(tool: str, malformed: bool) -> str:
    if malformed:
        parameter = REQUIRED_PARAMETER.get(tool, "input")
        return f"InputValidationError: {tool} failed due to the following issue: " \
               f"The required parameter `{parameter}` is missing"
    return TOOL_ERRORS.get(tool, "Tool failed")


def tool_use_id(rng: random.Random) -> str:
    number, chars = rng.getrandbits(131), []
    for _ in range(22):
        number, digit = divmod(number, 62)
        chars.append(_ALPHABET[digit])
    return "toolu_01" + "".join(chars)


def tool_event(session_id: str, time_ns: int, tool: str, tool_id: str, error: str | None,
               duration_ms: int) -> dict[str, Any]:
    attributes: dict[str, Any] = {"tool_name": tool, "success": "false" if error else "true",
                                  "duration_ms": duration_ms, "tool_use_id": tool_id}
    if error:
        attributes["error"] = error
    return {"session_id": session_id, "event_name": TOOL_RESULT_EVENT, "time_ns": time_ns, "attributes": attributes}


def session_records(plan: SessionPlan) -> tuple[list[Turn], list[dict[str, Any]]]:
    rng = random.Random(f"fast:{plan.session_id}")
    trace_id = session_trace_id(plan.session_id, b"")
    start_s = plan.start.timestamp()
    turns: list[Turn] = []
    events: list[dict[str, Any]] = []
    carried: tuple[str, ...] = ()
    carried_errors: tuple[str, ...] = ()
    for planned in plan.turns:
        start_ns = int((start_s + planned.offset_s) * 1e9)
        end_ns = start_ns + int(planned.duration_ms * 1e6)
        if planned.new_prompt:
            carried, carried_errors = (), ()
            events.append({"session_id": plan.session_id, "event_name": USER_PROMPT_EVENT, "time_ns": start_ns - 1000,
                           "attributes": {"prompt_length": rng.randint(20, 800)}})
        ids = tuple(tool_use_id(rng) for _ in planned.tools) if planned.status == 200 else ()
        turns.append(_turn(plan, planned, trace_id, rng.getrandbits(64).to_bytes(8, "big"), start_ns, end_ns, ids,
                           carried, carried_errors))
        if planned.status != 200:
            error_type, _ = ERROR_OF_STATUS[planned.status]
            events.append({"session_id": plan.session_id, "event_name": API_ERROR_EVENT, "time_ns": end_ns,
                           "attributes": {"model": planned.model, "error": error_type,
                                          "status_code": str(planned.status)}})
            continue
        errors: list[str] = []
        at = end_ns
        for index, (tool, tool_id) in enumerate(zip(planned.tools, ids, strict=True)):
            malformed = index in planned.malformed_calls
            error = tool_error(tool, malformed) if malformed or index in planned.failing_calls else None
            duration = 0 if malformed else int(rng.lognormvariate(5.5, 1.0))
            at += duration * 1_000_000 + 1000
            events.append(tool_event(plan.session_id, at, tool, tool_id, error, duration))
            if error:
                errors.append(tool_id)
        carried, carried_errors = ids, tuple(errors)
    return turns, events


def _turn(plan: SessionPlan, planned: PlannedTurn, trace_id: bytes, span_id: bytes, start_ns: int, end_ns: int,
          ids: tuple[str, ...], results: tuple[str, ...], result_errors: tuple[str, ...]) -> Turn:
    usage = planned.usage
    error_type, error_message = ERROR_OF_STATUS.get(planned.status, (None, None))
    return Turn(
        trace_id=trace_id, span_id=span_id, start_ns=start_ns, end_ns=end_ns, status_code=planned.status,
        session_id=plan.session_id, developer=plan.developer.name, team=plan.developer.team, repo=plan.repo,
        cli_version=CLI_VERSION, request_class=planned.request_class,
        requested_model=planned.requested_model or planned.model,
        served_model=planned.model if planned.status == 200 else None,
        target=planned.target or "anthropic",
        estimated_input_tokens=planned.total_tokens, tool_count=planned.tool_count, thinking=planned.thinking,
        stream=True,
        input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
        cache_creation_tokens=usage.cache_creation_tokens, cache_read_tokens=usage.cache_read_tokens,
        ttfb_ms=planned.ttfb_ms if planned.status == 200 else None, stop_reason=planned.stop_reason,
        error_type=error_type, error_message=error_message,
        tool_use_ids=ids, tool_use_names=planned.tools if ids else (),
        tool_result_ids=results, tool_result_error_ids=result_errors,
        policy_version=planned.policy_version, rule=planned.rule, propensity=planned.propensity,
    )
