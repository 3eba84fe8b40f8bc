"""Session-level outcome scores from per-turn scores."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from evals.session_outcome import session_outcomes


def scores(rows: list[tuple[str, int, str, float]]) -> pl.DataFrame:
    start = datetime(2026, 11, 2, 9)
    return pl.DataFrame(
        [{"session_id": session, "trace_id": session, "span_id": f"{index:016x}",
          "started_at": start + timedelta(minutes=index), "evaluator": evaluator, "value": value}
         for session, index, evaluator, value in rows])


def test_outcomes_weigh_failures_the_ending_and_escalations() -> None:
    frame = scores([
        ("fine", 0, "tool_failure", 1.0), ("fine", 0, "truncation", 1.0), ("fine", 1, "tool_failure", 1.0),
        ("rough", 0, "tool_failure", 0.0), ("rough", 0, "escalation", 0.0), ("rough", 1, "tool_failure", 1.0),
        ("rough", 2, "tool_failure", 1.0), ("rough", 3, "latency_slo", 0.9),
        ("broken", 0, "tool_failure", 1.0), ("broken", 1, "truncation", 0.0),
        # cost and escalation are not failures of the turn itself
        ("costly", 0, "cost_outlier", 0.0), ("costly", 1, "tool_failure", 1.0),
    ])
    outcome = {row["session_id"]: row for row in session_outcomes(frame).iter_rows(named=True)}
    assert (outcome["fine"]["value"], outcome["fine"]["label"]) == (1.0, "succeeded")
    assert outcome["rough"]["failing_turns"] == 1 and outcome["rough"]["escalations"] == 1
    assert outcome["rough"]["value"] == (0.0 + 1 + 1 + 0.9) / 4 * 0.75
    assert outcome["rough"]["label"] == "struggled"
    assert outcome["broken"]["final_turn_failed"] and outcome["broken"]["value"] == 0.25
    assert outcome["broken"]["label"] == "failed"
    assert outcome["costly"]["label"] == "succeeded"
