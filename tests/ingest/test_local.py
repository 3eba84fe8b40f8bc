"""ingest.local: in-process writes take exactly the path an HTTP export takes (same rows, same
redaction, same pricing, same rejections), within the body limits, and nothing refused is lost
silently."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from core.policy.schema import Policy
from core.pricing import builtin_price_table
from core.spans import Turn, turns_to_request
from ingest.local import LocalIngest, RecordsRejectedError, fixed_clock
from ingest.pricer import Pricer
from ingest.settings import IngestSettings
from sim.fleet import run_fast
from sim.fleet_presets import segmented_fleet
from store.queries import logs_frame
from store.rows import turn_row
from store.schema import rollup_hourly, turns
from store.testing import empty_all_tables, sample_turn
from switchyard.demo import demo_policy
from tests.ingest.conftest import INGESTED_AT
from tests.ingest.otlp import post, trace_response

EVENT_NS = sample_turn(0).start_ns


def stored(engine: Engine, table: Any, order: Any) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(select(table).order_by(*order)).mappings().all()
    return [{key: value for key, value in row.items() if key != "id"} for row in rows]


def varied_turns() -> list[Turn]:
    return [
        sample_turn(0),
        sample_turn(1, error_type="overloaded_error", status_code=529, error_message="mail ops@example.com"),
        sample_turn(2, requested_model="claude-imaginary-9", served_model=None, propensity=0.1, thinking=False),
        sample_turn(3, fallback_hops=("primary:529", "secondary:200"), budget_state="soft", ttfb_ms=12.5),
        sample_turn(4, cache_creation_1h_tokens=400, tool_result_ids=("toolu_x",), tool_result_error_ids=("toolu_x",)),
    ]


def test_turns_are_stored_exactly_as_an_http_export_stores_them(client: httpx.Client, db_engine: Engine,
                                                                settings: IngestSettings) -> None:
    records = varied_turns()
    response = trace_response(post(client, "/v1/traces", turns_to_request(records).SerializeToString()))
    assert not response.HasField("partial_success")
    over_http = stored(db_engine, turns, [turns.c.span_id]), stored(db_engine, rollup_hourly, [rollup_hourly.c.model])
    empty_all_tables(db_engine)

    written = LocalIngest(db_engine, settings=settings, clock=fixed_clock(INGESTED_AT)).write_turns(records)
    assert (written.received, written.inserted, written.refused, written.requests) == (5, 5, (), 1)
    local = stored(db_engine, turns, [turns.c.span_id]), stored(db_engine, rollup_hourly, [rollup_hourly.c.model])
    assert local == over_http
    assert local[0][1]["error_message"] == "mail [REDACTED:email]"  # redacted, as ingest redacts
    assert local[0][2]["priced"] is False and local[0][2]["cost_note"]  # unknown model: flagged, not guessed


def test_a_resent_batch_is_stored_once(db_engine: Engine, settings: IngestSettings) -> None:
    writer = LocalIngest(db_engine, settings=settings, clock=fixed_clock(INGESTED_AT))
    events = [{"session_id": "s-1", "event_name": "claude_code.tool_result", "time_ns": EVENT_NS + i,
               "attributes": {"tool_name": "Bash", "success": "true"}} for i in range(3)]
    first = writer.write_turns([sample_turn(i) for i in range(4)]), writer.write_events(events)
    again = writer.write_turns([sample_turn(i) for i in range(4)]), writer.write_events(events)
    assert [w.inserted for w in first] == [4, 3]
    assert [(w.inserted, w.duplicates) for w in again] == [(0, 4), (0, 3)]
    assert len(stored(db_engine, turns, [turns.c.span_id])) == 4 and logs_frame(db_engine).height == 3


def test_events_are_stored_as_claude_codes_own_telemetry(db_engine: Engine, settings: IngestSettings) -> None:
    events = [
        {"session_id": "s-1", "event_name": "claude_code.tool_result", "time_ns": EVENT_NS + 2,
         "attributes": {"tool_name": "Edit", "success": "false", "error": "String to replace not found in file.",
                        "duration_ms": 12, "tool_use_id": "toolu_01abc"}},
        {"session_id": "s-1", "event_name": "claude_code.user_prompt", "time_ns": EVENT_NS + 1,
         "attributes": {"prompt_length": 40, "prompt": "key sk-ant-api03-abcdefghijklmnop please"}},
        {"session_id": None, "event_name": "acme.custom", "time_ns": EVENT_NS + 3, "attributes": {}},
    ]
    LocalIngest(db_engine, settings=settings, clock=fixed_clock(INGESTED_AT)).write_events(events)
    frame = logs_frame(db_engine).sort("time_ns")
    assert frame["event_name"].to_list() == ["claude_code.user_prompt", "claude_code.tool_result", "acme.custom"]
    assert frame["session_id"].to_list() == ["s-1", "s-1", None]
    assert frame["success"].to_list() == [None, False, None]
    assert frame["time_ns"].to_list() == [EVENT_NS + 1, EVENT_NS + 2, EVENT_NS + 3]
    prompt, tool = json.loads(frame["attributes"][0]), json.loads(frame["attributes"][1])
    assert prompt["prompt"] == "key [REDACTED:anthropic_key] please"
    assert tool | events[0]["attributes"] == tool  # every attribute kept as given
    assert (tool["service.name"], tool["event.name"], tool["session.id"]) == ("claude-code", "tool_result", "s-1")
    assert tool["event.timestamp"].endswith("Z")
    assert frame["ingested_at"].to_list() == [INGESTED_AT] * 3


def _backwards() -> Turn:
    turn = sample_turn(11)
    turn.end_ns = turn.start_ns - 1
    return turn


def test_refused_records_are_an_error_naming_each_and_why(db_engine: Engine, settings: IngestSettings) -> None:
    records = [sample_turn(10), _backwards(), sample_turn(12, error_message="a\x00b"),
               sample_turn(13, start_ns=-5), sample_turn(14)]
    writer = LocalIngest(db_engine, settings=settings, clock=fixed_clock(INGESTED_AT))
    with pytest.raises(RecordsRejectedError) as raised:
        writer.write_turns(records)
    message = str(raised.value)
    assert message.startswith("ingest rejected 3 of 5 turns (the other 2 were accepted)")
    assert records[1].span_id.hex() in message and "end time is before start time" in message
    assert records[2].span_id.hex() in message and "NUL" in message
    assert "cannot be encoded for export" in message
    assert [r.item.split()[1].split("/")[1] for r in raised.value.refused] == [
        records[i].span_id.hex() for i in (1, 2, 3)]
    assert {row["span_id"] for row in stored(db_engine, turns, [turns.c.span_id])} == {
        records[0].span_id.hex(), records[4].span_id.hex()}

    tolerant = LocalIngest(db_engine, settings=settings, clock=fixed_clock(INGESTED_AT), strict=False)
    written = tolerant.write_turns(records)
    assert (written.received, written.inserted, written.duplicates, len(written.refused)) == (5, 0, 2, 3)
    bad_events = [{"session_id": "s", "event_name": "claude_code.api_error", "time_ns": 0, "attributes": {}},
                  {"session_id": "s", "event_name": "claude_code.api_error", "time_ns": EVENT_NS,
                   "attributes": {"error": "x\x00y"}},
                  {"session_id": "s", "time_ns": EVENT_NS, "attributes": {}}]
    refused = tolerant.write_events(bad_events).refused
    assert [r.reason for r in refused][:2] == ["timestamp missing or out of range", "a string contains a NUL character"]
    assert "cannot be encoded for export" in refused[2].reason and logs_frame(db_engine).height == 0


def test_requests_stay_within_the_body_limits(db_engine: Engine) -> None:
    limited = IngestSettings(max_body_bytes=20_000, max_decompressed_bytes=64 * 2**20, max_span_bytes=4_000,
                             redact=True, require_gen_ai=True)
    writer = LocalIngest(db_engine, settings=limited, clock=fixed_clock(INGESTED_AT), strict=False)
    records = [sample_turn(i) for i in range(200)]
    written = writer.write_turns(records)
    assert written.inserted == 200 and written.requests >= len(turns_to_request(records).SerializeToString()) / 20_000
    large = writer.write_turns([sample_turn(300, error_message="x" * 10_000),
                                sample_turn(301, error_message="x" * 30_000), sample_turn(302)])
    reasons = [r.reason for r in large.refused]
    assert large.inserted == 1 and len(reasons) == 2
    assert "exceeds the per-item limit of 4000" in reasons[0]
    assert "exceeds the request body limit of 20000" in reasons[1]


def test_the_clock_stamps_the_rows(db_engine: Engine, settings: IngestSettings) -> None:
    moment = datetime(2025, 7, 1, 11, 30, tzinfo=UTC)
    LocalIngest(db_engine, settings=settings, clock=fixed_clock(moment.astimezone())).write_turns([sample_turn(0)])
    assert stored(db_engine, turns, [turns.c.span_id])[0]["ingested_at"] == datetime(2025, 7, 1, 11, 30)


def test_the_demo_fleet_survives_the_pipeline_unchanged(db_engine: Engine, settings: IngestSettings) -> None:
    """The simulated fleet's values pass redaction and the bounds untouched: every stored row is what
    the Turn record says, priced as ingest prices, and the logged propensities are ≥ 1e-4."""
    prices = builtin_price_table()
    policy = Policy.model_validate(demo_policy("http://127.0.0.1:9"))
    config = segmented_fleet(5, 60, policy, start=datetime(2026, 11, 2, tzinfo=UTC), days=2.0)
    now = datetime(2026, 11, 5)
    records: list[Turn] = []
    events: list[dict[str, Any]] = []
    writer = LocalIngest(db_engine, settings=settings, prices=prices, clock=fixed_clock(now))

    def sink(batch: Any, batch_events: Any) -> None:
        records.extend(batch)
        events.extend(batch_events)
        writer.write(batch, batch_events)

    run_fast(config, prices, sink)
    pricer = Pricer(prices)
    expected = sorted((turn_row(t, pricer.price(t), now) for t in records), key=lambda r: (r["trace_id"], r["span_id"]))
    rows = stored(db_engine, turns, [turns.c.trace_id, turns.c.span_id])
    assert len(rows) == len(expected) > 300
    for row, wanted in zip(rows, expected, strict=True):
        assert row == {key: value for key, value in wanted.items() if key in row}
    assert min(t.propensity for t in records if t.propensity is not None) >= 1e-4
    given = {(e["session_id"], e["time_ns"], e["event_name"]): e["attributes"] for e in events}
    frame = logs_frame(db_engine)
    assert frame.height == len(given) == len(events)
    for session, time_ns, name, attributes in frame.select("session_id", "time_ns", "event_name",
                                                           "attributes").iter_rows():
        original = given[(session, time_ns, name)]
        assert {key: value for key, value in json.loads(attributes).items() if key in original} == original
