"""In-process writes through ingest's own pipeline, for the demo's history, the simulated fleet's
FAST mode, backfills and tests: Turn records and Claude Code telemetry events are encoded as the OTLP
export requests a real client sends and handed to :class:`ingest.pipeline.Ingestor`, so they are
stored exactly as real traffic is (decode → Turn → bounds → redact → price → write).

Turns are encoded with the proxy's own encoder (``core.spans.turns_to_request``). Events are the
mappings the simulated fleet produces::

    {"session_id": "…", "event_name": "claude_code.tool_result", "time_ns": 1_790_000_000_000_000_000,
     "attributes": {"tool_name": "Edit", "success": "false", "error": "…"}}

sent as log records shaped like Claude Code's own telemetry (resource ``service.name=claude-code``,
body the full event name, attributes ``event.name`` without the ``claude_code.`` prefix,
``event.timestamp`` and ``session.id`` next to the event's own).

Anything the pipeline rejects is an error (:class:`RecordsRejectedError`, naming each item and the
reason) unless the writer was built with ``strict=False``; then it is returned in :class:`Written`.
The valid rest of a batch is stored either way, as it would be over HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from sqlalchemy import Engine

from core.pricing import PriceTable, builtin_price_table
from core.spans import SERVICE_NAME, Turn, set_value, turns_to_request
from ingest.body import Encoding
from ingest.logs_pipeline import CLAUDE_CODE_PREFIX, CLAUDE_CODE_SERVICE, EVENT_NAME, SESSION_ID
from ingest.metrics import IngestMetrics
from ingest.pipeline import Exported, Ingestor
from ingest.pricer import Pricer
from ingest.settings import IngestSettings
from ingest.wire import build_wire_classes

Event = Mapping[str, Any]
EVENT_TIMESTAMP = "event.timestamp"
EVENTS_SCOPE = "com.anthropic.claude_code.events"
# Items per export request: one transaction each; from 1 000 to 20 000 the rate hardly changes
# (bench/write_path.py). A request still over the body limits is split in two until it fits.
BATCH_ITEMS = 5_000
# How many rejected items the error message lists before "and N more" (all are on the exception).
LISTED = 10


@dataclass(frozen=True, slots=True)
class Refused:
    item: str  # which record, in words: "turn <trace>/<span> (session …)", "event … at <ns> (session …)"
    reason: str


@dataclass(frozen=True, slots=True)
class Written:
    received: int
    inserted: int  # new rows; the rest of the accepted items were already stored
    refused: tuple[Refused, ...] = ()
    requests: int = 0  # export requests it took (each within the body limits)

    @property
    def duplicates(self) -> int:
        return self.received - len(self.refused) - self.inserted


class RecordsRejectedError(ValueError):
    """Ingest refused some records; ``refused`` lists every one with its reason."""

    def __init__(self, noun: str, written: Written) -> None:
        self.refused = written.refused
        listed = "; ".join(f"{r.item}: {r.reason}" for r in written.refused[:LISTED])
        more = len(written.refused) - LISTED
        stored = written.received - len(written.refused)
        super().__init__(f"ingest rejected {len(written.refused)} of {written.received} {noun} (the other {stored} "
                         f"were accepted): {listed}" + (f"; and {more} more" if more > 0 else ""))


def utc_naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo is not None else moment


def fixed_clock(moment: datetime) -> Callable[[], datetime]:
    """A clock stopped at ``moment`` (naive is UTC): the "now" a writer of simulated history ingests
    at, so the history stays inside ingest's time bounds whenever the code runs."""
    stopped = utc_naive(moment)
    return lambda: stopped


