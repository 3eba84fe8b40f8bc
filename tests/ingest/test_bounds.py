"""The bounds ingest puts on a turn (time window, closed months, duration, identity lengths, token
counts, propensity), each violation rejected alone with its reason while the rest of the batch
lands — and a row the database itself refuses costs only that row, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, timedelta
from typing import Any

import httpx
import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import IntegrityError

from core.pricing import builtin_price_table
from core.spans import GEN_AI_USAGE_INPUT_TOKENS, turns_to_request
from ingest.app import create_app
from ingest.decode import Rejection
from ingest.metrics import IngestMetrics
from ingest.pipeline import Ingestor
from ingest.pricer import Pricer
from ingest.settings import IngestSettings
from ingest.spans_pipeline import PreparedSpans
from ingest.wire import build_wire_classes
from store.engine import make_engine
from store.errors import ConflictError, NotFoundError
from store.months import close_month, list_closed_months, reopen_month
from store.queries import turns_frame
from store.testing import sample_turn
from store.writer import WriteResult
from tests.ingest.conftest import INGEST_TOKENS, INGESTED_AT, PROXY_AUTH
from tests.ingest.otlp import post, trace_response
from tests.loopback import serve_in_thread

NOW_NS = int(INGESTED_AT.replace(tzinfo=UTC).timestamp()) * 10**9
HOUR_NS = 3600 * 10**9
DAY_NS = 24 * HOUR_NS


def recent(index: int, **overrides: Any) -> Any:
    """A turn an hour before the app's "now" (ids from ``index``)."""
    start = overrides.pop("start_ns", NOW_NS - HOUR_NS + index * 10**6)
    return sample_turn(index, start_ns=start, end_ns=overrides.pop("end_ns", start + 10**9), **overrides)


def span_of(turn: Any) -> Span:
    return turns_to_request([turn]).resource_spans[0].scope_spans[0].spans[0]


def _bad_turns() -> dict[str, tuple[Any, str]]:
    return {
        "starts in 2200": (recent(100, start_ns=7_258_118_400 * 10**9), "in the future"),
        "10 minutes ahead": (recent(101, start_ns=NOW_NS + 600 * 10**9), "in the future"),
        "back-dated 100 days": (recent(102, start_ns=NOW_NS - 100 * DAY_NS), "retention window"),
        "a 235-year turn": (recent(103, start_ns=NOW_NS - HOUR_NS, end_ns=NOW_NS + 235 * 365 * DAY_NS),
                            "lasts longer than 86400"),
        "a 900 KB developer": (recent(104, developer="d" * 900_000), "developer is longer than 256"),
        "a 3 000-character developer": (recent(105, developer="é" * 3000), "developer is longer than 256"),
        "a 300-character session": (recent(106, session_id="s" * 300), "session_id is longer than 256"),
        "a long model id": (recent(107, served_model="m" * 257), "served_model is longer than 256"),
        "a long tool id": (recent(108, tool_use_ids=("t" * 257,)), "an item of tool_use_ids"),
        "10^9 / 2 output tokens": (recent(109, output_tokens=5 * 10**8), "output_tokens 500000000 is outside"),
        "3 M cache reads": (recent(110, cache_read_tokens=3_000_000), "cache_read_tokens 3000000 is outside"),
        "propensity -5": (recent(111, propensity=-5.0), "propensity -5.0 is outside"),
        "propensity 1e-12": (recent(112, propensity=1e-12), "propensity 1e-12 is outside"),
        "propensity 1.5": (recent(113, propensity=1.5), "propensity 1.5 is outside"),
    }


@pytest.mark.parametrize("case", sorted(_bad_turns()))
def test_a_turn_outside_the_bounds_is_rejected_alone(client: httpx.Client, db_engine: Engine, case: str) -> None:
    bad, reason = _bad_turns()[case]
    request = turns_to_request([recent(i) for i in range(4)])
    request.resource_spans[0].scope_spans[0].spans.insert(1, span_of(bad))
    response = trace_response(post(client, "/v1/traces", request.SerializeToString()))
    assert response.partial_success.rejected_spans == 1
    assert "rejected 1 of 5 spans: #1" in response.partial_success.error_message
    assert reason in response.partial_success.error_message
    assert turns_frame(db_engine).height == 4


