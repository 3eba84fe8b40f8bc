"""What an evaluator is and what it sees.

An evaluator is pure: ``score(ctx)`` looks at one turn in its context (its conversation thread,
Claude Code's tool_result telemetry for the session, the developer's cost baseline) and returns a
:class:`Score`: ``value`` 1.0 means fine and 0.0 means failed (below 0.5 counts as failing), a
short machine ``label`` and a human ``reason``. Evaluators that do not apply to a turn still answer
(value 1.0, label ``n/a``), so "this turn was scored" is one row per (turn, evaluator, version).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.spans import Turn

FAILING_BELOW = 0.5
NOT_APPLICABLE = "n/a"


@dataclass(frozen=True, slots=True)
class Score:
    value: float
    label: str
    reason: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.value <= 1.0:
            raise ValueError(f"a score must be in [0, 1], got {self.value}")

    @property
    def failing(self) -> bool:
        return self.value < FAILING_BELOW


def not_applicable(reason: str | None = None) -> Score:
    return Score(1.0, NOT_APPLICABLE, reason)


@dataclass(frozen=True, slots=True)
class ToolResultEvent:
    """One ``claude_code.tool_result`` telemetry event (CLAUDE_CODE_ENABLE_TELEMETRY=1). The CLI
    reports ``tool_name``, ``success`` and, on failure, ``error``; ``tool_use_id`` when present."""

    time_ns: int
    tool_name: str | None
    success: bool | None
    error: str | None = None
    tool_use_id: str | None = None


@dataclass(frozen=True, slots=True)
class CostBaseline:
    """Robust location and scale of log(cost_usd) for a group of turns (a developer, a session)."""

    median: float
    scale: float  # 1.4826 × MAD, floored so near-constant baselines do not flag everything
    count: int

    def z(self, log_cost: float) -> float:
        return (log_cost - self.median) / self.scale


@dataclass(frozen=True, slots=True)
class Thread:
    """The turns of one conversation thread (a session's main loop, or one subagent) in start
    order, their costs, and the tool_result ids the client reported back over the whole thread."""

    turns: tuple[Turn, ...]
    costs: tuple[float, ...]
    result_ids: frozenset[str]
    error_ids: frozenset[str]


@dataclass(frozen=True, slots=True)
class TurnContext:
    turn: Turn
    cost_usd: float
    # None for turns outside any conversation thread (side requests: titles, quota checks)
    thread: Thread | None = None
    index: int = 0
    events: tuple[ToolResultEvent, ...] = ()
    developer_baseline: CostBaseline | None = None

    @property
    def previous(self) -> Turn | None:
        if self.thread is None or self.index == 0:
            return None
        return self.thread.turns[self.index - 1]

    @property
    def next(self) -> Turn | None:
        if self.thread is None or self.index + 1 >= len(self.thread.turns):
            return None
        return self.thread.turns[self.index + 1]

    def events_for_turn(self) -> tuple[ToolResultEvent, ...]:
        """Telemetry about this turn's tool calls: matched by tool_use_id when the CLI sends it,
        else by tool name between this turn's end and the next turn's start (when the tools ran)."""
        ids = set(self.turn.tool_use_ids)
        by_id = tuple(event for event in self.events if event.tool_use_id is not None and event.tool_use_id in ids)
        if by_id:
            return by_id
        if not ids:
            return ()
        names = set(self.turn.tool_use_names)
        following = self.next
        until = following.start_ns if following is not None else None
        return tuple(
            event for event in self.events
            if event.tool_use_id is None and event.tool_name in names and event.time_ns >= self.turn.end_ns
            and (until is None or event.time_ns <= until)
        )


class EvaluatorUnavailableError(RuntimeError):
    """An evaluator could not score a turn right now (e.g. the LLM judge's endpoint is down): the
    runner leaves that (turn, evaluator) unscored and counts it, rather than store a made-up score."""


class Evaluator(Protocol):
    name: str
    version: str

    def score(self, ctx: TurnContext) -> Score: ...
