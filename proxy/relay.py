"""One upstream call: send the request, relay the response to the client as its bytes arrive.

The response is never buffered and never held back for a fixed chunk size: each chunk aiohttp
has read is written to the client before the SSE tap looks at it. A failure after the first byte
has been relayed cannot be hidden any more; for a stream it becomes an Anthropic-shaped ``error``
event, so the client sees a clean, well-formed end.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass

import aiohttp
import orjson
from yarl import URL

from core.policy.schema import Target
from core.sse import StreamSummary, StreamTap, summarize_message

from .asgi import Send
from .errors import UpstreamFailure
from .headers import client_response_headers

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
class RelayResult:
    status: int = 0
    held: HeldResponse | None = None
    first_byte_ns: int | None = None
    summary: StreamSummary | None = None
    error_type: str | None = None
    error_message: str | None = None
    upstream_request_id: str | None = None
    tap: StreamTap | None = None  # while a stream is relayed: what it has counted so far (journal checkpoints)


def error_event(error_type: str, message: str) -> bytes:
    data = orjson.dumps({"type": "error", "error": {"type": error_type, "message": message}})
    return b"event: error\ndata: " + data + b"\n\n"


async def relay(
    session: aiohttp.ClientSession,
    target: Target,
    method: str,
    path_and_query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    send: Send,
    result: RelayResult,
    *,
    hold_statuses: frozenset[int] | tuple[int, ...] = (),
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Forward one request to ``target`` and stream the answer through ASGI ``send``, filling in
    ``result`` as it goes (so a caller sees how far it got, even when this raises).

    An answer whose status is in ``hold_statuses`` is read but not sent: it lands in
    ``result.held`` for the fallback logic. Raises :class:`UpstreamFailure` when the upstream could
    not be reached, or failed, before any byte was sent."""
    url = URL(target.base_url.rstrip("/") + path_and_query, encoded=True)
    data = (io.BytesIO(body) if len(body) > _STREAM_BODY_ABOVE else body) if body else None
    try:
        async with session.request(
            method, url, data=data, headers=headers,
            skip_auto_headers=_SKIP_AUTO_HEADERS, allow_redirects=False,
        ) as response:
            result.upstream_request_id = response.headers.get("request-id")
            if response.status in hold_statuses:
                result.held = HeldResponse(response.status, client_response_headers(response.raw_headers),
                                           await response.read(), _retry_after(response))
                return
            result.status = response.status
            headers = client_response_headers(response.raw_headers)
            await send({"type": "http.response.start", "status": response.status,
                        "headers": headers + extra_headers if extra_headers else headers})
            await _relay_body(response, send, result)
    except aiohttp.ClientConnectorError as exc:
        raise UpstreamFailure("connect", f"upstream {target.name} is unreachable: {exc.strerror or exc}",
                              status=502) from exc
    except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
        if result.status:
            raise
        raise UpstreamFailure("timeout", f"upstream {target.name} did not answer in time", status=504) from exc
    except aiohttp.ClientError as exc:
        if result.status:
            raise
        raise UpstreamFailure("disconnect", f"upstream {target.name} failed before answering: {type(exc).__name__}",
                              status=502) from exc


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    """``retry-after`` in whole seconds, as Anthropic sends it (an HTTP date is not used there)."""
    value = response.headers.get("retry-after", "")
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


async def _relay_body(response: aiohttp.ClientResponse, send: Send, result: RelayResult) -> None:
    content_type = response.headers.get("content-type", "")
    streaming = content_type.startswith("text/event-stream")
    tap = result.tap = StreamTap() if streaming else None
    parts: list[bytes] | None = None if streaming else []
    size = 0
    try:
        async for chunk in response.content.iter_any():
            if result.first_byte_ns is None:
                result.first_byte_ns = time.perf_counter_ns()
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
        result.error_type = kind
        result.error_message = f"upstream stream ended early: {type(exc).__name__}"
        if tap is None:
            # A JSON body cut short cannot be repaired; returning without finishing the response
            # makes the server close the connection, so the client sees the truncation.
            return
        await send({"type": "http.response.body", "more_body": True,
                    "body": error_event("api_error", "upstream connection lost mid-stream")})
        tap.feed(error_event("api_error", "upstream connection lost mid-stream"))
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    if tap is not None:
        result.summary = tap.summary()
    elif parts is not None and "json" in content_type:
        result.summary = summarize_message(b"".join(parts))
    if result.summary is not None and result.summary.error_type and result.error_type is None:
        result.error_type = result.summary.error_type
        result.error_message = result.summary.error_message
    if result.error_type is None and response.status >= 400:
        result.error_type = f"http_{response.status}"

