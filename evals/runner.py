"""The eval runner: the only part of evals that touches the database.

Incremental and idempotent. Turns are read in ingestion order, in polars batches, from a
watermark; each batch is scored with its sessions loaded whole (tool failures and escalations show
on the *next* turn) and with Claude Code's tool_result events, and the scores are inserted with
ON CONFLICT DO NOTHING on (turn, evaluator, version). A turn whose thread may still grow (no next
turn yet, and less than ``settle_s`` of quiet) is left for a later run: the watermark stops at the
earliest such turn, so nothing is scored from half its context and nothing is skipped.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy import Engine

from core.spans import Turn
from evals.baselines import developer_baselines
from evals.context import Located, build_contexts, build_threads, event_from_row, is_settled, turn_from_row
from evals.protocol import CostBaseline, Evaluator, EvaluatorUnavailableError, ToolResultEvent, TurnContext
from evals.session_outcome import session_outcomes
from store.eval_queries import (
    Cursor,
    developer_costs,
    first_started_since,
    read_watermark,
    save_watermark,
    scores_frame,
    session_tool_event_rows,
    session_turn_rows,
    turn_rows_by_keys,
    turns_after,
    write_scores,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EvalSettings:
    watermark_name: str = "builtin"
    batch_size: int = 5_000
    # A turn with no next turn in its thread is final after this much quiet.
    settle_s: float = 1_800.0
    # The developer cost baselines look back this far before the oldest turn being scored.
    baseline_days: float = 7.0


@dataclass(slots=True)
class EvalReport:
    examined: int = 0
    scored_turns: int = 0
    inserted: int = 0
    deferred: int = 0
    unavailable: dict[str, int] = field(default_factory=dict)
    watermark: datetime | None = None


def _utc_naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _events_by_session(rows: Sequence[Mapping[str, Any]]) -> dict[str, tuple[ToolResultEvent, ...]]:
    grouped: dict[str, list[ToolResultEvent]] = defaultdict(list)
    for row in rows:
        grouped[row["session_id"]].append(event_from_row(row))
    return {session: tuple(events) for session, events in grouped.items()}


def _baselines(engine: Engine, first_started: datetime | None, days: float) -> dict[tuple[str, str], CostBaseline]:
    start = first_started - timedelta(days=days) if first_started is not None else None
    return developer_baselines(developer_costs(engine, start, None))


def score_rows(contexts: Sequence[TurnContext], evaluators: Sequence[Evaluator],
               started_at: dict[tuple[bytes, bytes], Any], now: datetime, report: EvalReport) -> list[dict[str, Any]]:
    rows = []
    for ctx in contexts:
        turn = ctx.turn
        key = (turn.trace_id, turn.span_id)
        for evaluator in evaluators:
            try:
                score = evaluator.score(ctx)
            except EvaluatorUnavailableError as error:
                report.unavailable[evaluator.name] = report.unavailable.get(evaluator.name, 0) + 1
                log.warning("%s could not score %s/%s: %s", evaluator.name, turn.trace_id.hex(), turn.span_id.hex(),
                            error)
                continue
            rows.append({
                "trace_id": turn.trace_id.hex(), "span_id": turn.span_id.hex(), "evaluator": evaluator.name,
                "version": evaluator.version, "value": score.value, "label": score.label, "reason": score.reason,
                "session_id": turn.session_id, "started_at": started_at[key], "scored_at": now,
            })
    return rows


@dataclass(slots=True)
class Loaded:
    """Turns of whole sessions keyed by (trace_id, span_id) bytes, with costs, start times, their
    place in their threads, and the sessions' tool_result events."""

    turns: dict[tuple[bytes, bytes], Turn]
    costs: dict[tuple[bytes, bytes], float]
    started_at: dict[tuple[bytes, bytes], Any]
    located: dict[tuple[bytes, bytes], Located]
    events: dict[str, tuple[ToolResultEvent, ...]]


