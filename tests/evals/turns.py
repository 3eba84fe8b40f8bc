"""Small builders of Turns and contexts for the evaluator unit tests."""

from __future__ import annotations

from collections.abc import Sequence

from core.spans import Turn
from evals.context import build_contexts, build_threads
from evals.protocol import CostBaseline, ToolResultEvent, TurnContext

T0 = 1_790_000_000_000_000_000
SECOND = 1_000_000_000


def turn(index: int, **values: object) -> Turn:
    fields: dict[str, object] = {
        "trace_id": b"\x01" * 16, "span_id": (index + 1).to_bytes(8, "big"),
        "start_ns": T0 + index * 30 * SECOND, "end_ns": T0 + index * 30 * SECOND + 2 * SECOND,
        "status_code": 200, "session_id": "s1", "developer": "ana", "request_class": "main", "tool_count": 8,
        "requested_model": "claude-sonnet-4-5-20250929", "served_model": "claude-sonnet-4-5-20250929",
        "stop_reason": "end_turn", "input_tokens": 8, "output_tokens": 300, "cache_read_tokens": 20_000 + 1000 * index,
        "cache_creation_tokens": 1000,
    }
    fields.update(values)
    return Turn(**fields)  # type: ignore[arg-type]


def contexts(turns: Sequence[Turn], costs: Sequence[float] | None = None,
             events: Sequence[ToolResultEvent] = (), baseline: CostBaseline | None = None) -> list[TurnContext]:
    costs = list(costs) if costs is not None else [0.01] * len(turns)
    located = build_threads(zip(turns, costs, strict=True))
    by_key = {(t.trace_id, t.span_id): c for t, c in zip(turns, costs, strict=True)}
    baselines = {(t.developer or "", t.served_model or ""): baseline for t in turns} if baseline else {}
    return build_contexts(list(turns), located, by_key, {"s1": tuple(events)}, baselines)  # type: ignore[arg-type]
