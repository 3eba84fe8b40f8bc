"""The request-handling steps the fake Bedrock and the fake Vertex AI share: recording what arrived
(credentials redacted), choosing the faults for this request, and turning them into stream controls.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable

from aiohttp import web

from sim.faults import FAULT_HEADER, FaultQueue
from sim.paced_stream import Interruption, Silence
from sim.provider_faults import STREAM_CUTS, ProviderFault, ProviderFaultKind
from sim.request_recorder import RecordedRequest, RequestRecorder

# Header values that are credentials in themselves; a SigV4 Authorization is not (its signature only
# proves knowledge of the secret for this one request), so tests can still read its scope.
_SECRET_HEADERS = frozenset({"x-amz-security-token", "x-api-key", "x-goog-api-key"})


def redacted(name: str, value: str) -> str:
    """``value`` with any credential replaced by a short hash, so tests can still tell keys apart."""
    lowered = name.lower()
    if lowered == "authorization" and value[:7].lower() == "bearer ":
        return "Bearer " + fingerprint(value[7:])
    if lowered in _SECRET_HEADERS:
        return fingerprint(value)
    return value


def fingerprint(secret: str) -> str:
    """How a recorded request shows a credential: ``<redacted sha256:…>`` of its first 12 hex digits."""
    return f"<redacted sha256:{hashlib.sha256(secret.encode()).hexdigest()[:12]}>"


async def record_redacted(request: web.Request, recorder: RequestRecorder) -> bytes:
    """Read the body and log the request as it arrived: raw (still percent-encoded) path, ordered
    headers, exact body bytes; credentials never stored."""
    body = await request.read()
    headers = tuple(
        (key.decode("latin-1"), redacted(key.decode("latin-1"), value.decode("latin-1")))
        for key, value in request.raw_headers
    )
    path, _, query = request.raw_path.partition("?")
    recorder.record(RecordedRequest(request.method, path, query, headers, body, time.time()))
    return body


def choose_faults(request: web.Request, queue: FaultQueue[ProviderFault]) -> tuple[ProviderFault, ...]:
    """The header's spec if the request has one (the queue untouched), else the queue's next entry.
    Raises ValueError on a bad header."""
    spec = request.headers.get(FAULT_HEADER)
    if spec is not None:
        return queue.parse(spec)
    return queue.pop()


def find(faults: tuple[ProviderFault, ...], *kinds: ProviderFaultKind) -> ProviderFault | None:
    return next((fault for fault in faults if fault.kind in kinds), None)


async def before_answer(request: web.Request, faults: tuple[ProviderFault, ...]) -> bool:
    """Apply slow-first-byte; True when disconnect-before-response dropped the connection."""
    if slow := find(faults, ProviderFaultKind.SLOW_FIRST_BYTE):
        await asyncio.sleep(slow.seconds or 0.0)
    if find(faults, ProviderFaultKind.DISCONNECT_BEFORE_RESPONSE):
        # aiohttp then fails to send the returned response and drops it quietly.
        request.protocol.force_close()
        return True
    return False


def stream_controls(
    faults: tuple[ProviderFault, ...],
    items: int,
    default_events: int,
    interrupt_with: Callable[[ProviderFault], bytes],
) -> tuple[Interruption | None, Silence | None]:
    """Where a stream of ``items`` is cut (and with what) and where it falls silent."""
    interruption = silence = None
    if cut := find(faults, *STREAM_CUTS):
        at = min(cut.events if cut.events is not None else default_events, items - 1)
        dropped = cut.kind is ProviderFaultKind.DISCONNECT_MID_STREAM
        interruption = Interruption(at, None if dropped else interrupt_with(cut))
    if pause := find(faults, ProviderFaultKind.PAUSE):
        at = min(pause.events if pause.events is not None else default_events, items - 1)
        silence = Silence(at, pause.seconds or 0.0)
    return interruption, silence
