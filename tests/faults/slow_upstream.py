"""The slow-upstream scenario of the minute-long fault test (tests/faults/test_ingest_outage.py runs it
beside the ingest outage, so CI pays for one minute, not two).

Several requests whose first upstream byte comes after 60 s (``x-sim-fault: slow-first-byte:60``, the
shape of a long extended-thinking turn), some clients that give up early by hanging up, and normal
requests through the same proxy all the while. Afterwards nothing may be left behind: no upstream
connection held or orphaned, no accepted client connection, no asyncio task, no response object, no
memory growth beyond a bound.

The gateway runs in this process (tests/gateway.py) so its event loop and its aiohttp connector can be
inspected. File descriptors are attributed to the proxy by port (/proc/self/net/tcp), not counted for
the whole process, because the ingest-outage scenario runs in the same process at the same time.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx

from proxy.relay import ResponseState
from proxy.settings import ProxySettings
from sim.claude_shapes import build_headers, build_request_body, encode_body, make_session
from sim.faults import FAULT_HEADER
from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from tests.gateway import PROVIDER_KEY, Gateway, running_gateway
from tests.loopback import wait_until
from tests.otlp_receiver import OtlpReceiver

FIRST_BYTE_S = 60.0  # as the issue asks: a minute before the upstream's first byte
SLOW = 6  # slow requests that wait it out
GIVE_UP = 4  # slow requests whose clients hang up after GIVE_UP_AFTER_S
GIVE_UP_AFTER_S = 2.0
NORMAL_EVERY_S = 0.5  # normal requests through the same proxy meanwhile
# Generous: this process also runs the ingest-outage scenario (its receiver keeps every span it gets),
# and a leak of a few slow streams' state would not show in RSS at all. The precise checks are the
# object, task and socket counts; RSS only bounds anything gross.
RSS_GROWTH_BOUND_MIB = 64


@dataclass
class SlowUpstreamReport:
    slow_status: list[int] = field(default_factory=list)
    slow_complete: list[bool] = field(default_factory=list)
    slow_seconds: list[float] = field(default_factory=list)
    gave_up: int = 0
    normal_status: list[int] = field(default_factory=list)
    normal_seconds: list[float] = field(default_factory=list)
    tasks_before: int = 0
    tasks_after: int = 0
    tasks_during: int = 0
    proxy_sockets_before: tuple[int, int] = (0, 0)
    proxy_sockets_after: tuple[int, int] = (0, 0)
    pooled_after: int = 0
    rss_before_mib: float = 0.0
    rss_after_mib: float = 0.0
    live_responses_after: int = 0
    live_results_after: int = 0
    turn_errors: dict[str, int] = field(default_factory=dict)


def _socket_inodes() -> set[int]:
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    return inodes


def proxy_sockets(proxy_port: int, upstream_port: int) -> tuple[int, int]:
    """Open sockets of this process that belong to the proxy: (accepted client connections, connections
    to the upstream). Listening sockets are not counted."""
    mine = _socket_inodes()
    accepted = upstream = 0
    with open("/proc/self/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], int(fields[9])
            if inode not in mine or state == "0A":  # 0A: LISTEN
                continue
            if int(local.split(":")[1], 16) == proxy_port:
                accepted += 1
            elif int(remote.split(":")[1], 16) == upstream_port:
                upstream += 1
    return accepted, upstream


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _tasks(loop: asyncio.AbstractEventLoop) -> int:
    """Tasks alive in the proxy's event loop (asked from inside the loop, minus the asking one)."""
    async def count() -> int:
        return len(asyncio.all_tasks()) - 1

    return asyncio.run_coroutine_threadsafe(count(), loop).result(timeout=10)


def _live(kind: type, where: object = None) -> int:
    gc.collect()
    objects = [o for o in gc.get_objects() if isinstance(o, kind)]
    if where is None:
        return len(objects)
    return sum(1 for o in objects if o.url.port == where)


