"""Admission control: a bounded queue per upstream target, and a clear 529 past it."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from proxy.admission import AdmissionGate
from proxy.errors import ProxyError
from sim.claude_shapes import build_headers, build_request_body, encode_body, make_session
from tests.gateway import running_gateway


def test_gate_admits_queues_and_refuses() -> None:
    async def scenario() -> list[str]:
        gate = AdmissionGate("up", limit=1, queue=1)
        events: list[str] = []
        release_first = asyncio.Event()

        async def holder() -> None:
            async with gate.slot():
                events.append("first in")
                await release_first.wait()
            events.append("first out")

        async def waiter() -> None:
            async with gate.slot():
                events.append("second in")

        first = asyncio.create_task(holder())
        await asyncio.sleep(0)
        second = asyncio.create_task(waiter())
        await asyncio.sleep(0)
        with pytest.raises(ProxyError) as refused:
            async with gate.slot():
                pass
        assert refused.value.status == 529 and refused.value.error_type == "overloaded_error"
        release_first.set()
        await asyncio.gather(first, second)
        assert (gate.active, gate.rejected) == (0, 1)
        return events

    assert asyncio.run(scenario()) == ["first in", "first out", "second in"]


def test_a_cancelled_waiter_gives_its_place_back() -> None:
    async def scenario() -> int:
        gate = AdmissionGate("up", limit=1, queue=2)
        hold = asyncio.Event()

        async def holder() -> None:
            async with gate.slot():
                await hold.wait()

        async def waiter() -> None:
            async with gate.slot():
                pass

        first = asyncio.create_task(holder())
        await asyncio.sleep(0)
        cancelled = asyncio.create_task(waiter())
        await asyncio.sleep(0)
        cancelled.cancel()
        await asyncio.gather(cancelled, return_exceptions=True)
        later = asyncio.create_task(waiter())
        await asyncio.sleep(0)
        hold.set()
        await asyncio.gather(first, later)
        return gate.active

    assert asyncio.run(scenario()) == 0


def test_proxy_answers_529_when_the_targets_queue_is_full(tmp_path, upstream, receiver) -> None:
    with running_gateway(tmp_path, upstream, receiver, max_in_flight_per_target=2, max_queued_per_target=0) as gateway:
        session = make_session(1)
        headers = build_headers(session, api_key=gateway.key)
        headers["x-sim-fault"] = "slow-first-byte:1.5"
        body = encode_body(build_request_body(1, session=session, history_chars=500))
        statuses: list[int] = []

        def call() -> None:
            statuses.append(httpx.post(gateway.url + "/v1/messages", headers=headers, content=body,
                                       timeout=30).status_code)

        slow = [threading.Thread(target=call) for _ in range(2)]
        for thread in slow:
            thread.start()
        gateway.upstream.wait_for_requests(2, timeout_s=5)
        refused = httpx.post(gateway.url + "/v1/messages", headers=headers, content=body, timeout=30)
        assert refused.status_code == 529
        assert refused.json()["error"]["type"] == "overloaded_error"
        for thread in slow:
            thread.join()
        assert statuses == [200, 200]
        assert gateway.app.admission.rejected() == 1
