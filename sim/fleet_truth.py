"""The ground truth of a simulated fleet, one row per planned turn, exported as CSV (stdlib only,
so the simulator needs no dataframe library; polars reads it back with ``pl.read_csv``).

Turns are keyed by (session_id, seq): seq is the turn's position in its session, which is also
its rank by start time in the store (a session's requests are sequential). FAST mode adds the
span id it gave the turn.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sim.fleet_plan import PlannedTurn, SessionPlan

# thinking and tool_count: what the request told the proxy (tool_count is the tools offered; tools,
# the calls the answer made); difficulty already includes the facts' shift (sim.fleet_facts).
COLUMNS = (
    "session_id", "seq", "span_id", "developer", "team", "repo", "tier", "model", "total_tokens", "thinking",
    "tool_count", "tools", "difficulty", "p_success", "outcome", "succeeded", "mode", "failing_tools",
    "malformed_tools", "stop_reason", "status", "cost_usd", "cost_ratio", "escalated_after", "rule", "propensity",
)


def truth_row(plan: SessionPlan, turn: PlannedTurn, span_id: str = "") -> dict[str, Any]:
    return {
        "session_id": plan.session_id, "seq": turn.seq, "span_id": span_id, "developer": plan.developer.name,
        "team": plan.developer.team, "repo": plan.repo, "tier": turn.tier, "model": turn.model,
        "total_tokens": turn.total_tokens, "thinking": turn.thinking, "tool_count": turn.tool_count,
        "tools": ";".join(turn.tools), "difficulty": round(turn.difficulty, 4),
        "p_success": round(turn.p_success, 4), "outcome": turn.outcome.value,
        "succeeded": turn.outcome.succeeded, "mode": turn.mode or "",
        "failing_tools": ";".join(turn.tools[i] for i in turn.failing_calls),
        "malformed_tools": ";".join(turn.tools[i] for i in turn.malformed_calls),
        "stop_reason": turn.stop_reason or "", "status": turn.status, "cost_usd": round(turn.cost_usd, 9),
        "cost_ratio": round(turn.cost_ratio, 4), "escalated_after": turn.escalated_after,
        "rule": turn.rule or "", "propensity": "" if turn.propensity is None else turn.propensity,
    }


class TruthWriter:
    """Appends truth rows to a CSV file (header first); use as a context manager."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = path.open("w", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._handle, fieldnames=COLUMNS)
        self._writer.writeheader()

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        self._writer.writerows(rows)

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> TruthWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
