"""The span export's counters: plain ints bumped where things happen, read by /metrics at scrape
time (so the hot path pays nothing for them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class ExportStats:
    submitted: int = 0  # finished turns handed to the journal (including recovered interrupted ones)
    journaled: int = 0  # written to the journal (durable when it has a directory)
    exported: int = 0  # taken by ingest (stored, or already stored: a redelivery)
    redelivered: int = 0  # of those, sent again after a failed attempt or a restart
    recovered: int = 0  # undelivered turns found in the journal at start-up
    interrupted: int = 0  # turns that started but never finished before a crash, exported as such
    truncated: int = 0  # spans whose largest values were cut to fit ingest's per-span limit
    dead_lettered: int = 0  # spans ingest rejected (4xx, or partial_success), kept in the dead letters
    dropped_queue_full: int = 0  # the journal's write queue was full (the disk could not keep up)
    dropped_journal_full: int = 0  # undelivered turns dropped, oldest first, when the journal hit its cap
    failed_batches: int = 0  # export requests that failed (retried)


def worth_logging(count: int) -> bool:
    """Log the 1st, 10th, 100th and every 1000th occurrence: visible, never a flood."""
    return count in (1, 10, 100) or count % 1000 == 0
