"""Span export: finished turns leave the journal for ingest in OTLP/HTTP protobuf batches.

Nothing here is on the hot path: the journal's writer thread hands over turns once they are
durable, and this task posts them. What ingest answers decides what happens to a batch:

- 2xx: delivered, acked in the journal. Spans ingest rejected inside it (``partial_success``) are
  found by their index in its message and go to the dead letters; when the message does not name
  them all, the batch is split and sent again (the stored part is a harmless duplicate: ingest
  stores each (trace_id, span_id) once) until each rejected span is alone.
- 413 and other 4xx about the content: the batch is split in halves until the span ingest refuses
  is alone; that one goes to the dead letters (a file, a log line naming the turn, a counter). The
  rest flows on: one poison span never holds up the turns behind it.
- 5xx: the batch waits (backoff) and is split too, so a span that makes ingest fail is isolated;
  the batches behind it are sent meanwhile.
- no answer, 401/403 (a credential problem), 404/405 (a wrong endpoint), 408, 429: not the batch's
  fault; it waits with backoff, and so does the whole export while failures continue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import deque
from dataclasses import dataclass

import httpx
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from .dead_letters import DeadLetters
from .journal import Journal
from .journal_records import Pending
from .otlp_envelope import Envelope
from .stats import ExportStats, worth_logging

log = logging.getLogger("switchyard.proxy.exporter")

_MAX_BACKOFF_S = 30.0
# An export request stays well below ingest's default 32 MiB body limit (a 413 would split it anyway).
_MAX_BATCH_BYTES = 8 * 1024 * 1024
# Statuses that say nothing about the batch's content: retried as they are, never dead-lettered.
_NOT_THE_BATCH = frozenset({401, 403, 404, 405, 408, 429})
# "#3 (span 00f0…): reason" in ingest's partial_success message (ingest/pipeline.py: summarise)
_REJECTION = re.compile(r"#(\d+)(?: \(span [0-9a-f]*\))?: (.*?)(?=; #\d+|; and \d+ more$|$)")
_SETTLE_S = 2.0


@dataclass(slots=True)
class _Lot:
    """Turns sent together; after a failure they wait together until ``retry_at``."""

    items: list[Pending]
    attempts: int = 0
    retry_at: float = 0.0
    not_its_fault: bool = False  # the last failure was ingest unreachable / a credential problem


class SpanExporter:
    def __init__(self, endpoint: str, journal: Journal, *, dead_letters: DeadLetters | None = None,
                 batch_size: int = 512, interval_s: float = 1.0, timeout_s: float = 5.0,
                 token: str | None = None, transport: httpx.AsyncBaseTransport | None = None,
                 version: str = "") -> None:
        self.endpoint = endpoint
        self.journal = journal
        self.stats: ExportStats = journal.stats
        self.dead_letters = dead_letters or DeadLetters(None, 0, self.stats)
        self._batch_size = batch_size
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._transport = transport
        self._envelope = Envelope(version=version)
        self._headers = {"content-type": "application/x-protobuf"}
        if token:
            self._headers["authorization"] = f"Bearer {token}"
        self._new: deque[Pending] = deque()
        self._waiting: list[_Lot] = []
        self._wake = asyncio.Event()
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._streak = 0
        self._pause_until = 0.0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()

        def notify() -> None:  # from the journal's thread, once per flush with finished turns in it
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(self._maybe_wake)

        await asyncio.to_thread(self.journal.start, notify)
        self._client = httpx.AsyncClient(transport=self._transport, timeout=self._timeout_s)
        self._task = asyncio.create_task(self._run(), name="switchyard-span-export")
        self._wake.set()  # what the journal replayed goes out now

    def _maybe_wake(self) -> None:
        # Full batches go at once; a partial one waits for the interval (fewer, larger requests).
        if len(self._new) + self.journal.fresh_count >= self._batch_size:
            self._wake.set()

    async def close(self) -> None:
        """Send what is ready once more, then write the journal's last records and stop. Whatever
        ingest has not taken stays in the journal for the next start."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        await asyncio.to_thread(self.journal.close)
        if self._client is not None:
            await self._client.aclose()

    @property
    def pending(self) -> int:
        return self.journal.pending

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._next_wait())
            self._wake.clear()
            if self._closing:
                await self._settle()
            self._new.extend(self.journal.take_fresh())
            try:
                await self._pump(final=self._closing)
            except Exception:  # a boundary: the export must outlive any one surprise
                log.exception("span export failed unexpectedly; retrying")
            if self._closing:
                return

    def _next_wait(self) -> float:
        now = time.monotonic()
        wait = min([self._interval_s] + [lot.retry_at - now for lot in self._waiting])
        if self._pause_until > now:  # nothing is sent before the pause ends anyway
            wait = max(wait, self._pause_until - now)
        return max(0.01, wait)

    async def _settle(self) -> None:
        """At close: let the journal's writer make the last turns durable and hand them over."""
        self.journal.flush_now()
        deadline = time.monotonic() + _SETTLE_S
        while self.journal.backlog and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.02)

    async def _pump(self, *, final: bool) -> None:
        now = time.monotonic()
        if now < self._pause_until and not final:
            return
        due = [lot for lot in self._waiting if lot.retry_at <= now or final]
        self._waiting = [lot for lot in self._waiting if lot not in due]
        # Turns never tried go first: a lot that failed before (maybe one that makes ingest fail)
        # never stands in front of them. The first failure ends the round (ingest is away or
        # failing: the pause that follows spares it), at close too: what is left stays journaled.
        while due or self._new:
            lot = self._take_lot() if self._new else due.pop(0)
            if not await self._send(lot):
                self._waiting.extend(due)
                return

    def _take_lot(self) -> _Lot:
        items: list[Pending] = []
        size = 0
        while self._new and len(items) < self._batch_size:
            if items and size + self._new[0].size > _MAX_BATCH_BYTES:
                break
            item = self._new.popleft()
            items.append(item)
            size += item.size
        return _Lot(items)

    async def _send(self, lot: _Lot) -> bool:
        """Post one lot and act on the answer; False when ingest could not be reached or failed."""
        if any(item.data is None for item in lot.items):  # some wait on disk only: read them off the loop
            items, spans = await asyncio.to_thread(self._spans_of, lot.items)
        else:
            items, spans = self._spans_of(lot.items)
        if not items:
            return True
        lot.items = items
        assert self._client is not None
        try:
            response = await self._client.post(self.endpoint, content=self._envelope.request(spans),
                                               headers=self._headers)
        except httpx.HTTPError as error:
            self._wait(lot, f"{type(error).__name__} from {self.endpoint}", not_its_fault=True)
            return False
        status = response.status_code
        if 200 <= status < 300:
            await self._delivered(lot, spans, response.content)
            return True
        reason = f"HTTP {status}: {response.text[:500]}"
        if status >= 500:
            self._wait(lot, reason, split=True)
            return False
        if status in _NOT_THE_BATCH or status < 400:
            if status in (401, 403):
                log.error("ingest refused this proxy's credential (HTTP %d): check SWITCHYARD_OTLP_TOKEN "
                          "against ingest's SWITCHYARD_INGEST_TOKENS", status)
            self._wait(lot, reason, not_its_fault=True)
            return False
        # 4xx about the content (400, 413, 415, 422, …): isolate what ingest refuses.
        self._succeeded()
        if len(items) > 1:
            self._split_now(lot)
        else:
            await self._dead_letter([(items[0], spans[0], reason)])
        return True

    def _spans_of(self, items: list[Pending]) -> tuple[list[Pending], list[bytes]]:
        """The lot's turns still to be delivered and their spans (read from disk when not in memory;
        a turn the journal dropped when full is skipped — it was counted there)."""
        kept, spans = [], []
        for item in items:
            if not self.journal.live(item.seq):
                continue
            data = item.data if item.data is not None else self.journal.read(item)
            if data is not None:
                kept.append(item)
                spans.append(data)
        return kept, spans

    async def _delivered(self, lot: _Lot, spans: list[bytes], body: bytes) -> None:
        self._succeeded()
        rejected, reasons = _rejections(body)
        refused = [(lot.items[i], spans[i], reason) for i, reason in reasons.items() if i < len(lot.items)]
        if rejected and len(refused) < rejected:  # the message did not name them all
            if len(lot.items) == 1:
                refused = [(lot.items[0], spans[0], _message(body))]
            else:
                await self._dead_letter(refused)
                named = {id(item) for item, _, _ in refused}
                lot.items = [item for item in lot.items if id(item) not in named]
                self._split_now(lot)
                return
        await self._dead_letter(refused)
        named = {id(item) for item, _, _ in refused}
        accepted = [item for item in lot.items if id(item) not in named]
        self.stats.exported += len(accepted)
        self.stats.redelivered += sum(1 for item in accepted if item.attempts)
        self.journal.ack([item.seq for item in accepted])

    async def _dead_letter(self, refused: list[tuple[Pending, bytes, str]]) -> None:
        if not refused:
            return

        def keep() -> None:
            for item, span, reason in refused:
                self.dead_letters.put(item.seq, item.label, self._envelope.request([span]), reason)

        await asyncio.to_thread(keep)
        self.journal.ack([item.seq for item, _, _ in refused])

    def _succeeded(self) -> None:
        """Ingest answered: end the pause, and what waited only because ingest was away goes now."""
        self._streak = 0
        self._pause_until = 0.0
        now = time.monotonic()
        for lot in self._waiting:
            if lot.not_its_fault:
                lot.retry_at = min(lot.retry_at, now)

    def _split_now(self, lot: _Lot) -> None:
        half = len(lot.items) // 2
        for part in (lot.items[:half], lot.items[half:]):
            if part:
                self._waiting.append(_Lot(part, lot.attempts, 0.0, lot.not_its_fault))

    def _wait(self, lot: _Lot, reason: str, *, split: bool = False, not_its_fault: bool = False) -> None:
        """A failed attempt: the lot (split in halves on a 5xx) waits with its own backoff, and the
        whole export pauses while failures go on (each success ends the pause)."""
        self.stats.failed_batches += 1
        self._streak += 1
        now = time.monotonic()
        pause = min(self._interval_s * 2 ** (self._streak - 1), _MAX_BACKOFF_S)
        self._pause_until = now + pause
        attempts = lot.attempts + 1
        backoff = min(self._interval_s * 2 ** (attempts - 1), _MAX_BACKOFF_S)
        for item in lot.items:
            item.attempts += 1
        half = len(lot.items) // 2 if split and len(lot.items) > 1 else 0
        parts = [lot.items[:half], lot.items[half:]] if half else [lot.items]
        for part in parts:
            self._waiting.append(_Lot(part, attempts, now + backoff, not_its_fault))
        if worth_logging(self.stats.failed_batches):
            log.warning("span export failed (%s); %d turns wait in the journal, retrying in %.1f s",
                        reason[:300], self.journal.pending, pause)


def _rejections(body: bytes) -> tuple[int, dict[int, str]]:
    """(how many spans ingest rejected, index -> reason for those its message names)."""
    try:
        response = ExportTraceServiceResponse.FromString(body)
    except DecodeError:
        return 0, {}
    rejected = response.partial_success.rejected_spans
    if not rejected:
        return 0, {}
    reasons = {int(m.group(1)): m.group(2) for m in _REJECTION.finditer(response.partial_success.error_message)}
    return rejected, reasons


def _message(body: bytes) -> str:
    try:
        return ExportTraceServiceResponse.FromString(body).partial_success.error_message or "rejected"
    except DecodeError:
        return "rejected"
