"""One upstream call: send the request the target's provider kind makes of it, and relay the answer
to the client as its bytes arrive.

The response is never buffered and never held back for a fixed chunk size: each chunk is written to
the client before the SSE tap looks at it. A failure after the first byte has been relayed cannot be
hidden any more; for a stream it becomes an Anthropic-shaped ``error`` event, so the client sees a
clean, well-formed end. Which provider answered makes no difference here: the seam
(proxy/providers/seam.py) has already made its answer Anthropic's shape.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass

import aiohttp
import orjson

from core.policy.schema import Target
from core.policy.usage_limits import without_upstream_limits
from core.sse import StreamSummary, StreamTap, summarize_message

from .asgi import Send
from .errors import UpstreamFailure
from .providers.seam import Answer, Call, Upstream

# aiohttp adds these unless told not to; the client's own values (if any) are forwarded instead.
_SKIP_AUTO_HEADERS = ("User-Agent", "Accept", "Content-Type")
# aiohttp copies a bytes body in one go on the event loop above 1 MiB; a stream object avoids that.
_STREAM_BODY_ABOVE = 1024 * 1024
# JSON responses larger than this are relayed but not summarised (usage stays unknown).
_SUMMARY_LIMIT = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class HeldResponse:
    """An upstream answer kept back from the client because the chain has somewhere else to go."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    retry_after_s: float | None


@dataclass(slots=True)
class ResponseState:
    """What the client has been sent so far, and what the tap counted: the flow's response half,
    filled in as the relay goes (so the journal and the span see how far it got, even on a raise)."""

    status: int = 0
    first_byte_ns: int | None = None
    summary: StreamSummary | None = None
    error_type: str | None = None
    error_message: str | None = None
    upstream_request_id: str | None = None
    tap: StreamTap | None = None  # while a stream is relayed: what it has counted so far (journal checkpoints)
    dropped: tuple[str, ...] = ()  # what the serving provider was not sent (capabilities.yaml)


def error_event(error_type: str, message: str) -> bytes:
    data = orjson.dumps({"type": "error", "error": {"type": error_type, "message": message}})
    return b"event: error\ndata: " + data + b"\n\n"


async def relay(
    session: aiohttp.ClientSession, upstream: Upstream, target: Target, call: Call, key: str | None,
    send: Send, state: ResponseState, *, hold_statuses: frozenset[int] = frozenset(),
    extra_headers: list[tuple[bytes, bytes]] | None = None,
    usage_headers: list[tuple[bytes, bytes]] | None = None,
) -> HeldResponse | None:
    """Forward ``call`` to ``target`` and stream the answer through ASGI ``send``.

    An answer whose status is in ``hold_statuses`` is read but not sent: it is returned, for the
    fallback logic. Raises :class:`UpstreamFailure` when the upstream could not be reached, or
    failed, before any byte was sent. ``usage_headers`` (a budget's usage limits, for Claude Code)
    replace the upstream's own ``anthropic-ratelimit-*`` on a successful answer; an error is
    relayed with the upstream's."""
    outgoing = await upstream.outgoing(target, call, key)
    body = outgoing.body
    data = (io.BytesIO(body) if len(body) > _STREAM_BODY_ABOVE else body) if body else None
    try:
        async with session.request(
            call.method, outgoing.url, data=data, headers=outgoing.headers,
            skip_auto_headers=_SKIP_AUTO_HEADERS, allow_redirects=False,
        ) as response:
            answer = await upstream.answer(response)
            state.upstream_request_id = answer.request_id
            if answer.status in hold_statuses:
                return HeldResponse(answer.status, answer.headers, await answer.read(), answer.retry_after_s)
            state.status = answer.status
            state.dropped = outgoing.dropped
            headers = answer.headers
            if usage_headers and answer.status < 400:
                headers = without_upstream_limits(headers) + usage_headers
            await send({"type": "http.response.start", "status": answer.status,
                        "headers": headers + extra_headers if extra_headers else headers})
            await _relay_body(answer, send, state)
            return None
    except aiohttp.ClientConnectorError as exc:
        raise UpstreamFailure("connect", f"upstream {target.name} is unreachable: {exc.strerror or exc}",
                              status=502) from exc
    except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
        if state.status:
            raise
        raise UpstreamFailure("timeout", f"upstream {target.name} did not answer in time", status=504) from exc
    except aiohttp.ClientError as exc:
        if state.status:
            raise
        raise UpstreamFailure("disconnect", f"upstream {target.name} failed before answering: {type(exc).__name__}",
                              status=502) from exc


async def _relay_body(answer: Answer, send: Send, state: ResponseState) -> None:
    streaming = answer.streaming
    tap = state.tap = StreamTap() if streaming else None
    parts: list[bytes] | None = None if streaming else []
    size = 0
    try:
        async for chunk in answer.chunks:
            if state.first_byte_ns is None:
                state.first_byte_ns = time.perf_counter_ns()
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if tap is not None:
                tap.feed(chunk)
            elif parts is not None:
                size += len(chunk)
                if size <= _SUMMARY_LIMIT:
                    parts.append(chunk)
                else:
                    parts = None
    except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError) as exc:
        kind = "upstream_timeout" if isinstance(exc, TimeoutError) else "upstream_disconnected"
        state.error_type = kind
        state.error_message = f"upstream stream ended early: {type(exc).__name__}"
        if tap is None:
            # A JSON body cut short cannot be repaired; returning without finishing the response
            # makes the server close the connection, so the client sees the truncation.
            return
        await send({"type": "http.response.body", "more_body": True,
                    "body": error_event("api_error", "upstream connection lost mid-stream")})
        tap.feed(error_event("api_error", "upstream connection lost mid-stream"))
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    if tap is not None:
        state.summary = tap.summary()
    elif parts is not None and "json" in answer.content_type:
        state.summary = summarize_message(b"".join(parts))
    if state.summary is not None and state.summary.error_type and state.error_type is None:
        state.error_type = state.summary.error_type
        state.error_message = state.summary.error_message
    if state.error_type is None and answer.status >= 400:
        state.error_type = f"http_{answer.status}"