def test_values_at_the_bounds_are_stored(client: httpx.Client, db_engine: Engine) -> None:
    edge = [recent(0, start_ns=NOW_NS - 89 * DAY_NS), recent(1, start_ns=NOW_NS + 290 * 10**9),
            recent(2, developer="d" * 256, output_tokens=2_000_000, propensity=1e-4), recent(3, propensity=1.0)]
    response = trace_response(post(client, "/v1/traces", turns_to_request(edge).SerializeToString()))
    assert response.partial_success.rejected_spans == 0, response.partial_success.error_message
    assert turns_frame(db_engine).height == 4


def _total(span: Span, total: int) -> Span:
    """The span as another instrumentation sends it: only the gen_ai total, no uncached part."""
    kept = [kv for kv in span.attributes if kv.key not in (GEN_AI_USAGE_INPUT_TOKENS,
                                                            "switchyard.usage.uncached_input_tokens")]
    del span.attributes[:]
    span.attributes.extend([*kept, KeyValue(key=GEN_AI_USAGE_INPUT_TOKENS, value=AnyValue(int_value=total))])
    return span


@pytest.mark.parametrize(("total", "reason"), [(-10, "must not be negative"), (10, "less than its cache parts")])
def test_an_input_total_that_cannot_be_right_is_rejected_never_clamped(client: httpx.Client, db_engine: Engine,
                                                                       total: int, reason: str) -> None:
    request = turns_to_request([recent(0)])
    request.resource_spans[0].scope_spans[0].spans.append(_total(span_of(recent(1)), total))
    response = trace_response(post(client, "/v1/traces", request.SerializeToString()))
    assert response.partial_success.rejected_spans == 1
    assert reason in response.partial_success.error_message
    assert turns_frame(db_engine).height == 1


@pytest.fixture
def fresh_lookups(db_url: str, db_engine: Engine) -> Iterator[str]:
    """Ingest re-reading the closed months on every request (the default is every 5 s)."""
    settings = IngestSettings(database_url=db_url, ingest_tokens=INGEST_TOKENS, lookup_refresh_s=0.001)
    engine = make_engine(db_url)
    with serve_in_thread(create_app(settings, engine, clock=lambda: INGESTED_AT)) as url:
        yield url
    engine.dispose()


def test_a_closed_month_takes_no_more_turns_until_an_admin_reopens_it(fresh_lookups: str,
                                                                      db_engine: Engine) -> None:
    june = recent(0, start_ns=NOW_NS - 2 * DAY_NS)  # 2025-06-29: June has ended at the app's "now"
    july = recent(1)  # 2025-07-01, the current month
    close_month(db_engine, "2025-06", actor="finance", now=INGESTED_AT)
    body = turns_to_request([june, july]).SerializeToString()
    with httpx.Client(base_url=fresh_lookups, headers=PROXY_AUTH, timeout=10) as http:
        response = trace_response(post(http, "/v1/traces", body))
        assert response.partial_success.rejected_spans == 1
        assert "2025-06, a month closed for chargeback" in response.partial_success.error_message
        assert turns_frame(db_engine).height == 1
        reopen_month(db_engine, "2025-06", actor="admin", reason="late spans from a restored proxy", now=INGESTED_AT)
        assert trace_response(post(http, "/v1/traces", body)).partial_success.rejected_spans == 0
    assert turns_frame(db_engine).height == 2


def test_only_a_month_that_has_ended_can_be_closed_and_only_a_closed_one_reopened(db_engine: Engine) -> None:
    with pytest.raises(ConflictError, match="has not ended"):
        close_month(db_engine, "2025-07", actor="finance", now=INGESTED_AT)
    with pytest.raises(ValueError, match="not a month"):
        close_month(db_engine, "2025-13", actor="finance", now=INGESTED_AT)
    with pytest.raises(NotFoundError):
        reopen_month(db_engine, "2025-05", actor="admin", reason="x", now=INGESTED_AT)
    first = close_month(db_engine, "2025-05", actor="finance", now=INGESTED_AT)
    again = close_month(db_engine, "2025-05", actor="someone-else", now=INGESTED_AT + timedelta(days=1))
    assert again == first  # closing twice changes nothing
    assert [m.month for m in list_closed_months(db_engine)] == ["2025-05"]


