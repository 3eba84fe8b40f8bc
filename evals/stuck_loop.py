"""Stuck loop: the same tool called turn after turn in one conversation thread. A turn is flagged
once it is the N-th (or later) consecutive turn whose tool calls all name one and the same tool:
an agent re-reading, re-grepping or re-running the same thing is not making progress."""

from __future__ import annotations

from dataclasses import dataclass

from core.spans import Turn
from evals.protocol import Score, TurnContext, not_applicable


def single_tool(turn: Turn) -> str | None:
    """The tool a turn called, when every call it made names the same one."""
    names = set(turn.tool_use_names)
    return next(iter(names)) if len(names) == 1 else None


@dataclass(frozen=True, slots=True)
class StuckLoopEvaluator:
    repeats: int = 5
    name: str = "stuck_loop"
    version: str = "1"

    def score(self, ctx: TurnContext) -> Score:
        tool = single_tool(ctx.turn)
        if tool is None or ctx.thread is None:
            return not_applicable("not a single-tool turn in a thread")
        run = 1
        turns = ctx.thread.turns
        while run < self.repeats and ctx.index - run >= 0 and single_tool(turns[ctx.index - run]) == tool:
            run += 1
        if run >= self.repeats:
            return Score(0.0, "stuck_loop", f"{tool} called in {self.repeats}+ consecutive turns")
        return Score(1.0, "ok")
