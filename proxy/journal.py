"""The turn journal: the one place a turn waits between the request that made it and ingest's answer.

The hot path only appends a tuple to a deque (``open``, ``progress``, ``done``, ``ack``): no I/O, no
encoding. A writer thread wakes every ``flush_interval_s`` (sooner at 64 records), encodes what
arrived (a finished turn becomes its OTLP span, cut to ``max_span_bytes``), appends it to the current
segment file and fsyncs once for all of it, then hands the finished turns to the exporter. So a
``kill -9`` loses no turn that finished more than one flush interval (plus an fsync) before it.

Segments (``<first seq>.journal``, format in ``journal_records``) roll at ``segment_bytes``; one is
deleted once nothing in it is needed any more (its turns acked, its open turns finished). Past
``max_bytes`` the oldest segments go and their undelivered turns are counted as dropped. On start
the segments are replayed: undelivered turns go back to the exporter (ingest stores each
(trace_id, span_id) once, so a redelivery is harmless), and a turn that opened but never finished
becomes an ``interrupted`` turn, journaled as finished so it is exported once.

Without a directory the same journal keeps its records in memory only (nothing survives a crash).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from core.spans import Turn, fill_span
from core.turn_bounds import within_bounds

from .journal_records import HEADER, Kind, Pending, encode, encode_seqs, label, segment_name
from .journal_recovery import Recovered, recover
from .private_files import open_private, private_dir
from .span_fit import fit_span
from .stats import ExportStats, worth_logging
from .turn_record import turn_to_json

log = logging.getLogger("switchyard.proxy.journal")

FLUSH_AT_RECORDS = 64
_Entry = tuple[Kind, int, int, object]


@dataclass(slots=True)
class _Segment:
    path: Path | None
    size: int = 0
    live: int = 0  # records still needed: open turns not yet finished, finished turns not acked
    sealed: bool = False  # a write to it failed: nothing more is appended (a torn record stays its tail)


class Journal:
    def __init__(self, directory: Path | None, *, max_bytes: int, max_span_bytes: int, resident: int,
                 stats: ExportStats, flush_interval_s: float = 0.1, segment_bytes: int = 0) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.stats = stats
        self._max_span_bytes = max_span_bytes
        self._resident_limit = resident
        self._flush_interval_s = flush_interval_s
        self._segment_bytes = segment_bytes or max(64 * 1024, min(8 * 1024 * 1024, max_bytes // 16))
        self._queue: deque[_Entry] = deque()
        self._fresh: deque[Pending] = deque()
        self._kick = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._notify: Callable[[], None] = lambda: None
        self._next_seq = 1
        # Writer-thread state (the event loop only reads ``_unacked`` membership and its length).
        self._unacked: dict[int, Pending] = {}
        self._open_segments: dict[int, list[int]] = {}
        self._segments: dict[int, _Segment] = {}
        self._active = 0
        self._last_segment = 0
        self._handle: BinaryIO | None = None
        self._resident = 0
        self._memory_bytes = 0

    # --- event loop side ------------------------------------------------------------------
    def open(self, turn: Turn) -> int:
        """Record that ``turn`` (what is known at its start) is in flight; returns its journal id."""
        seq = self._take_seq()
        self._put(Kind.OPEN, seq, 0, turn)
        return seq

    def progress(self, opened: int, turn: Turn) -> None:
        self._put(Kind.PROGRESS, self._take_seq(), opened, turn)

    def done(self, turn: Turn, opened: int = 0) -> None:
        """A finished turn (``opened``: its ``open`` id, 0 when it never opened)."""
        self.stats.submitted += 1
        if len(self._queue) >= 2 * self._resident_limit:  # the disk cannot keep up: bound memory
            self.stats.dropped_queue_full += 1
            if worth_logging(self.stats.dropped_queue_full):
                log.warning("journal write queue full: %d turns dropped so far", self.stats.dropped_queue_full)
            return
        self._put(Kind.DONE, self._take_seq(), opened, turn)

    def ack(self, seqs: list[int]) -> None:
        """These finished turns need no further delivery."""
        if seqs:
            self._put(Kind.ACK, self._take_seq(), 0, seqs)

    def take_fresh(self) -> list[Pending]:
        """Finished turns made durable since the last call, oldest first."""
        fresh = []
        while self._fresh:
            fresh.append(self._fresh.popleft())
        return fresh

    def live(self, seq: int) -> bool:
        """Still to be delivered (False once acked, or dropped when the journal was full)."""
        return seq in self._unacked

    @property
    def pending(self) -> int:
        """Finished turns not yet taken by ingest."""
        return len(self._unacked)

    @property
    def fresh_count(self) -> int:
        return len(self._fresh)

    @property
    def backlog(self) -> int:
        """Records waiting for the writer thread."""
        return len(self._queue)

    def read(self, pending: Pending) -> bytes | None:
        """The span of a turn kept on disk only (blocking: call it in a thread)."""
        if pending.data is not None:
            return pending.data
        segment = self._segments.get(pending.segment)
        if segment is None or segment.path is None:
            return None
        try:
            with segment.path.open("rb") as handle:
                handle.seek(pending.offset)
                data = handle.read(pending.size)
        except FileNotFoundError:
            return None
        return data if len(data) == pending.size else None

    def _take_seq(self) -> int:
        seq = self._next_seq
        self._next_seq += 1
        return seq

    def _put(self, kind: Kind, seq: int, ref: int, item: object) -> None:
        queue = self._queue
        queue.append((kind, seq, ref, item))
        if len(queue) == FLUSH_AT_RECORDS:
            self._kick.set()

    # --- lifecycle --------------------------------------------------------------------------
    def start(self, notify: Callable[[], None]) -> Recovered:
        """Replay what a previous process left (blocking), then start the writer thread.
        ``notify`` is called (from the writer thread) when finished turns are ready."""
        self._notify = notify
        recovered = Recovered()
        if self.directory is not None:
            private_dir(self.directory)
            recovered = recover(self.directory, self._resident_limit)
            self._adopt(recovered)
        self._thread = threading.Thread(target=self._run, name="switchyard-journal", daemon=True)
        self._thread.start()
        return recovered

    def close(self) -> None:
        """Write and fsync everything queued, then stop the writer thread (blocking)."""
        self._stopping = True
        self._kick.set()
        if self._thread is not None:
            self._thread.join()
        if self._handle is not None:
            self._handle.close()

    def flush_now(self) -> None:
        """Ask the writer to flush without waiting for its interval."""
        self._kick.set()

    def _adopt(self, recovered: Recovered) -> None:
        self._next_seq = recovered.next_seq
        self._last_segment = recovered.last_segment
        for segment_id, path, size in recovered.segments:
            self._segments[segment_id] = _Segment(path, size)
        for pending in recovered.unacked:
            pending.attempts = 1  # delivered after a restart: counted as a redelivery
            self._unacked[pending.seq] = pending
            self._segments[pending.segment].live += 1
            self._resident += pending.data is not None
        for opened, segment_ids in recovered.open_segments.items():
            self._open_segments[opened] = segment_ids
            for segment_id in segment_ids:
                self._segments[segment_id].live += 1
        self._fresh.extend(recovered.unacked)
        for opened, turn in recovered.interrupted:
            self._queue.append((Kind.DONE, self._take_seq(), opened, turn))
        self.stats.interrupted += len(recovered.interrupted)
        self.stats.submitted += len(recovered.interrupted)
        self.stats.recovered += len(recovered.unacked)
        if recovered.unacked or recovered.interrupted or recovered.torn:
            log.warning("journal replayed: %d undelivered turns, %d interrupted turns, %d torn segment tails",
                        len(recovered.unacked), len(recovered.interrupted), recovered.torn)

    # --- writer thread ----------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            self._kick.wait(self._flush_interval_s)
            self._kick.clear()
            stopping = self._stopping
            try:
                self._flush()
            except Exception:  # a boundary: a full disk must not end the thread (records stay queued)
                log.exception("journal write failed; retrying")
                if not stopping:
                    time.sleep(1.0)
                    continue
            if stopping:
                return

    def _flush(self) -> None:
        batch: list[_Entry] = []
        queue = self._queue
        while queue:
            batch.append(queue.popleft())
        if not batch:
            return
        try:
            fresh, placed = self._write_batch(batch)
        except OSError:
            queue.extendleft(reversed(batch))  # kept, in order, for the next attempt
            raise
        self._apply(batch, placed, fresh)
        self._collect()
        self.stats.journaled += len(fresh)
        if fresh:
            self._fresh.extend(fresh)
            self._notify()

    def _write_batch(self, batch: list[_Entry]) -> tuple[list[Pending], list[int]]:
        """Encode ``batch``, append it to the segment(s) and fsync; the finished turns in it, and the
        segment each entry went to."""
        on_disk = self.directory is not None
        segment = self._segment()
        buffer = bytearray()
        fresh: list[Pending] = []
        placed: list[int] = []
        for kind, seq, ref, item in batch:
            if on_disk and buffer and segment.size + len(buffer) >= self._segment_bytes:
                self._append(segment, bytes(buffer))  # full: the rest goes to a new segment
                buffer.clear()
                segment = self._segment()
            placed.append(self._active)
            if kind is Kind.DONE:
                assert isinstance(item, Turn)
                payload = self._encode_done(item)
                keep = not on_disk or self._resident + len(fresh) < self._resident_limit
                fresh.append(Pending(seq, len(payload), payload if keep else None, self._active,
                                     segment.size + len(buffer) + HEADER.size,
                                     label(item.trace_id, item.span_id, item.developer)))
            elif not on_disk:
                continue  # in memory only: nothing but the finished spans is kept
            elif kind is Kind.ACK:
                assert isinstance(item, list)
                payload = encode_seqs(item)
            else:
                assert isinstance(item, Turn)
                payload = turn_to_json(item)
            if on_disk:
                buffer += encode(kind, seq, ref, payload)
        if on_disk and buffer:
            self._append(segment, bytes(buffer))
        return fresh, placed

    def _encode_done(self, turn: Turn) -> bytes:
        span = Span()
        fill_span(span, within_bounds(turn))
        payload, truncated = fit_span(span, self._max_span_bytes)
        if truncated:
            self.stats.truncated += 1
            log.warning("span cut to fit %d bytes (large attribute values truncated): %s",
                        self._max_span_bytes, label(turn.trace_id, turn.span_id, turn.developer))
        return payload

    def _append(self, segment: _Segment, data: bytes) -> None:
        handle = self._handle
        assert handle is not None
        try:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        except OSError:
            segment.sealed = True  # a partial write may be its tail now: continue in a new segment
            raise
        segment.size += len(data)

    def _segment(self) -> _Segment:
        """The segment being appended to: a new one when there is none or the current one is full."""
        current = self._segments.get(self._active)
        if current is not None and (current.path is None or (current.size < self._segment_bytes
                                                              and not current.sealed)):
            return current
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        self._last_segment += 1
        self._active = self._last_segment
        path = None
        if self.directory is not None:
            path = self.directory / segment_name(self._active)
            self._handle = open_private(path)
        self._segments[self._active] = segment = _Segment(path)
        return segment

    def _apply(self, batch: list[_Entry], placed: list[int], fresh: list[Pending]) -> None:
        """The bookkeeping of records now durable: what each segment still holds that is needed."""
        segments_ = self._segments
        for (kind, seq, ref, item), segment_id in zip(batch, placed, strict=True):
            if kind is Kind.OPEN or kind is Kind.PROGRESS:
                self._open_segments.setdefault(ref or seq, []).append(segment_id)
                segments_[segment_id].live += 1
            elif kind is Kind.DONE and ref:
                for segment_id in self._open_segments.pop(ref, ()):
                    segments_[segment_id].live -= 1
            elif kind is Kind.ACK:
                for acked in item:  # type: ignore[attr-defined]
                    pending = self._unacked.pop(acked, None)
                    if pending is not None:
                        self._forget(pending)
        for pending in fresh:
            self._unacked[pending.seq] = pending
            segments_[pending.segment].live += 1
            self._resident += pending.data is not None
            self._memory_bytes += pending.size

    def _forget(self, pending: Pending) -> None:
        segment = self._segments.get(pending.segment)
        if segment is not None:
            segment.live -= 1
        self._resident -= pending.data is not None
        self._memory_bytes -= pending.size

    def _collect(self) -> None:
        """Delete segments nothing needs, then the oldest ones while the journal is over its cap."""
        for segment_id, segment in list(self._segments.items()):
            if segment.live <= 0 and segment_id != self._active:
                self._delete(segment_id)
        if self.directory is None:
            while self._memory_bytes > self.max_bytes and self._unacked:
                self._drop(self._unacked.pop(next(iter(self._unacked))))
            return
        while sum(s.size for s in self._segments.values()) > self.max_bytes and len(self._segments) > 1:
            oldest = min(self._segments)
            for seq in [seq for seq, p in self._unacked.items() if p.segment == oldest]:
                self._drop(self._unacked.pop(seq))
            self._delete(oldest)

    def _drop(self, pending: Pending) -> None:
        self._forget(pending)
        self.stats.dropped_journal_full += 1
        if worth_logging(self.stats.dropped_journal_full):
            log.warning("span journal full (%d bytes): %d undelivered turns dropped so far, oldest first",
                        self.max_bytes, self.stats.dropped_journal_full)

    def _delete(self, segment_id: int) -> None:
        segment = self._segments.pop(segment_id)
        for opened, ids in list(self._open_segments.items()):
            if segment_id in ids:
                ids.remove(segment_id)
                if not ids:
                    del self._open_segments[opened]
        if segment.path is not None:
            with contextlib.suppress(FileNotFoundError):
                segment.path.unlink()


