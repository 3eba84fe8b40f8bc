"""The eval runner against real databases: incremental from a watermark, idempotent per (turn,
evaluator, version), patient with threads that may still grow, honest about evaluators that
could not score."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select

from core.pricing import builtin_price_table
from core.spans import Turn
from evals.protocol import EvaluatorUnavailableError, Score, TurnContext
from evals.registry import builtin_evaluators
from evals.runner import EvalSettings, run_evals
from evals.truncation import TruncationEvaluator
from ingest.local import LocalIngest, fixed_clock
from store.eval_queries import read_watermark, scores_frame
from store.schema import scores
from tests.evals.turns import T0, turn

NOW = datetime(2026, 9, 22)  # the turns start at T0, 2026-09-21 13:33 UTC


def ingest_at(engine: Engine, turns: Sequence[Turn], ingested_at: datetime) -> None:
    """Store ``turns`` through ingest's pipeline as if ingest received them at ``ingested_at``."""
    LocalIngest(engine, clock=fixed_clock(ingested_at)).write_turns(turns)


def count_scores(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(scores)).scalar_one())


def test_runs_are_incremental_and_idempotent(db_engine: Engine) -> None:
    prices = builtin_price_table()
    evaluators = builtin_evaluators(prices)
    ingest_at(db_engine, [turn(i) for i in range(6)], NOW - timedelta(minutes=5))
    first = run_evals(db_engine, evaluators, EvalSettings(batch_size=4), now=NOW)
    assert (first.examined, first.scored_turns, first.inserted) == (6, 6, 6 * len(evaluators))
    assert read_watermark(db_engine, "builtin") == NOW - timedelta(minutes=5)

    again = run_evals(db_engine, evaluators, EvalSettings(batch_size=4), now=NOW)
    assert again.inserted == 0 and count_scores(db_engine) == 6 * len(evaluators)

    ingest_at(db_engine, [turn(i) for i in range(6, 9)], NOW)
    later = run_evals(db_engine, evaluators, now=NOW + timedelta(hours=1))
    assert later.inserted == 3 * len(evaluators)
    frame = scores_frame(db_engine)
    assert frame.height == 9 * len(evaluators)
    assert frame.group_by("trace_id", "span_id", "evaluator", "version").len()["len"].max() == 1


def test_a_new_evaluator_version_scores_again_next_to_the_old(db_engine: Engine) -> None:
    ingest_at(db_engine, [turn(0, stop_reason="max_tokens")], NOW)
    run_evals(db_engine, [TruncationEvaluator()], now=NOW)
    run_evals(db_engine, [TruncationEvaluator(version="2")], EvalSettings(watermark_name="v2"), now=NOW)
    assert sorted(scores_frame(db_engine)["version"].to_list()) == ["1", "2"]


def test_a_thread_that_may_still_grow_waits(db_engine: Engine) -> None:
    prices = builtin_price_table()
    evaluators = builtin_evaluators(prices)
    tool_call = turn(0, stop_reason="tool_use", tool_use_ids=("toolu_a",), tool_use_names=("Edit",))
    ingest_at(db_engine, [tool_call], NOW)
    just_after = datetime.fromtimestamp(tool_call.end_ns / 1e9, UTC).replace(tzinfo=None) + timedelta(seconds=10)
    waiting = run_evals(db_engine, evaluators, EvalSettings(settle_s=600), now=just_after)
    assert (waiting.deferred, waiting.inserted, waiting.watermark) == (1, 0, NOW)

    # the next request arrives with the tool's failure: now the first turn can be judged
    result = turn(1, tool_result_ids=("toolu_a",), tool_result_error_ids=("toolu_a",))
    ingest_at(db_engine, [result], NOW + timedelta(seconds=30))
    done = run_evals(db_engine, evaluators, EvalSettings(settle_s=600), now=just_after + timedelta(seconds=30))
    assert done.deferred == 1  # the second turn is now the one that may still get a successor
    failure = scores_frame(db_engine, evaluators=["tool_failure"])
    assert failure.select("span_id", "label").rows() == [(tool_call.span_id.hex(), "tool_failed")]

    quiet = run_evals(db_engine, evaluators, EvalSettings(settle_s=600), now=just_after + timedelta(hours=1))
    assert (quiet.deferred, quiet.scored_turns) == (0, 1)  # from the watermark on: only the held turn
    assert count_scores(db_engine) == 2 * len(evaluators)


@dataclass(frozen=True)
class FlakyJudge:
    name: str = "flaky"
    version: str = "1"

    def score(self, ctx: TurnContext) -> Score:
        if ctx.turn.start_ns == T0:
            raise EvaluatorUnavailableError("endpoint down")
        return Score(1.0, "ok")


def test_an_unavailable_evaluator_leaves_the_turn_unscored(db_engine: Engine) -> None:
    ingest_at(db_engine, [turn(0), turn(1)], NOW)
    report = run_evals(db_engine, [FlakyJudge(), TruncationEvaluator()], now=NOW)
    assert report.unavailable == {"flaky": 1} and report.inserted == 3