@pytest.mark.postgres
def test_a_value_postgresql_cannot_index_costs_only_its_row(postgres_url: str) -> None:
    """With the identity limit raised to 4 096 characters, a developer name of incompressible text
    passes the bounds but is too large for PostgreSQL's btree index on developer: the database
    refuses that one row, the batch is split until it is found, the other rows land."""
    import random

    from store.testing import empty_all_tables
    engine = make_engine(postgres_url)
    empty_all_tables(engine)
    settings = IngestSettings(database_url=postgres_url, ingest_tokens=INGEST_TOKENS, max_identity_chars=4096)
    rng = random.Random(7)
    unindexable = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(4000))
    turns = [recent(i) for i in range(7)]
    turns.insert(5, recent(50, developer=unindexable))
    try:
        with serve_in_thread(create_app(settings, engine, clock=lambda: INGESTED_AT)) as url, \
                httpx.Client(base_url=url, headers=PROXY_AUTH, timeout=30) as http:
            response = post(http, "/v1/traces", turns_to_request(turns).SerializeToString())
            answer = trace_response(response)
        assert answer.partial_success.rejected_spans == 1
        assert "#5" in answer.partial_success.error_message
        assert "the store refused it" in answer.partial_success.error_message
        assert turns_frame(engine).height == 7
    finally:
        empty_all_tables(engine)
        engine.dispose()


def test_a_refused_row_is_isolated_by_splitting_the_batch(tmp_path: Any) -> None:
    """The isolation itself, with a writer that refuses rows 3 and 6 the way a database does (an
    IntegrityError for the statement holding them): every other row is written once."""
    written: list[int] = []

    def write(_engine: Engine, rows: list[dict[str, Any]]) -> WriteResult:
        if any(row["n"] in (3, 6) for row in rows):
            raise IntegrityError("INSERT …", {}, Exception(f"row {[r['n'] for r in rows]} violates a constraint"))
        written.extend(row["n"] for row in rows)
        return WriteResult(received=len(rows), inserted=len(rows))

    engine = create_engine(f"sqlite:///{tmp_path / 'unused.db'}")
    ingestor = Ingestor(IngestSettings(), engine, Pricer(builtin_price_table()), build_wire_classes(),
                        IngestMetrics.create(), lambda: INGESTED_AT)
    prepared = PreparedSpans(rows=[{"n": n} for n in range(10)], indexes=list(range(100, 110)),
                             rejections=[Rejection(99, "decoded badly")])
    result = ingestor._write(write, prepared)
    assert sorted(written) == [0, 1, 2, 4, 5, 7, 8, 9]
    assert result == WriteResult(received=8, inserted=8)
    assert [r.index for r in prepared.rejections] == [99, 103, 106]
    assert all("the store refused it" in r.reason for r in prepared.rejections[1:])
    engine.dispose()


@pytest.mark.parametrize("offset_ns", [200 * 365 * DAY_NS, -100 * DAY_NS], ids=["year-2225", "100-days-ago"])
def test_a_telemetry_event_outside_the_window_is_rejected_alone(client: httpx.Client, db_engine: Engine,
                                                                offset_ns: int) -> None:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

    from store.queries import logs_frame
    from tests.ingest.test_logs import event, logs_request

    records = [event("tool_result", "s-1", 0, success="true"), event("tool_result", "s-1", 1, success="true")]
    records[1].time_unix_nano = NOW_NS + offset_ns
    records[0].time_unix_nano = NOW_NS - HOUR_NS
    response = post(client, "/v1/logs", logs_request(records).SerializeToString())
    answer = ExportLogsServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_log_records == 1
    assert "outside the retention window or in the future" in answer.partial_success.error_message
    assert logs_frame(db_engine).height == 1
