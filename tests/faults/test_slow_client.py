"""Slow clients: readers that stop reading a long answer half way hold up only their own streams —
other clients are served as fast as before meanwhile — their streams arrive whole once they read
again, every turn is recorded once, and nothing is left behind (bounded in count and time, loopback
only)."""

from __future__ import annotations

import os
import socket
import threading
import time
from urllib.parse import urlsplit

import httpx

from sim.claude_shapes import build_headers, build_request_body, encode_body, make_session
from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from tests.gateway import PROVIDER_KEY, running_gateway
from tests.loopback import wait_until

# An answer of this many text deltas is about a megabyte of SSE: far more than the stalled readers
# 64 KiB receive windows.
TEXT_DELTAS = 10_000
SLOW_CLIENTS = 3


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class StalledReader:
    """A raw-socket client with a small receive buffer: reads the response head, stops reading
    until told to go on, then reads to the end (the proxy closes: the request says so)."""

    def __init__(self, url: str, headers: dict[str, str], body: bytes) -> None:
        parts = urlsplit(url)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        self.sock.settimeout(30)
        self.sock.connect((parts.hostname, parts.port))
        head = ["POST /v1/messages HTTP/1.1", f"host: {parts.netloc}", "connection: close",
                f"content-length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        self.received = bytearray()
        while b"\r\n\r\n" not in self.received:
            self.received += self.sock.recv(4096)
        self.go_on = threading.Event()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._finish, daemon=True)
        self.thread.start()

    def _finish(self) -> None:
        self.go_on.wait(60)
        try:
            while chunk := self.sock.recv(65536):
                self.received += chunk
        finally:
            self.sock.close()
            self.done.set()


def _stall_round(gateway, headers: dict[str, str], body: bytes, alone_s: float) -> None:  # type: ignore[no-untyped-def]
    """SLOW_CLIENTS readers stall while other clients are served; then they read to the end."""
    readers = [StalledReader(gateway.url, headers, body) for _ in range(SLOW_CLIENTS)]
    assert all(b" 200 " in r.received.split(b"\r\n", 1)[0] for r in readers)
    # while they sit still, other clients get the same long answer about as fast as alone
    other = make_session(22)
    other_body = encode_body(build_request_body(22, session=other, history_chars=500))
    with httpx.Client(timeout=60) as client:
        for _ in range(3):
            started = time.monotonic()
            response = client.post(gateway.url + "/v1/messages", content=other_body,
                                   headers=build_headers(other, api_key=gateway.key))
            took = time.monotonic() - started
            assert response.status_code == 200 and b"event: message_stop" in response.content
            assert took < 3 * alone_s + 1.0, (took, alone_s)
    assert all(not r.done.is_set() for r in readers)
    for reader in readers:  # the readers come back: every stream arrives whole
        reader.go_on.set()
    for reader in readers:
        assert reader.done.wait(60), ("a resumed stream never finished", len(reader.received))
        assert b"event: message_stop" in bytes(reader.received).split(b"\r\n\r\n", 1)[1]


def test_stalled_readers_hold_up_only_their_own_streams_and_leave_nothing(tmp_path, receiver) -> None:
    config = UpstreamConfig(expected_api_key=PROVIDER_KEY, text_deltas=TEXT_DELTAS)
    with FakeUpstream(config) as upstream, running_gateway(tmp_path, upstream, receiver) as gateway:
        session = make_session(21)
        body = encode_body(build_request_body(21, session=session, history_chars=500))
        headers = build_headers(session, api_key=gateway.key)
        with httpx.Client(timeout=60) as client:
            started = time.monotonic()
            warm = client.post(gateway.url + "/v1/messages", headers=headers, content=body)
            alone_s = time.monotonic() - started
        assert warm.status_code == 200
        assert len(warm.content) > 500_000, len(warm.content)
        connector = gateway.app._session.connector  # private: aiohttp has no public counter

        settled = []
        for round_number in (1, 2):
            _stall_round(gateway, headers, body, alone_s)
            turns = gateway.receiver.wait_for_turns(1 + round_number * (3 + SLOW_CLIENTS), timeout=15)
            finished = [t for t in turns if t.session_id == session.session_id]
            assert len(finished) == 1 + round_number * SLOW_CLIENTS  # every stalled turn recorded, once
            assert all(t.error_type is None and t.output_tokens == finished[0].output_tokens for t in finished)
            wait_until(lambda: not connector._acquired, timeout=10, what="every upstream connection released")
            time.sleep(0.5)
            settled.append(_fds())
        # a second round of stalls leaves no more descriptors open than the first did (idle pooled
        # connections are reused, nothing accumulates per stalled stream)
        assert settled[1] <= settled[0] + 1, settled
