"""A tap between the Claude Code CLI and the gateway, for tests: it records every request exactly as
the CLI sent it (path, query, headers, raw body) and relays it, and the answer back, unchanged. What
the CLI sent can then be compared, byte for byte, with what the fake upstream behind the gateway got.

A few lines a test can read in full; not a gateway: no auth, no limits, loopback only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.e2e.capture_upstream import Recorded
from tests.loopback import read_body, serve_in_thread

_HOP_BY_HOP = {"host", "content-length", "connection", "transfer-encoding"}


@dataclass
class RecordingRelay:
    target: str  # the gateway's base URL
    requests: list[Recorded] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # what each request was answered, in the same order
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def messages(self) -> list[tuple[Recorded, int]]:
        with self._lock:
            return [(r, s) for r, s in zip(self.requests, self.statuses, strict=False)
                    if r.method == "POST" and r.path.startswith("/v1/messages")]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"  # served with lifespan="off"
        body = await read_body(receive)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        query = scope["query_string"].decode("latin-1")
        recorded = Recorded(scope["method"], scope["path"], query, headers, body)
        url = self.target + scope["path"] + (f"?{query}" if query else "")
        forwarded = [(k, v) for k, v in headers if k.lower() not in _HOP_BY_HOP]
        async with httpx.AsyncClient(timeout=120) as client, \
                client.stream(scope["method"], url, headers=forwarded, content=body) as response:
            with self._lock:
                self.requests.append(recorded)
                self.statuses.append(response.status_code)
            out = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.multi_items()
                   if k.lower() not in _HOP_BY_HOP]
            await send({"type": "http.response.start", "status": response.status_code, "headers": out})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})


@contextmanager
def recording_relay(target: str) -> Iterator[tuple[str, RecordingRelay]]:
    """Serve a RecordingRelay in front of ``target`` on loopback; yields (base_url, relay)."""
    relay = RecordingRelay(target)
    with serve_in_thread(relay, lifespan="off") as base_url:
        yield base_url, relay
