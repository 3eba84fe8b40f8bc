"""A disk spool for span batches ingest could not take: written when an export fails, re-sent
oldest first once ingest answers again, and replayed after a restart (even after ``kill -9``).

Each batch is one file, ``<unix ns>-<seq>-<spans>.otlp`` (the serialized export request), written
to a temporary name and renamed, so a crash never leaves half a batch. Redelivery is safe because
ingest stores each (trace_id, span_id) once. When the spool would grow past its cap, the oldest
batches are deleted and their spans counted as dropped.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

_SUFFIX = ".otlp"


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    path: Path
    spans: int
    size: int


def _parse(path: Path) -> SpooledBatch | None:
    try:
        _, _, spans = path.stem.split("-")
        return SpooledBatch(path, int(spans), path.stat().st_size)
    except (ValueError, FileNotFoundError):
        return None


class DiskSpool:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._seq = 0
        directory.mkdir(parents=True, exist_ok=True)

    def batches(self) -> list[SpooledBatch]:
        """Spooled batches, oldest first."""
        found = (_parse(p) for p in self.directory.glob(f"*{_SUFFIX}"))
        return sorted((b for b in found if b is not None), key=lambda b: b.path.name)

    def pending_spans(self) -> int:
        return sum(b.spans for b in self.batches())

    def put(self, payload: bytes, spans: int) -> int:
        """Spool one batch; returns how many spans older batches lost to make room (0 normally).
        A batch larger than the whole spool is itself dropped (and counted)."""
        if len(payload) > self.max_bytes:
            return spans
        dropped = 0
        batches = self.batches()
        used = sum(b.size for b in batches)
        while batches and used + len(payload) > self.max_bytes:
            oldest = batches.pop(0)
            oldest.path.unlink(missing_ok=True)
            used -= oldest.size
            dropped += oldest.spans
        self._seq += 1
        name = f"{time.time_ns():020d}-{self._seq:06d}-{spans}{_SUFFIX}"
        tmp = self.directory / f".{name}.tmp"
        with tmp.open("wb") as handle:
            handle.write(payload)
        os.replace(tmp, self.directory / name)
        return dropped

    @staticmethod
    def read(batch: SpooledBatch) -> bytes | None:
        try:
            return batch.path.read_bytes()
        except FileNotFoundError:
            return None

    @staticmethod
    def remove(batch: SpooledBatch) -> None:
        batch.path.unlink(missing_ok=True)
