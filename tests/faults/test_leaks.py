"""Disconnect storms and slow upstreams leave nothing behind: no upstream connection held, no file
descriptors, no growing task list (bounded in count and time, loopback only)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

import httpx

from sim.claude_shapes import build_headers, build_request_body, encode_body, make_session
from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from tests.gateway import PROVIDER_KEY, running_gateway


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _storm(url: str, key: str, count: int) -> None:
    session = make_session(3)
    body = encode_body(build_request_body(3, session=session, history_chars=500))
    headers = build_headers(session, api_key=key)

    async def hang_up_early(client: httpx.AsyncClient) -> None:
        async with client.stream("POST", url + "/v1/messages", headers=headers, content=body) as response:
            async for _ in response.aiter_raw():
                break  # the first bytes, then the client is gone

    async def give_up_waiting(client: httpx.AsyncClient) -> None:
        slow = dict(headers, **{"x-sim-fault": "slow-first-byte:2"})
        # the client's own timeout: it hangs up before the upstream answered
        # only the wait for the answer times out: the request itself always reaches the proxy
        patience = httpx.Timeout(30, read=0.3)
        with contextlib.suppress(httpx.ReadTimeout):
            await client.post(url + "/v1/messages", headers=slow, content=body, timeout=patience)

    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=count * 2)) as client:
        await asyncio.gather(*(hang_up_early(client) for _ in range(count)),
                             *(give_up_waiting(client) for _ in range(count // 2)))


def test_disconnect_storm_leaks_nothing(tmp_path, receiver) -> None:
    config = UpstreamConfig(expected_api_key=PROVIDER_KEY, event_interval_s=0.05, text_deltas=40)
    with FakeUpstream(config) as upstream, running_gateway(tmp_path, upstream, receiver) as gateway:
        asyncio.run(_storm(gateway.url, gateway.key, 10))  # warm up pools and lazy imports
        time.sleep(1.0)
        fds_before = _fds()
        started = time.monotonic()
        asyncio.run(_storm(gateway.url, gateway.key, 100))
        assert time.monotonic() - started < 10  # streams ended with their clients, not with the upstream
        deadline = time.monotonic() + 10
        connector = gateway.app._session.connector  # the proxy's one upstream session
        while connector._acquired or _fds() > fds_before + 5:  # private: aiohttp has no public counter
            assert time.monotonic() < deadline, (len(connector._acquired), _fds(), fds_before)
            time.sleep(0.1)
        # every turn was accounted for as the client going away, none lost
        turns = gateway.receiver.wait_for_turns(165, timeout=10)
        assert sum(t.error_type == "client_disconnected" for t in turns) >= 150
        session = make_session(9)
        ok = httpx.post(gateway.url + "/v1/messages", headers=build_headers(session, api_key=gateway.key),
                        content=encode_body(build_request_body(9, session=session, history_chars=500)), timeout=30)
        assert ok.status_code == 200
