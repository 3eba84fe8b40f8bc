"""Session outcome: one 0..1 score per session from its turns' scores. Pure (polars in, polars out).

How much of the session went well (the mean, over its turns, of each turn's worst score among the
failure evaluators), halved when its last turn failed (the developer gave up or left it broken)
and cut by a quarter when the developer escalated to a higher tier along the way.
Labels: ``succeeded`` (≥ 0.7), ``struggled`` (≥ 0.4), ``failed``.
"""

from __future__ import annotations

from collections.abc import Collection

import polars as pl

from evals.protocol import FAILING_BELOW

FAILURE_EVALUATORS = (
    "tool_failure", "malformed_tool_input", "truncation", "upstream_error", "latency_slo", "stuck_loop",
)


def session_outcomes(scores: pl.DataFrame, failure_evaluators: Collection[str] = FAILURE_EVALUATORS) -> pl.DataFrame:
    """``scores`` has session_id, trace_id, span_id, started_at, evaluator, value (one evaluator
    version each). Returns session_id, turns, failing_turns, escalations, final_turn_failed, value,
    label."""
    scored = scores.filter(pl.col("session_id").is_not_null())
    per_turn = (
        scored.group_by("session_id", "trace_id", "span_id")
        .agg(
            pl.col("started_at").min(),
            pl.col("value").filter(pl.col("evaluator").is_in(list(failure_evaluators))).min().fill_null(1.0)
            .alias("worst"),
            (pl.col("evaluator").eq("escalation") & pl.col("value").lt(FAILING_BELOW)).any().alias("escalated"),
        )
        .sort("session_id", "started_at", "span_id")
    )
    outcome = per_turn.group_by("session_id", maintain_order=True).agg(
        pl.len().alias("turns"),
        (pl.col("worst") < FAILING_BELOW).sum().alias("failing_turns"),
        pl.col("escalated").sum().alias("escalations"),
        (pl.col("worst").last() < FAILING_BELOW).alias("final_turn_failed"),
        pl.col("worst").mean().alias("health"),
    )
    value = (
        pl.col("health")
        * pl.when(pl.col("final_turn_failed")).then(0.5).otherwise(1.0)
        * pl.when(pl.col("escalations") > 0).then(0.75).otherwise(1.0)
    )
    return (
        outcome.with_columns(value.alias("value"))
        .with_columns(
            pl.when(pl.col("value") >= 0.7).then(pl.lit("succeeded"))
            .when(pl.col("value") >= 0.4).then(pl.lit("struggled"))
            .otherwise(pl.lit("failed")).alias("label")
        )
        .drop("health")
        .sort("session_id")
    )
