"""Faults the fake upstream can inject, and the thread-safe queue tests fill from their own thread.

A fault spec is a comma list of items that apply to ONE request (e.g.
``slow-first-byte:0.5,error-event``):

- ``429`` / ``429:<retry-after seconds>``, ``529``, ``500`` or any 4xx/5xx status: an Anthropic error
- ``disconnect-before-response``: close the TCP connection without answering
- ``disconnect-mid-stream`` / ``disconnect-mid-stream:<events>``: send some events, then drop
- ``slow-first-byte:<seconds>``: wait before the first byte of the response
- ``error-event`` / ``error-event:<events>``: an SSE ``error`` event (overloaded_error) mid-stream
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

FAULT_HEADER = "x-sim-fault"


class FaultKind(StrEnum):
    HTTP_ERROR = "http-error"
    DISCONNECT_BEFORE_RESPONSE = "disconnect-before-response"
    DISCONNECT_MID_STREAM = "disconnect-mid-stream"
    SLOW_FIRST_BYTE = "slow-first-byte"
    ERROR_EVENT = "error-event"


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind
    # HTTP_ERROR: the status; SLOW_FIRST_BYTE: seconds; *_MID_STREAM/ERROR_EVENT: events let through.
    value: float | None = None
    # HTTP_ERROR 429 only: the retry-after seconds (None: the server's default).
    retry_after_s: int | None = None


def _parse_item(item: str) -> Fault:
    name, _, argument = item.strip().partition(":")
    if name.isdigit():
        status = int(name)
        if not 400 <= status <= 599:
            raise ValueError(f"fault status must be 4xx or 5xx, got {status}")
        retry_after = int(argument) if argument else None
        if retry_after is not None and retry_after < 0:
            raise ValueError("retry-after must not be negative")
        return Fault(FaultKind.HTTP_ERROR, float(status), retry_after)
    try:
        kind = FaultKind(name)
    except ValueError:
        raise ValueError(f"unknown fault {item!r}") from None
    if kind is FaultKind.HTTP_ERROR:
        raise ValueError("use the status code itself, e.g. '529'")
    if kind is FaultKind.SLOW_FIRST_BYTE and not argument:
        raise ValueError("slow-first-byte needs seconds, e.g. 'slow-first-byte:1.5'")
    value = float(argument) if argument else None
    if value is not None and value < 0:
        raise ValueError(f"fault argument must not be negative: {item!r}")
    return Fault(kind, value)


def parse_faults(spec: str) -> tuple[Fault, ...]:
    """Parse a fault spec; raises ValueError with a message meant for the test author."""
    return tuple(_parse_item(item) for item in spec.split(",") if item.strip())


F = TypeVar("F")


class FaultQueue(Generic[F]):
    """Faults consumed one entry per request, in order; filled from any thread.

    ``parser`` reads a spec: the fake Anthropic's grammar by default, the providers' (sim.provider_faults)
    for the fake Bedrock and the fake Vertex AI.
    """

    def __init__(self, parser: Callable[[str], tuple[F, ...]] = parse_faults) -> None:  # type: ignore[assignment]
        self._parser = parser
        self._lock = threading.Lock()
        self._pending: deque[tuple[F, ...]] = deque()

    def parse(self, spec: str) -> tuple[F, ...]:
        """Read ``spec`` in this queue's grammar (what a request's fault header is read with, too)."""
        return self._parser(spec)

    def push(self, spec: str, times: int = 1) -> None:
        """Queue ``spec`` for each of the next ``times`` requests (validated now, not at use)."""
        faults = self._parser(spec)
        with self._lock:
            self._pending.extend([faults] * times)

    def pop(self) -> tuple[F, ...]:
        with self._lock:
            return self._pending.popleft() if self._pending else ()

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)
