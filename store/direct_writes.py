"""Write Turn records and Claude-Code-style telemetry events straight into the store, without the
OTLP hop: for simulated fleets (millions of turns in minutes), backfills and tests.

Turns are priced here with the same price table ingest uses, then go through the same idempotent
writer (so the hourly rollup stays right). Events are plain mappings shaped like what Claude Code
sends (``session_id``, ``event_name``, ``time_ns``, ``attributes``); their ``record_hash`` is a
hash of that content, so writing the same event twice stores it once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import Engine

from core.pricing import PriceEntry, PriceTable, Usage
from core.spans import Turn
from store.insert_ignore import insert_ignore
from store.rows import MAX_UNIX_NS, Pricing, ns_to_datetime, turn_problem, turn_row
from store.schema import logs
from store.writer import WriteResult, write_turns

NANO_DOLLAR = Decimal("1e-9")


class InvalidRecordError(ValueError):
    """A record that cannot be stored; the message says which and why."""


def _price_entry(table: PriceTable, model: str | None, day: date,
                 known: dict[tuple[str | None, date], PriceEntry | None]) -> PriceEntry | None:
    key = (model, day)
    if key not in known:
        known[key] = table.lookup(model, day) if model else None
    return known[key]


def priced_rows(turns: Iterable[Turn], prices: PriceTable, ingested_at: datetime) -> list[dict[str, Any]]:
    """Table rows for ``turns``, each priced at its own date (a batch repeats a few (model, day)
    pairs, so entries are looked up once per pair)."""
    known: dict[tuple[str | None, date], PriceEntry | None] = {}
    rows = []
    for turn in turns:
        problem = turn_problem(turn)
        if problem is not None:
            raise InvalidRecordError(f"turn {turn.trace_id.hex()}/{turn.span_id.hex()}: {problem}")
        model = turn.served_model or turn.requested_model
        entry = _price_entry(prices, model, datetime.fromtimestamp(turn.start_ns / 1e9, UTC).date(), known)
        if entry is None:
            pricing = Pricing(Decimal(0), priced=False, exact=False, note=f"no price for model {model!r}")
        else:
            usage = Usage(turn.input_tokens, turn.output_tokens, turn.cache_creation_tokens,
                          turn.cache_creation_1h_tokens, turn.cache_read_tokens)
            usd = entry.cost_of(usage).quantize(NANO_DOLLAR, rounding=ROUND_HALF_EVEN)
            pricing = Pricing(usd, priced=True, price_id=entry.id, exact=not entry.fallback)
        rows.append(turn_row(turn, pricing, ingested_at))
    return rows


def write_turn_records(engine: Engine, turns: Sequence[Turn], prices: PriceTable,
                       ingested_at: datetime | None = None) -> WriteResult:
    """Price and insert ``turns``; already stored (trace_id, span_id) pairs are skipped."""
    stamp = ingested_at or datetime.now(UTC).replace(tzinfo=None)
    return write_turns(engine, priced_rows(turns, prices, stamp))


def event_row(event: Mapping[str, Any], ingested_at: datetime) -> dict[str, Any]:
    """A logs-table row for one telemetry event mapping (see the module docstring)."""
    time_ns = int(event["time_ns"])
    if not 0 < time_ns <= MAX_UNIX_NS:
        raise InvalidRecordError(f"event time out of range: {time_ns}")
    attributes = dict(event.get("attributes") or {})
    session_id = event.get("session_id")
    if session_id is not None:
        attributes.setdefault("session.id", session_id)
    success = attributes.get("success")
    canonical = json.dumps(
        {"event": event["event_name"], "time_ns": time_ns, "attributes": attributes}, sort_keys=True, default=str
    )
    return {
        "record_hash": hashlib.sha256(canonical.encode()).hexdigest(),
        "session_id": session_id,
        "event_name": event["event_name"],
        "timestamp": ns_to_datetime(time_ns),
        "time_ns": time_ns,
        "severity": None,
        "body": event["event_name"],
        "success": None if success is None else str(success).lower() == "true",
        "trace_id": None,
        "span_id": None,
        "attributes": attributes,
        "ingested_at": ingested_at,
    }


def write_event_records(engine: Engine, events: Sequence[Mapping[str, Any]],
                        ingested_at: datetime | None = None) -> WriteResult:
    """Insert telemetry events; one already stored (same content) is skipped."""
    stamp = ingested_at or datetime.now(UTC).replace(tzinfo=None)
    first: dict[str, dict[str, Any]] = {}
    for event in events:
        row = event_row(event, stamp)
        first.setdefault(row["record_hash"], row)
    with engine.begin() as connection:
        inserted = insert_ignore(connection, logs, list(first.values()), conflict=("record_hash",), omit=("id",))
    return WriteResult(received=len(events), inserted=inserted)
