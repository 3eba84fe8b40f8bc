"""Faults the fake Bedrock and the fake Vertex AI can inject (by the ``x-sim-fault`` header or
``fake.inject(spec)``). A spec is a comma list of items that apply to ONE model request::

    429                              an HTTP error in the provider's own shape (any 4xx/5xx)
    too-long                         the provider's "input is too long" 400, word for word
    exception[:<type>][:<events>]    Bedrock: after <events> chunks, an exception frame
                                     (default modelStreamErrorException) ends the 200 stream
    error-event[:<events>]           Vertex AI, Mantle: an SSE error event (overloaded_error) mid-stream
                                     (the fake Bedrock takes both and answers each route in its own way)
    pause:<seconds>[:<events>]       after <events> events, <seconds> of silence, then the rest
    slow-first-byte:<seconds>        wait before answering at all
    disconnect-before-response       close the connection without answering
    disconnect-mid-stream[:<events>] send <events> events, then drop the connection

<events> defaults to the pacing config's ``events_before_fault``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sim.aws_errors import STREAM_EXCEPTIONS


class ProviderFaultKind(StrEnum):
    HTTP_ERROR = "http-error"
    TOO_LONG = "too-long"
    EXCEPTION = "exception"
    ERROR_EVENT = "error-event"
    PAUSE = "pause"
    SLOW_FIRST_BYTE = "slow-first-byte"
    DISCONNECT_BEFORE_RESPONSE = "disconnect-before-response"
    DISCONNECT_MID_STREAM = "disconnect-mid-stream"


COMMON_KINDS = frozenset(
    {
        ProviderFaultKind.HTTP_ERROR,
        ProviderFaultKind.TOO_LONG,
        ProviderFaultKind.PAUSE,
        ProviderFaultKind.SLOW_FIRST_BYTE,
        ProviderFaultKind.DISCONNECT_BEFORE_RESPONSE,
        ProviderFaultKind.DISCONNECT_MID_STREAM,
    }
)
# The fake Bedrock serves Mantle's SSE too: there ``exception`` is an error event, and on the runtime
# route ``error-event`` is a modelStreamErrorException frame.
BEDROCK_KINDS = COMMON_KINDS | {ProviderFaultKind.EXCEPTION, ProviderFaultKind.ERROR_EVENT}
SSE_KINDS = COMMON_KINDS | {ProviderFaultKind.ERROR_EVENT}
STREAM_CUTS = (ProviderFaultKind.EXCEPTION, ProviderFaultKind.ERROR_EVENT, ProviderFaultKind.DISCONNECT_MID_STREAM)


@dataclass(frozen=True, slots=True)
class ProviderFault:
    kind: ProviderFaultKind
    status: int | None = None  # HTTP_ERROR
    seconds: float | None = None  # PAUSE, SLOW_FIRST_BYTE
    events: int | None = None  # EXCEPTION, ERROR_EVENT, PAUSE, DISCONNECT_MID_STREAM (None: the default)
    exception_type: str | None = None  # EXCEPTION


def _number(text: str, item: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"not a number in {item!r}") from None
    if value < 0:
        raise ValueError(f"fault argument must not be negative: {item!r}")
    return value


def _events(text: str, item: str) -> int | None:
    return int(_number(text, item)) if text else None


def _parse_item(item: str) -> ProviderFault:
    name, *arguments = item.strip().split(":")
    if name.isdigit():
        status = int(name)
        if not 400 <= status <= 599 or arguments:
            raise ValueError(f"fault status must be a bare 4xx or 5xx, got {item!r}")
        return ProviderFault(ProviderFaultKind.HTTP_ERROR, status=status)
    try:
        kind = ProviderFaultKind(name)
    except ValueError:
        raise ValueError(f"unknown fault {item!r}") from None
    if kind is ProviderFaultKind.HTTP_ERROR:
        raise ValueError("use the status code itself, e.g. '429'")
    first, second = [*arguments, "", ""][:2]
    two_arguments = (ProviderFaultKind.EXCEPTION, ProviderFaultKind.PAUSE)
    if len(arguments) > 2 or (second and kind not in two_arguments):
        raise ValueError(f"too many arguments in {item!r}")
    if kind is ProviderFaultKind.EXCEPTION:
        if first and first not in STREAM_EXCEPTIONS:
            raise ValueError(f"exception type must be one of {', '.join(STREAM_EXCEPTIONS)}, got {first!r}")
        return ProviderFault(kind, events=_events(second, item), exception_type=first or "modelStreamErrorException")
    if kind in (ProviderFaultKind.PAUSE, ProviderFaultKind.SLOW_FIRST_BYTE):
        if not first:
            raise ValueError(f"{name} needs seconds, e.g. '{name}:1.5'")
        return ProviderFault(kind, seconds=_number(first, item), events=_events(second, item))
    if kind in (ProviderFaultKind.ERROR_EVENT, ProviderFaultKind.DISCONNECT_MID_STREAM):
        return ProviderFault(kind, events=_events(first, item))
    if first:
        raise ValueError(f"{name} takes no argument")
    return ProviderFault(kind)


def parse_provider_faults(spec: str, allowed: frozenset[ProviderFaultKind] = COMMON_KINDS) -> tuple[ProviderFault, ...]:
    """Parse a spec; raises ValueError with a message meant for the test author."""
    faults = tuple(_parse_item(item) for item in spec.split(",") if item.strip())
    for fault in faults:
        if fault.kind not in allowed:
            raise ValueError(f"this fake does not do {fault.kind.value!r}")
    return faults


def parse_bedrock_faults(spec: str) -> tuple[ProviderFault, ...]:
    return parse_provider_faults(spec, BEDROCK_KINDS)


def parse_sse_faults(spec: str) -> tuple[ProviderFault, ...]:
    return parse_provider_faults(spec, SSE_KINDS)
