"""Tool failure: a tool this turn asked for came back failed.

Two signals, either suffices: the client's next request carries a ``tool_result`` with
``is_error: true`` for one of this turn's tool_use ids (the proxy records those ids per request, so
the failure shows on the *following* turn of the same thread), and Claude Code's own
``claude_code.tool_result`` telemetry event with ``success=false`` for the call, where telemetry
is enabled.
"""

from __future__ import annotations

from dataclasses import dataclass

from evals.protocol import Score, TurnContext, not_applicable


@dataclass(frozen=True, slots=True)
class ToolFailureEvaluator:
    name: str = "tool_failure"
    version: str = "1"

    def score(self, ctx: TurnContext) -> Score:
        turn = ctx.turn
        if not turn.tool_use_ids:
            return not_applicable("no tool calls")
        names = dict(zip(turn.tool_use_ids, turn.tool_use_names, strict=False))
        reported = ctx.thread.error_ids if ctx.thread is not None else frozenset()
        failed = {tool_id for tool_id in turn.tool_use_ids if tool_id in reported}
        failed_events = [event for event in ctx.events_for_turn() if event.success is False]
        failed_names = sorted({names.get(tool_id, "?") for tool_id in failed}
                              | {event.tool_name or "?" for event in failed_events})
        if not failed_names:
            return Score(1.0, "ok")
        total = len(turn.tool_use_ids)
        count = max(len(failed), len({event.tool_use_id or event.tool_name for event in failed_events}))
        errors = sorted({event.error for event in failed_events if event.error})
        reason = f"{count} of {total} tool call(s) failed: {', '.join(failed_names)}"
        if errors:
            reason += f" ({'; '.join(errors)[:300]})"
        return Score(0.0, "tool_failed", reason)
