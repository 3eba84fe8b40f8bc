"""The server's timed garbage collection frees cyclic garbage within a bounded time, whatever the
allocation counters say: young cycles on every tick, old ones (already in generation 2) on the
periodic full collection."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Callable

from proxy.server import collect_garbage


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


async def _freed_within(make: Callable[[], weakref.ref[_Node]], full_every: int, seconds: float) -> bool:
    task = asyncio.create_task(collect_garbage(interval_s=0.01, full_every=full_every))
    try:
        ref = make()
        deadline = asyncio.get_running_loop().time() + seconds
        while ref() is not None and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        return ref() is None
    finally:
        task.cancel()


def _young() -> weakref.ref[_Node]:
    return weakref.ref(_Node())


def _old() -> weakref.ref[_Node]:
    node = _Node()
    gc.collect(1)
    gc.collect(1)  # survived twice: now in generation 2, which only a full collection walks
    return weakref.ref(node)


def test_cycles_are_freed_on_the_clock() -> None:
    gc.disable()  # no collection triggered by allocation: only the timer can free the cycles
    try:
        assert asyncio.run(_freed_within(_young, full_every=10_000, seconds=2))
        assert not asyncio.run(_freed_within(_old, full_every=10_000, seconds=0.3))
        assert asyncio.run(_freed_within(_old, full_every=3, seconds=2))
    finally:
        gc.enable()
