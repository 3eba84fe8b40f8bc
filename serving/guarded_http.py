"""uvicorn's httptools protocol with the limits it lacks: the size and number of a request's
headers (431 past them) and a deadline for the headers to arrive (408, then the connection closes).

Without them one client could hold a 64 MB header line in memory, send 100 000 headers that are
all forwarded, or keep a connection open by sending a header byte every few seconds (slowloris).
Counting happens in the parser's callbacks, so the request is refused while its headers arrive,
not after they have all been buffered.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

# Per request line and header: the bytes llhttp hands over beside the values (": ", CRLF).
_LINE_OVERHEAD = 4


@dataclass(frozen=True, slots=True)
class HeaderLimits:
    max_bytes: int = 64 * 1024  # the request line and every header, together
    max_count: int = 100
    timeout_s: float = 15.0  # from the connection (or the end of the last response) to the end of the headers


class _Refused(Exception):
    """Raised inside a parser callback: llhttp stops, and the request is answered with ``status``."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, limits: HeaderLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self._header_bytes = 0
        self._header_count = 0
        self._refusal: tuple[int, str] | None = None
        self._header_deadline: asyncio.TimerHandle | None = None

    # --- the deadline -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_deadline()
        super().connection_lost(exc)

    # Between requests uvicorn's keep-alive timer covers the idle wait; the next request's first
    # byte arms this deadline again (on_message_begin).
    def _arm_deadline(self) -> None:
        self._disarm_deadline()
        self._header_deadline = self.loop.call_later(self.limits.timeout_s, self._headers_too_slow)

    def _disarm_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a response is still being written: pipelined headers wait for it
        self._answer(408, f"request headers not complete within {self.limits.timeout_s:g} s")

    # --- the limits ---------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._refusal is not None:
            return  # already answered; the connection is closing
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self._refusal is not None:
                self._answer(*self._refusal)
                return
            super().send_400_response("Invalid HTTP request received.")
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        self._header_count = 0
        if self._header_deadline is None:
            self._arm_deadline()

    def on_url(self, url: bytes) -> None:
        self._count(len(url) + _LINE_OVERHEAD, headers=0)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + _LINE_OVERHEAD, headers=1)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm_deadline()
        super().on_headers_complete()

    def _count(self, size: int, headers: int) -> None:
        self._header_bytes += size
        self._header_count += headers
        if self._header_bytes > self.limits.max_bytes:
            self._refuse(431, f"request headers exceed {self.limits.max_bytes} bytes")
        if self._header_count > self.limits.max_count:
            self._refuse(431, f"more than {self.limits.max_count} request headers")

    def _refuse(self, status: int, message: str) -> None:
        self._refusal = (status, message)
        raise _Refused(message)

    def _answer(self, status: int, message: str) -> None:
        """A plain-text answer written straight to the socket (no application has seen the request),
        then the connection closes: what is left of the request is never read."""
        self._disarm_deadline()
        self._refusal = (status, message)
        body = message.encode("ascii", "replace")
        self.transport.write(b"".join([
            STATUS_LINE[status], b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: ", str(len(body)).encode(), b"\r\n", b"connection: close\r\n\r\n", body]))
        self.transport.close()


def guarded_protocol(limits: HeaderLimits) -> Any:
    """The protocol factory for ``uvicorn.Config(http=...)``."""
    return functools.partial(GuardedHttpToolsProtocol, limits=limits)
