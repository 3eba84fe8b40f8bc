"""Span export: turns go into a bounded buffer and leave in OTLP/HTTP protobuf batches.

``submit`` is called on the hot path and only appends to a list; the client never waits for
telemetry. A background task posts batches to ingest with httpx. When ingest does not take a batch,
the batch goes to the disk spool (if configured) and the exporter backs off; once ingest answers
again the spool is drained oldest first, then fresh batches flow again. Every turn that cannot be
kept — buffer full, spool full, no spool — is counted and logged, never silently lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

import httpx

from core.spans import Turn, turns_to_request

from .spool import DiskSpool

log = logging.getLogger("switchyard.proxy.exporter")

_MAX_BACKOFF_S = 30.0


@dataclass(slots=True)
class ExportStats:
    submitted: int = 0
    exported: int = 0
    spooled: int = 0
    redelivered: int = 0
    dropped_queue_full: int = 0
    dropped_export_failed: int = 0
    dropped_spool_full: int = 0
    failed_batches: int = 0


def _worth_logging(count: int) -> bool:
    return count in (1, 10, 100) or count % 1000 == 0


class SpanExporter:
    def __init__(
        self,
        endpoint: str,
        *,
        queue_size: int = 10_000,
        batch_size: int = 256,
        interval_s: float = 1.0,
        timeout_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        spool: DiskSpool | None = None,
        version: str = "",
    ) -> None:
        self.endpoint = endpoint
        self.stats = ExportStats()
        self.spool = spool
        self._queue_size = queue_size
        self._batch_size = batch_size
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._transport = transport
        self._version = version
        self._pending: list[Turn] = []
        self._wake = asyncio.Event()
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._backoff_s = 0.0
        self._retry_at = 0.0

    def submit(self, turn: Turn) -> None:
        """Hand a finished turn over for export. Never blocks, never raises."""
        self.stats.submitted += 1
        if len(self._pending) >= self._queue_size:
            self.stats.dropped_queue_full += 1
            if _worth_logging(self.stats.dropped_queue_full):
                log.warning("span buffer full (%d): %d turns dropped so far",
                            self._queue_size, self.stats.dropped_queue_full)
            return
        self._pending.append(turn)
        if len(self._pending) >= self._batch_size:
            self._wake.set()

    async def start(self) -> None:
        self._client = httpx.AsyncClient(transport=self._transport, timeout=self._timeout_s)
        self._task = asyncio.create_task(self._run(), name="switchyard-span-export")

    async def close(self) -> None:
        """Flush what is buffered (to ingest, or to the spool) and stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        while True:
            # Wake on a full batch, or after the interval: whichever comes first.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval_s)
            self._wake.clear()
            await self._drain_spool()
            while self._pending:
                batch = self._pending[: self._batch_size]
                del self._pending[: self._batch_size]
                await self._export(batch)
            if self._closing:
                return

    def _backing_off(self) -> bool:
        return time.monotonic() < self._retry_at

    def _failed(self, reason: str) -> None:
        self.stats.failed_batches += 1
        self._backoff_s = min(max(self._backoff_s * 2, self._interval_s), _MAX_BACKOFF_S)
        self._retry_at = time.monotonic() + self._backoff_s
        if _worth_logging(self.stats.failed_batches):
            log.warning("span export to %s failed (%s); retrying in %.0f s", self.endpoint, reason, self._backoff_s)

    async def _post(self, payload: bytes) -> bool:
        assert self._client is not None
        try:
            response = await self._client.post(
                self.endpoint, content=payload, headers={"content-type": "application/x-protobuf"}
            )
        except httpx.HTTPError as exc:
            self._failed(type(exc).__name__)
            return False
        if response.status_code >= 300:
            self._failed(f"HTTP {response.status_code}")
            return False
        self._backoff_s = 0.0
        return True

    async def _export(self, batch: list[Turn]) -> None:
        payload = turns_to_request(batch, version=self._version).SerializeToString()
        # While backing off, or while older batches wait in the spool, new ones queue behind them.
        if not self._backing_off() and not (self.spool and self.spool.batches()) and await self._post(payload):
            self.stats.exported += len(batch)
            return
        if self.spool is None:
            self.stats.dropped_export_failed += len(batch)
            log.warning("no spool configured: %d turns dropped", len(batch))
            return
        dropped = await asyncio.to_thread(self.spool.put, payload, len(batch))
        self.stats.spooled += len(batch)
        if dropped:
            self.stats.dropped_spool_full += dropped
            log.warning("span spool full (%d bytes): %d older turns dropped", self.spool.max_bytes, dropped)

    async def _drain_spool(self) -> None:
        """Re-send spooled batches, oldest first, until one fails."""
        if self.spool is None or self._backing_off():
            return
        for batch in await asyncio.to_thread(self.spool.batches):
            payload = await asyncio.to_thread(self.spool.read, batch)
            if payload is None:
                continue
            if not await self._post(payload):
                return
            await asyncio.to_thread(self.spool.remove, batch)
            self.stats.redelivered += batch.spans