async def _drive(gateway: Gateway, report: SlowUpstreamReport) -> None:
    session = make_session(61)
    body = encode_body(build_request_body(61, session=session, history_chars=4_000))
    headers = build_headers(session, api_key=gateway.key)
    slow_headers = dict(headers, **{FAULT_HEADER: f"slow-first-byte:{FIRST_BYTE_S:g}"})
    url = gateway.url + "/v1/messages"
    done = asyncio.Event()

    async def slow(client: httpx.AsyncClient) -> None:
        started = time.monotonic()
        response = await client.post(url, headers=slow_headers, content=body,
                                     timeout=httpx.Timeout(30, read=FIRST_BYTE_S + 60))
        report.slow_seconds.append(time.monotonic() - started)
        report.slow_status.append(response.status_code)
        report.slow_complete.append(b"event: message_stop" in response.content)

    async def give_up(client: httpx.AsyncClient) -> None:
        with contextlib.suppress(httpx.ReadTimeout):  # the client's patience runs out: it hangs up
            await client.post(url, headers=slow_headers, content=body,
                              timeout=httpx.Timeout(30, read=GIVE_UP_AFTER_S))
            raise AssertionError("a slow request answered before its client gave up")
        report.gave_up += 1

    async def normal(client: httpx.AsyncClient) -> None:
        while not done.is_set():
            started = time.monotonic()
            response = await client.post(url, headers=headers, content=body, timeout=30)
            report.normal_seconds.append(time.monotonic() - started)
            report.normal_status.append(response.status_code if b"message_stop" in response.content else -1)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), NORMAL_EVERY_S)

    # Separate clients: each slow request holds its own connection (as separate CLI sessions would).
    async with httpx.AsyncClient() as normal_client, httpx.AsyncClient() as slow_client:
        background = asyncio.create_task(normal(normal_client))
        try:
            waiting = [asyncio.create_task(slow(slow_client)) for _ in range(SLOW)]
            waiting += [asyncio.create_task(give_up(slow_client)) for _ in range(GIVE_UP)]
            await asyncio.sleep(GIVE_UP_AFTER_S + 3)
            loop = gateway.app._session._loop  # type: ignore[union-attr]  # private: aiohttp exposes no loop
            report.tasks_during = await asyncio.to_thread(_tasks, loop)
            await asyncio.gather(*waiting)
        finally:
            done.set()
            await background


