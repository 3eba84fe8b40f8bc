from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal

import polars as pl
from sqlalchemy import Engine, func, select

from store.queries import rollup_frame, turns_frame
from store.rows import Pricing, turn_row
from store.schema import rollup_hourly, turns
from store.testing import sample_turn
from store.writer import write_turns

INGESTED_AT = datetime(2025, 6, 15, 12, 0, 0)


def rows_for(indices: range | list[int], **overrides: object) -> list[dict[str, object]]:
    pricing = Pricing(cost_usd=Decimal("0.012345678"), priced=True, price_id="sonnet@2025-01-01")
    return [turn_row(sample_turn(i, **overrides), pricing, INGESTED_AT) for i in indices]


def rollup_from_turns(engine: Engine) -> pl.DataFrame:
    frame = turns_frame(engine)
    return (
        frame.with_columns(
            pl.col("started_at").dt.truncate("1h").alias("hour"),
            pl.coalesce("served_model", "requested_model").alias("model"),
        )
        .group_by("hour", "developer", "team", "repo", "model", "target", "rule")
        .agg(
            pl.len().cast(pl.Int64).alias("requests"),
            (~pl.col("ok")).sum().cast(pl.Int64).alias("errors"),
            pl.col("input_tokens").sum(),
            pl.col("cost_usd").sum(),
        )
        .sort("hour", "developer", "team", "repo", "model", "target", "rule")
    )


def stored_rollup(engine: Engine) -> pl.DataFrame:
    return rollup_frame(
        engine, by=("hour", "developer", "team", "repo", "model", "target", "rule")
    ).select("hour", "developer", "team", "repo", "model", "target", "rule", "requests", "errors",
             "input_tokens", "cost_usd")


def assert_rollup_consistent(engine: Engine) -> None:
    expected = rollup_from_turns(engine)
    actual = stored_rollup(engine)
    assert actual.height == expected.height
    assert actual.select(pl.exclude("cost_usd")).equals(expected.select(pl.exclude("cost_usd")))
    # SQLite sums Numeric as doubles; compare at the stored precision.
    assert [round(v, 9) for v in actual["cost_usd"]] == [round(v, 9) for v in expected["cost_usd"]]


def test_new_rows_are_inserted_and_rolled_up(db_engine: Engine) -> None:
    result = write_turns(db_engine, rows_for(range(40)) + rows_for(range(40, 45), status_code=529,
                                                                 error_type="overloaded_error"))
    assert (result.received, result.inserted, result.duplicates) == (45, 45, 0)
    assert_rollup_consistent(db_engine)
    totals = rollup_frame(db_engine, by=())
    assert totals["requests"].to_list() == [45]
    assert totals["errors"].to_list() == [5]
    assert totals["unpriced"].to_list() == [0]


def test_resent_batch_changes_nothing(db_engine: Engine) -> None:
    batch = rows_for(range(30))
    write_turns(db_engine, batch)
    before = stored_rollup(db_engine)
    again = write_turns(db_engine, batch)
    assert (again.inserted, again.duplicates) == (0, 30)
    assert stored_rollup(db_engine).equals(before)
    with db_engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(turns)).scalar() == 30


def test_overlapping_batch_counts_only_the_new_rows(db_engine: Engine) -> None:
    write_turns(db_engine, rows_for(range(20)))
    result = write_turns(db_engine, rows_for(range(10, 30)))
    assert result.inserted == 10
    assert_rollup_consistent(db_engine)
    assert rollup_frame(db_engine, by=())["requests"].to_list() == [30]


def test_a_key_repeated_inside_one_batch_is_stored_once(db_engine: Engine) -> None:
    result = write_turns(db_engine, rows_for([1, 1, 2, 1]))
    assert (result.received, result.inserted) == (4, 2)
    assert_rollup_consistent(db_engine)


def test_rows_round_trip_every_field(db_engine: Engine) -> None:
    turn = sample_turn(7, fallback_hops=("anthropic", "bedrock"), thinking=True, stream=True, propensity=0.25,
                       ttfb_ms=812.5, tool_result_error_ids=("toolu_x",), error_message="ünïcødé ✓",
                       cache_creation_1h_tokens=10, tool_count=12, estimated_input_tokens=50_000)
    pricing = Pricing(Decimal("1.234567891"), True, "p1", exact=False, note="tier guess")
    row = turn_row(turn, pricing, INGESTED_AT)
    write_turns(db_engine, [row])
    stored = turns_frame(db_engine).row(0, named=True)
    assert stored["trace_id"] == turn.trace_id.hex() and len(stored["trace_id"]) == 32
    assert stored["span_id"] == turn.span_id.hex() and len(stored["span_id"]) == 16
    assert stored["fallback_hops"] == ["anthropic", "bedrock"]
    assert stored["tool_result_error_ids"] == ["toolu_x"]
    assert stored["error_message"] == "ünïcødé ✓"
    assert stored["cost_usd"] == Decimal("1.234567891")
    assert (stored["priced"], stored["price_id"], stored["cost_exact"], stored["cost_note"]) == (
        True, "p1", False, "tier guess")
    for name in ("thinking", "stream", "propensity", "ttfb_ms", "cache_creation_1h_tokens", "tool_count",
                 "estimated_input_tokens", "start_ns", "end_ns", "input_tokens", "session_id"):
        assert stored[name] == getattr(turn, name), name
    assert stored["duration_ms"] == turn.duration_ms
    assert stored["ingested_at"] == INGESTED_AT


def test_unknown_dimensions_roll_up_under_null(db_engine: Engine) -> None:
    write_turns(db_engine, rows_for(range(3), developer=None, team=None, served_model=None,
                                    requested_model=None))
    frame = rollup_frame(db_engine, by=("developer", "model"))
    assert frame["developer"].to_list() == [None]
    assert frame["model"].to_list() == [None]
    with db_engine.connect() as connection:
        assert connection.execute(select(rollup_hourly.c.developer)).scalar() == ""


def test_concurrent_overlapping_writers_keep_the_rollup_exact(db_engine: Engine) -> None:
    batches = [rows_for(range(start, start + 60)) for start in range(0, 240, 20)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        inserted = sum(result.inserted for result in pool.map(lambda b: write_turns(db_engine, b), batches))
    assert inserted == 280
    assert rollup_frame(db_engine, by=())["requests"].to_list() == [280]
    assert_rollup_consistent(db_engine)
