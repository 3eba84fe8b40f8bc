"""A webhook receiver on loopback for the alert tests: it checks x-switchyard-signature as a real
receiver would (core.alerts.verify) and records what arrived; it can answer a status or hang."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from core.alerts import SIGNATURE_HEADER, verify
from tests.loopback import read_body


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool | None  # None: no secret to check against

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    secret: str | None = None
    status: int = 204
    fail_first: int = 0  # answer 503 to this many posts first
    location: str = "/elsewhere"  # where a 3xx answer points
    hang_s: float = 0.0  # wait this long before answering (longer than the sender's timeout: a timeout)
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = await read_body(receive)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        ok = None if self.secret is None else verify(self.secret, headers.get(SIGNATURE_HEADER, ""), body,
                                                      int(time.time()))
        with self._lock:
            self.received.append(Received(scope["path"], headers, body, ok))
            attempt = len(self.received)
        if self.hang_s:
            await asyncio.sleep(self.hang_s)
        status = 503 if attempt <= self.fail_first else (401 if ok is False else self.status)
        answer = [(b"content-length", b"0")]
        if 300 <= status < 400:
            answer.append((b"location", self.location.encode()))
        await send({"type": "http.response.start", "status": status, "headers": answer})
        await send({"type": "http.response.body", "body": b""})