def load_sessions(engine: Engine, frame: pl.DataFrame) -> Loaded:
    """Everything needed to score the turns keyed in ``frame`` (trace_id, span_id, session_id):
    their whole sessions and the sessions' events."""
    session_ids = frame["session_id"].drop_nulls().unique().to_list()
    loners = frame.filter(pl.col("session_id").is_null()).select("trace_id", "span_id").rows()
    rows = [*session_turn_rows(engine, session_ids), *turn_rows_by_keys(engine, loners)]
    loaded = Loaded({}, {}, {}, {}, _events_by_session(session_tool_event_rows(engine, session_ids)))
    for row in rows:
        turn = turn_from_row(row)
        key = (turn.trace_id, turn.span_id)
        loaded.turns[key] = turn
        loaded.costs[key] = float(row["cost_usd"] or 0)
        loaded.started_at[key] = row["started_at"]
    loaded.located = build_threads((turn, loaded.costs[key]) for key, turn in loaded.turns.items())
    return loaded


def frame_keys(frame: pl.DataFrame) -> list[tuple[bytes, bytes]]:
    return [(bytes.fromhex(t), bytes.fromhex(s)) for t, s in frame.select("trace_id", "span_id").iter_rows()]


def _score_batch(engine: Engine, batch: pl.DataFrame, evaluators: Sequence[Evaluator],
                 baselines: dict[tuple[str, str], CostBaseline], settings: EvalSettings, now: datetime,
                 report: EvalReport) -> datetime | None:
    """Score one batch; return the ingestion time of its earliest turn left for later (or None)."""
    loaded = load_sessions(engine, batch)
    now_ns = int(now.replace(tzinfo=UTC).timestamp() * 1e9)
    settle_ns = int(settings.settle_s * 1e9)
    ready: list[Turn] = []
    held: datetime | None = None
    for key, ingested_at in zip(frame_keys(batch), batch["ingested_at"], strict=True):
        turn = loaded.turns[key]
        if is_settled(turn, loaded.located[key], now_ns, settle_ns):
            ready.append(turn)
        else:
            report.deferred += 1
            held = ingested_at if held is None else min(held, ingested_at)
    contexts = build_contexts(ready, loaded.located, loaded.costs, loaded.events, baselines)
    rows = score_rows(contexts, evaluators, loaded.started_at, now, report)
    report.inserted += write_scores(engine, rows)
    report.scored_turns += len(ready)
    return held


def session_outcome_frame(engine: Engine, start: datetime | None = None,
                          end: datetime | None = None) -> pl.DataFrame:
    """Session outcome scores (:mod:`evals.session_outcome`) for sessions with turns in [start, end)."""
    return session_outcomes(scores_frame(engine, start, end))


def run_evals(engine: Engine, evaluators: Sequence[Evaluator], settings: EvalSettings | None = None, *,
              now: datetime | None = None) -> EvalReport:
    """Score every settled turn ingested since the watermark; safe to run again at any time."""
    settings = settings or EvalSettings()
    now = _utc_naive(now or datetime.now(UTC))
    report = EvalReport()
    watermark = read_watermark(engine, settings.watermark_name)
    cursor: Cursor | None = (watermark, "", "") if watermark is not None else None
    baselines: dict[tuple[str, str], CostBaseline] | None = None
    held: datetime | None = None
    while True:
        batch = turns_after(engine, cursor, settings.batch_size)
        if batch.is_empty():
            break
        if baselines is None:
            # once per run, looking back from the oldest turn to score: a million turns cost one query
            baselines = _baselines(engine, first_started_since(engine, watermark), settings.baseline_days)
        report.examined += batch.height
        batch_held = _score_batch(engine, batch, evaluators, baselines, settings, now, report)
        if batch_held is not None:
            held = batch_held if held is None else min(held, batch_held)
        last = batch.row(batch.height - 1, named=True)
        cursor = (last["ingested_at"], last["trace_id"], last["span_id"])
        report.watermark = held if held is not None else cursor[0]
        save_watermark(engine, settings.watermark_name, report.watermark, now)
    if report.watermark is None:
        report.watermark = watermark
    return report