def _real_clock() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class LocalIngest:
    """Writes records into ``engine`` (already migrated) through ingest's pipeline.

    ``settings`` default to what ingest itself would read from this process's ``SWITCHYARD_*``
    environment; ``prices`` to the built-in table; ``clock`` (naive UTC) to the real time: it is both
    the ``ingested_at`` of every row and the "now" the time bounds are checked against."""

    def __init__(self, engine: Engine, *, settings: IngestSettings | None = None, prices: PriceTable | None = None,
                 clock: Callable[[], datetime] | None = None, strict: bool = True) -> None:
        self.settings = settings or IngestSettings()
        self.strict = strict
        self._limit = min(self.settings.max_body_bytes, self.settings.max_decompressed_bytes)
        self._ingestor = Ingestor(self.settings, engine, Pricer(prices or builtin_price_table()),
                                  build_wire_classes(), IngestMetrics.create(), clock or _real_clock)

    def write(self, turns: Sequence[Turn], events: Sequence[Event]) -> None:
        """Both kinds at once: a ``sim.fleet.run_fast`` sink."""
        self.write_turns(turns)
        self.write_events(events)

    def write_turns(self, turns: Iterable[Turn]) -> Written:
        items = list(turns)
        return self._send(items, "turns", _encode_turns, self._ingestor.export_traces, _turn_label)

    def write_events(self, events: Iterable[Event]) -> Written:
        items = list(events)
        return self._send(items, "events", _encode_events, self._ingestor.export_logs, _event_label)

    def _send(self, items: list[Any], noun: str, encode: Callable[[list[Any]], bytes],
              export: Callable[[bytes, Encoding, str | None], Exported], label: Callable[[Any], str]) -> Written:
        inserted, requests, refused = 0, 0, []
        for start in range(0, len(items), BATCH_ITEMS):
            pending = [items[start:start + BATCH_ITEMS]]
            while pending:
                chunk = pending.pop()
                try:
                    payload = encode(chunk)
                    problem = None if len(payload) <= self._limit else \
                        f"encoded size {len(payload)} bytes exceeds the request body limit of {self._limit}"
                except (KeyError, TypeError, ValueError) as error:
                    problem = f"cannot be encoded for export: {error}"
                if problem is not None:  # split until the one item with the problem is found
                    middle = len(chunk) // 2
                    if middle == 0:
                        refused.append(Refused(label(chunk[0]), problem))
                    else:
                        pending += [chunk[middle:], chunk[:middle]]  # the first half is popped first
                    continue
                exported = export(payload, Encoding.PROTOBUF, None)
                requests += 1
                inserted += exported.written.inserted
                refused += [Refused(label(chunk[r.index]), r.reason) for r in exported.rejections]
        written = Written(len(items), inserted, tuple(refused), requests)
        if refused and self.strict:
            raise RecordsRejectedError(noun, written)
        return written


def _encode_turns(turns: list[Turn]) -> bytes:
    return bytes(turns_to_request(turns).SerializeToString())


def _hex(value: object) -> str:
    return value.hex() if isinstance(value, bytes) else repr(value)


def _turn_label(turn: Turn) -> str:
    return f"turn {_hex(turn.trace_id)}/{_hex(turn.span_id)} (session {turn.session_id}, developer {turn.developer})"


def _event_label(event: Event) -> str:
    return f"event {event.get('event_name')} at {event.get('time_ns')} (session {event.get('session_id')})"


def _attribute(record: LogRecord, key: str, value: object) -> None:
    attribute = record.attributes.add()
    attribute.key = key
    set_value(attribute.value, value)


def fill_event(record: LogRecord, event: Event) -> None:
    """Write one event mapping into an (empty) log record, as Claude Code would send it."""
    name = str(event["event_name"])
    time_ns = int(event["time_ns"])
    record.time_unix_nano = time_ns
    record.observed_time_unix_nano = time_ns
    record.body.string_value = name
    if name.startswith(CLAUDE_CODE_PREFIX):
        _attribute(record, EVENT_NAME, name.removeprefix(CLAUDE_CODE_PREFIX))
    else:  # not one of Claude Code's: the OTLP field for event names keeps it exactly as given
        record.event_name = name
    attributes = event.get("attributes") or {}
    session_id = event.get("session_id")
    if session_id is not None and SESSION_ID not in attributes:
        _attribute(record, SESSION_ID, session_id)
    if 0 < time_ns < 2**63 and EVENT_TIMESTAMP not in attributes:
        stamp = datetime.fromtimestamp(time_ns // 1_000_000 / 1000, UTC)
        _attribute(record, EVENT_TIMESTAMP, stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"))
    for key, value in attributes.items():
        _attribute(record, str(key), value)


def _encode_events(events: list[Event]) -> bytes:
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.CopyFrom(
        Resource(attributes=[KeyValue(key=SERVICE_NAME, value=AnyValue(string_value=CLAUDE_CODE_SERVICE))]))
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.CopyFrom(InstrumentationScope(name=EVENTS_SCOPE))
    for event in events:
        fill_event(scope_logs.log_records.add(), event)
    return bytes(request.SerializeToString())
