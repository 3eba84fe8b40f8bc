"""Admission control: at most ``limit`` requests in flight to one upstream target, at most
``queue`` more waiting for a slot; past that the gateway answers a clear 529 at once instead of
piling up work it cannot finish (a burst degrades into fast, retryable refusals, not a collapse).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from .errors import ProxyError


class AdmissionGate:
    def __init__(self, name: str, limit: int, queue: int) -> None:
        self.name = name
        self.limit = limit
        self.queue = queue
        self.active = 0
        self.rejected = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self._acquire()
        try:
            yield
        finally:
            self._release()

    async def _acquire(self) -> None:
        if self.active < self.limit and not self._waiters:
            self.active += 1
            return
        if len(self._waiters) >= self.queue:
            self.rejected += 1
            raise ProxyError("overloaded_error",
                             f"the gateway's queue for {self.name} is full; retry shortly", status=529)
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter  # _release hands its slot over: active stays counted
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # the slot arrived as we were cancelled: pass it on
            else:
                self._waiters.remove(waiter)
            raise

    def _release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.active -= 1


class Admission:
    """One gate per target name, created on first use."""

    def __init__(self, limit: int, queue: int) -> None:
        self._limit = limit
        self._queue = queue
        self._gates: dict[str, AdmissionGate] = {}

    def gate(self, target: str) -> AdmissionGate:
        gate = self._gates.get(target)
        if gate is None:
            gate = self._gates[target] = AdmissionGate(target, self._limit, self._queue)
        return gate

    def rejected(self) -> int:
        return sum(g.rejected for g in self._gates.values())