def run_slow_upstream(tmp_path: Path, receiver: tuple[OtlpReceiver, str]) -> SlowUpstreamReport:
    """Run the scenario (about 70 s) and return what it saw; the caller asserts."""
    report = SlowUpstreamReport()
    config = UpstreamConfig(expected_api_key=PROVIDER_KEY, event_interval_s=0.005, text_deltas=8)
    # The proxy's defaults, read_timeout_s included: nothing in the test loosens them.
    with FakeUpstream(config) as upstream, running_gateway(tmp_path, upstream, receiver) as gateway:
        assert gateway.app.settings.read_timeout_s == ProxySettings.model_fields["read_timeout_s"].default
        assert gateway.app._session is not None
        connector = gateway.app._session.connector  # private counters: aiohttp has no public ones
        assert connector is not None
        loop = connector._loop
        proxy_port = int(gateway.url.rsplit(":", 1)[1])
        upstream_port = int(upstream.base_url.rsplit(":", 1)[1])

        # Warm up (pools, lazy imports), hang up, and take the baseline of an idle proxy.
        session = make_session(60)
        warm = encode_body(build_request_body(60, session=session, history_chars=4_000))
        with httpx.Client() as client:
            for _ in range(3):
                client.post(gateway.url + "/v1/messages", headers=build_headers(session, api_key=gateway.key),
                            content=warm, timeout=30).raise_for_status()
        wait_until(lambda: proxy_sockets(proxy_port, upstream_port)[0] == 0, timeout=10, what="warm-up hang-up")
        report.tasks_before = _tasks(loop)
        report.proxy_sockets_before = proxy_sockets(proxy_port, upstream_port)
        report.rss_before_mib = _rss_mib()

        asyncio.run(_drive(gateway, report))

        # Every client is gone: the proxy must let go of everything those requests held.
        wait_until(lambda: not connector._acquired, timeout=10, what="upstream connections released")
        wait_until(lambda: proxy_sockets(proxy_port, upstream_port)[0] == 0, timeout=10,
                   what="accepted client connections closed")
        # a leaked task never finishes; an export in flight does (30 s: CI shares two cores with other work).
        # The count is the one that met the wait: read again, a periodic task started in between can
        # show one more (a CI run read 6 against 5 right after the wait had seen 5)
        counted: list[int] = []
        wait_until(lambda: counted.append(_tasks(loop)) or counted[-1] <= report.tasks_before, timeout=30,
                   what="the proxy's tasks to finish")
        report.tasks_after = counted[-1]
        report.proxy_sockets_after = proxy_sockets(proxy_port, upstream_port)
        report.pooled_after = sum(len(idle) for idle in connector._conns.values())
        report.live_responses_after = _live(aiohttp.ClientResponse, upstream_port)
        report.live_results_after = _live(ResponseState)
        report.rss_after_mib = _rss_mib()
        turns = gateway.receiver.wait_for_turns(3 + SLOW + GIVE_UP + len(report.normal_status), timeout=10)
        for turn in turns:
            key = turn.error_type or "ok"
            report.turn_errors[key] = report.turn_errors.get(key, 0) + 1
    return report


def check_slow_upstream(report: SlowUpstreamReport) -> None:
    """The assertions, kept apart so the combined test can report both scenarios."""
    # The proxy did not cut the minute-long wait off: each slow turn got its complete stream.
    assert report.slow_status == [200] * SLOW, report.slow_status
    assert all(report.slow_complete), report.slow_complete
    assert min(report.slow_seconds) >= FIRST_BYTE_S, report.slow_seconds
    assert report.gave_up == GIVE_UP
    # Normal requests kept flowing through the same proxy, quickly, the whole minute.
    assert len(report.normal_status) >= FIRST_BYTE_S / NORMAL_EVERY_S / 2, len(report.normal_status)
    assert set(report.normal_status) == {200}, report.normal_status
    # Queued behind the slow ones they would take ~60 s; served beside them, milliseconds (loose bounds
    # for a loaded 2-core machine, still three orders of magnitude under the failure).
    assert statistics.median(report.normal_seconds) < 0.5 and max(report.normal_seconds) < 5, report.normal_seconds
    # While the slow ones waited, their requests were alive in the proxy (the count measures something).
    assert report.tasks_during >= report.tasks_before + SLOW, (report.tasks_during, report.tasks_before)
    # Nothing left behind: tasks, accepted connections, upstream sockets other than idle pooled
    # keep-alive ones, response objects, per-request state, memory.
    assert report.tasks_after <= report.tasks_before, (report.tasks_after, report.tasks_before)
    assert report.proxy_sockets_after[0] == 0, report.proxy_sockets_after
    assert report.proxy_sockets_after[1] == report.pooled_after, (report.proxy_sockets_after, report.pooled_after)
    assert report.pooled_after <= SLOW + 2, report.pooled_after
    assert report.live_responses_after == 0 and report.live_results_after == 0
    assert report.rss_after_mib - report.rss_before_mib < RSS_GROWTH_BOUND_MIB, (report.rss_before_mib,
                                                                              report.rss_after_mib)
    # Each turn accounted for: the ones whose clients hung up as such, the rest complete.
    assert report.turn_errors == {"ok": 3 + SLOW + len(report.normal_status), "client_disconnected": GIVE_UP}, \
        report.turn_errors
