"""A minimal OTLP/HTTP traces receiver for tests: decodes what the proxy exports and keeps it."""

from __future__ import annotations

import threading
import time
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from core.spans import Turn, span_to_turn, turns_in_request
from tests.loopback import read_body


class OtlpReceiver:
    """An ASGI app answering POST /v1/traces. ``fail_with`` makes it answer that status instead."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.fail_with: int | None = None
        self._lock = threading.Lock()

    def turns(self) -> list[Turn]:
        with self._lock:
            return [span_to_turn(s) for r in self.requests for s in turns_in_request(r)]

    def wait_for_turns(self, count: int, timeout: float = 10.0) -> list[Turn]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            turns = self.turns()
            if len(turns) >= count:
                return turns
            time.sleep(0.02)
        raise AssertionError(f"expected {count} turns, got {len(self.turns())}")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        status = self.fail_with or 200
        if status == 200:
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            with self._lock:
                self.requests.append(request)
        payload = ExportTraceServiceResponse().SerializeToString()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/x-protobuf")]})
        await send({"type": "http.response.body", "body": payload})
