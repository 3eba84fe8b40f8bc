"""Spans ingest refused, kept where an operator can look at them (and re-post them once fixed).

Each one is a file holding a one-span OTLP export request (``curl --data-binary @<file> -H
'content-type: application/x-protobuf' …/v1/traces`` sends it again) and a line in ``index.jsonl``
naming the turn (trace id, span id, developer) and ingest's reason. Past ``max_bytes`` the files are
no longer written, but every dead letter is still logged, indexed and counted.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

from .private_files import open_private, private_dir, write_private
from .stats import ExportStats

log = logging.getLogger("switchyard.proxy.dead_letters")

INDEX = "index.jsonl"


class DeadLetters:
    def __init__(self, directory: Path | None, max_bytes: int, stats: ExportStats) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._stats = stats
        self._used: int | None = None

    def put(self, seq: int, label: str, request: bytes, reason: str) -> None:
        """Keep one refused span (blocking: call it in a thread). Counted once it is kept (or its
        keeping failed), so whoever sees the count can read the index."""
        log.error("span dead-lettered (ingest refused it: %s): %s", reason[:300], label)
        try:
            self._keep(seq, label, request, reason)
        finally:
            self._stats.dead_lettered += 1

    def _keep(self, seq: int, label: str, request: bytes, reason: str) -> None:
        if self.directory is None:
            return
        private_dir(self.directory)
        if self._used is None:
            self._used = sum(p.stat().st_size for p in self.directory.glob("*.otlp"))
        name: str | None = f"{time.time_ns()}-{seq}.otlp"
        if self._used + len(request) <= self.max_bytes:
            assert name is not None
            write_private(self.directory / name, request)
            self._used += len(request)
        else:
            name = None
        line = {"at": datetime.now(UTC).isoformat(), "turn": label, "reason": reason[:2000], "file": name}
        with open_private(self.directory / INDEX) as index:
            index.write(orjson.dumps(line) + b"\n")
