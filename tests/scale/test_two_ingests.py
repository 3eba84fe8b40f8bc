"""Two ingest processes on one PostgreSQL: started at the same moment on an empty schema (both
migrate it), then fed overlapping OTLP batches concurrently, the same batch to both at once
(redelivery), and everything again. Every turn is stored exactly once, the hourly rollups equal an
aggregate over the turns table, and the two ingests' own counts of new spans add up to the turns."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from sqlalchemy import Engine, case, func, select

from core.spans import turns_to_request
from store.engine import make_engine
from store.schema import ROLLUP_KEYS, ROLLUP_SUMS, rollup_hourly, turns
from store.testing import sample_turn
from switchyard.processes import Supervisor
from tests.gateway import INGEST_TOKEN
from tests.scale.services import counter, postgres_schema, start_ingests

pytestmark = pytest.mark.postgres

TURNS = 600
BATCH = 50
STEP = 25  # batches overlap by half: every turn is in two batches, sent to different ingests
HOUR_NS = 3600 * 10**9
# on the hour, five days ago: the turns must start inside ingest's retention window (real clock here)
BASE_NS = (time.time_ns() // HOUR_NS - 5 * 24) * HOUR_NS
SPACING_NS = 6 * 60 * 10**9  # one turn every 6 minutes: 600 turns over 60 hourly buckets


def _turn(index: int):  # type: ignore[no-untyped-def]
    start = BASE_NS + index * SPACING_NS
    return sample_turn(index, start_ns=start, end_ns=start + 900_000_000)


def _batches() -> list[bytes]:
    return [turns_to_request([_turn(i) for i in range(start, min(start + BATCH, TURNS))]).SerializeToString()
            for start in range(0, TURNS, STEP)]


def _size(body: bytes) -> int:
    return len(ExportTraceServiceRequest.FromString(body).resource_spans[0].scope_spans[0].spans)


def _deliver(deliveries: list[tuple[str, bytes]]) -> None:
    """Post every (ingest URL, batch) at the same moment; each must be accepted in full."""
    barrier = threading.Barrier(len(deliveries), timeout=20)

    def post(url: str, body: bytes) -> None:
        barrier.wait()
        response = httpx.post(url + "/v1/traces", content=body, timeout=30,
                              headers={"content-type": "application/x-protobuf",
                                       "authorization": f"Bearer {INGEST_TOKEN}"})
        assert response.status_code == 200, response.text
        answer = ExportTraceServiceResponse.FromString(response.content)
        assert answer.partial_success.rejected_spans == 0, answer.partial_success.error_message

    with ThreadPoolExecutor(len(deliveries)) as pool:
        for future in [pool.submit(post, url, body) for url, body in deliveries]:
            future.result()


def _stored(engine: Engine) -> tuple[int, int, set[str]]:
    """(rows, distinct (trace_id, span_id), span ids)."""
    with engine.connect() as connection:
        rows = connection.execute(select(func.count()).select_from(turns)).scalar_one()
        pairs = select(turns.c.trace_id, turns.c.span_id).distinct().subquery()
        distinct = connection.execute(select(func.count()).select_from(pairs)).scalar_one()
        span_ids = set(connection.execute(select(turns.c.span_id)).scalars())
    return rows, distinct, span_ids


def _rollups(engine: Engine) -> tuple[dict[tuple[object, ...], tuple[object, ...]], ...]:
    """(the rollup table, the same aggregate computed from the turns table), keyed alike."""
    model = func.coalesce(turns.c.served_model, turns.c.requested_model, "")
    keys = [func.date_trunc("hour", turns.c.started_at), func.coalesce(turns.c.developer, ""),
            func.coalesce(turns.c.team, ""), func.coalesce(turns.c.repo, ""), model,
            func.coalesce(turns.c.target, ""), func.coalesce(turns.c.rule, "")]
    aggregate = select(
        *keys, func.count(), func.sum(case((turns.c.ok, 0), else_=1)), func.sum(case((turns.c.priced, 0), else_=1)),
        *(func.sum(turns.c[name]) for name in ("input_tokens", "output_tokens", "cache_creation_tokens",
                                                "cache_read_tokens", "cost_usd")),
    ).group_by(*keys)
    table = select(*(rollup_hourly.c[name] for name in (*ROLLUP_KEYS, *ROLLUP_SUMS)))

    def keyed(rows: list[tuple[object, ...]]) -> dict[tuple[object, ...], tuple[object, ...]]:
        return {tuple(row[:7]): tuple(Decimal(str(v)) if i == 7 else int(v)  # type: ignore[call-overload]
                                      for i, v in enumerate(row[7:])) for row in rows}

    with engine.connect() as connection:
        return (keyed([tuple(r) for r in connection.execute(table)]),
                keyed([tuple(r) for r in connection.execute(aggregate)]))


def test_two_ingests_on_one_postgres_store_every_turn_exactly_once(tmp_path: Path) -> None:
    with postgres_schema(migrate=False) as database_url, Supervisor(tmp_path / "logs") as supervisor:
        # started at once on an empty schema: both run the migrations on start
        a, b = start_ingests(supervisor, database_url, tmp_path, 2)
        batches = _batches()
        # each batch to one ingest, alternating (neighbours overlap, so every turn reaches both);
        # every third batch to both at the same moment, as a proxy redelivering after a timeout would
        first = [(a if k % 2 == 0 else b, body) for k, body in enumerate(batches)]
        first += [(b if k % 2 == 0 else a, body) for k, body in enumerate(batches) if k % 3 == 0]
        random.Random(10).shuffle(first)
        _deliver(first)
        # everything again, to both: nothing new
        again = [(url, body) for body in batches for url in (a, b)]
        random.Random(11).shuffle(again)
        _deliver(again)

        engine = make_engine(database_url)
        try:
            rows, distinct, span_ids = _stored(engine)
            assert (rows, distinct) == (TURNS, TURNS)
            assert span_ids == {_turn(i).span_id.hex() for i in range(TURNS)}
            table, aggregate = _rollups(engine)
        finally:
            engine.dispose()
        assert len(table) >= 60  # the turns spread over 60 hours and several developers and teams
        assert table == aggregate
        assert sum(values[0] for values in table.values()) == TURNS

        accepted = [counter(url, "switchyard_ingest_items_accepted", signal="traces") for url in (a, b)]
        duplicates = [counter(url, "switchyard_ingest_items_duplicate", signal="traces") for url in (a, b)]
        assert sum(accepted) == sum(_size(body) for _, body in first + again)
        assert sum(accepted) - sum(duplicates) == TURNS  # each ingest counted only the rows it inserted as new
        assert not supervisor.dead()
