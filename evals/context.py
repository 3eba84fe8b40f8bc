"""Turn rows (as the store returns them) → :class:`TurnContext` for the evaluators. Pure.

A *thread* is one conversation: a session's main loop, or one subagent inside it (its own
agent id). Side requests (session titles, quota checks: no tools offered, no request class) belong
to no thread. Within a thread turns are ordered by start time, which is the order the client sent
them in: Claude Code waits for each answer before sending the next request.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from core.spans import Turn
from evals.protocol import CostBaseline, Thread, ToolResultEvent, TurnContext

TOOL_RESULT_EVENT = "claude_code.tool_result"
_TURN_FIELDS = tuple(f.name for f in fields(Turn))
_TUPLE_FIELDS = ("fallback_hops", "dropped_capabilities", "tool_use_ids", "tool_use_names", "tool_result_ids",
               "tool_result_error_ids", "secret_findings")
ThreadKey = tuple[str, str]


def turn_from_row(row: Mapping[str, Any]) -> Turn:
    values = {name: row.get(name) for name in _TURN_FIELDS}
    values["trace_id"] = bytes.fromhex(row["trace_id"])
    values["span_id"] = bytes.fromhex(row["span_id"])
    for name in _TUPLE_FIELDS:
        values[name] = tuple(row.get(name) or ())
    for name in ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens",
                 "cache_creation_1h_tokens"):
        values[name] = values[name] or 0
    return Turn(**values)


def thread_key(turn: Turn) -> ThreadKey | None:
    if turn.session_id is None:
        return None
    conversational = turn.request_class in ("main", "subagent") or (
        turn.request_class is None and (turn.tool_count or 0) > 0)
    return (turn.session_id, turn.agent_id or "") if conversational else None


def event_from_row(row: Mapping[str, Any]) -> ToolResultEvent:
    attributes = row.get("attributes") or {}
    if isinstance(attributes, str):
        attributes = json.loads(attributes)
    error = attributes.get("error")
    tool_use_id = attributes.get("tool_use_id")
    return ToolResultEvent(
        time_ns=int(row["time_ns"]),
        tool_name=attributes.get("tool_name"),
        success=row.get("success"),
        error=str(error) if error is not None else None,
        tool_use_id=str(tool_use_id) if tool_use_id is not None else None,
    )


@dataclass(frozen=True, slots=True)
class Located:
    """Where a turn sits: its thread (None outside any) and its index there."""

    thread: Thread | None
    index: int


def build_threads(turns: Iterable[tuple[Turn, float]]) -> dict[tuple[bytes, bytes], Located]:
    """Group (turn, cost) pairs into threads; map each turn's (trace_id, span_id) to its place."""
    grouped: dict[ThreadKey, list[tuple[Turn, float]]] = defaultdict(list)
    located: dict[tuple[bytes, bytes], Located] = {}
    for turn, cost in turns:
        key = thread_key(turn)
        if key is None:
            located[(turn.trace_id, turn.span_id)] = Located(None, 0)
        else:
            grouped[key].append((turn, cost))
    for members in grouped.values():
        members.sort(key=lambda pair: (pair[0].start_ns, pair[0].span_id))
        thread = Thread(
            turns=tuple(turn for turn, _ in members),
            costs=tuple(cost for _, cost in members),
            result_ids=frozenset(i for turn, _ in members for i in turn.tool_result_ids),
            error_ids=frozenset(i for turn, _ in members for i in turn.tool_result_error_ids),
        )
        for index, (turn, _) in enumerate(members):
            located[(turn.trace_id, turn.span_id)] = Located(thread, index)
    return located


def is_settled(turn: Turn, place: Located, now_ns: int, settle_ns: int) -> bool:
    """Whether everything that decides this turn's scores has arrived: the next turn of its thread
    (tool results, a model switch) or enough quiet time that no next turn is coming."""
    if place.thread is None:
        return True
    if place.index + 1 < len(place.thread.turns):
        return True
    return now_ns - turn.end_ns >= settle_ns


def build_contexts(
    batch: Sequence[Turn],
    located: Mapping[tuple[bytes, bytes], Located],
    costs: Mapping[tuple[bytes, bytes], float],
    events: Mapping[str, tuple[ToolResultEvent, ...]],
    baselines: Mapping[tuple[str, str], CostBaseline],
) -> list[TurnContext]:
    contexts = []
    for turn in batch:
        key = (turn.trace_id, turn.span_id)
        place = located.get(key, Located(None, 0))
        contexts.append(TurnContext(
            turn=turn,
            cost_usd=costs.get(key, 0.0),
            thread=place.thread,
            index=place.index,
            events=events.get(turn.session_id or "", ()),
            developer_baseline=baselines.get((turn.developer or "", turn.served_model or turn.requested_model or "")),
        ))
    return contexts
