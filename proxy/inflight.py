"""Turns between their start and their finish, journaled at both ends.

A turn that reaches an upstream writes a start record (what is known then: developer, model, input
estimate, route); its finish writes the whole turn. Meanwhile a checkpoint every ``CHECKPOINT_S`` (half a second)
records what the SSE tap has counted so far (usage arrives in ``message_start``), once per change,
so a turn cut short by a crash is exported as ``interrupted`` with the tokens the upstream billed.
The hot path pays a dict insert and delete; the checkpoint runs on the loop, off any request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

from core.spans import Turn

from .journal import Journal
from .relay import ResponseState

CHECKPOINT_S = 0.5


class InFlightTurns:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        # journal id -> (the turn as it started, the relay's result filling in, the last checkpoint)
        self._open: dict[int, tuple[Turn, ResponseState, tuple[object, ...] | None]] = {}

    def begin(self, turn: Turn, result: ResponseState) -> int:
        opened = self.journal.open(turn)
        self._open[opened] = (turn, result, None)
        return opened

    def finish(self, opened: int, turn: Turn) -> None:
        if opened:
            self._open.pop(opened, None)
        self.journal.done(turn, opened)

    def checkpoint(self) -> int:
        """Journal what changed since the last checkpoint; how many turns had news."""
        changed = 0
        for opened, (turn, result, last) in list(self._open.items()):
            tap = result.tap
            summary = tap.summary() if tap is not None else result.summary
            if summary is None:
                continue
            state = (result.status, summary.model, summary.input_tokens, summary.output_tokens,
                     summary.cache_creation_tokens, summary.cache_read_tokens)
            if state == last or opened not in self._open:
                continue
            self._open[opened] = (turn, result, state)
            self.journal.progress(opened, dataclasses.replace(
                turn, end_ns=time.time_ns(), status_code=result.status, served_model=summary.model,
                response_id=summary.message_id, input_tokens=summary.input_tokens,
                output_tokens=summary.output_tokens, cache_creation_tokens=summary.cache_creation_tokens,
                cache_creation_1h_tokens=summary.cache_creation_1h_tokens,
                cache_read_tokens=summary.cache_read_tokens, upstream_request_id=result.upstream_request_id))
            changed += 1
        return changed

    async def run(self, interval_s: float = CHECKPOINT_S) -> None:
        while True:
            await asyncio.sleep(interval_s)
            self.checkpoint()
