"""The upstream seam: what one attempt at one target sends, and what comes back, whatever the
provider. The relay (proxy/relay.py), the fallback chain, the breaker, admission, budgets, the SSE
tap and the spans see only these types, so every provider kind gets all of them unchanged."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
from yarl import URL

from core.policy.schema import Target


@dataclass(slots=True)
class Call:
    """The client's request, as one attempt at one target needs it."""

    method: str
    path: str  # canonical (core/paths.py): what decides the kind of call
    path_and_query: str  # as sent: what an Anthropic-compatible target is sent
    headers: list[tuple[str, str]]  # the client's, names lower-case
    header_map: dict[str, str]
    body: bytes  # with the model the decision gave this target (Anthropic kind)
    model: str | None  # the model id for this target (the provider's own id for other providers)
    parsed: dict[str, Any] | None = None  # the JSON body, for providers that rewrite it


@dataclass(slots=True)
class Outgoing:
    url: URL
    headers: list[tuple[str, str]]
    body: bytes
    dropped: tuple[str, ...] = ()  # capabilities the provider would have refused (capabilities.yaml)


async def _no_chunks() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover  (makes this an async generator)


@dataclass(slots=True)
class Answer:
    """An upstream's answer in Anthropic's shape: SSE or JSON bytes, whatever the provider spoke."""

    status: int
    headers: list[tuple[bytes, bytes]]
    chunks: AsyncIterator[bytes] = field(default_factory=_no_chunks)
    request_id: str | None = None
    retry_after_s: float | None = None
    content_type: str = ""

    @property
    def streaming(self) -> bool:
        return self.content_type.startswith("text/event-stream")

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks])


class Upstream(Protocol):
    """One provider kind."""

    async def outgoing(self, target: Target, call: Call, key: str | None) -> Outgoing:
        """The request to send: URL, headers with credentials, body. ``key`` is the target's
        provider key (None when the client's own credential is forwarded, or the target uses a
        cloud credential chain). Raises ProxyError (e.g. 501 not_supported) or UpstreamFailure
        (``credentials``) instead of sending."""
        ...

    async def answer(self, response: aiohttp.ClientResponse) -> Answer:
        """The provider's response made into an Anthropic-shaped answer (read lazily)."""
        ...


def answer_headers(content_type: str, request_id: str | None, *more: tuple[bytes, bytes]) -> list[tuple[bytes, bytes]]:
    """The headers of an answer made from another provider's: its content type, the provider's
    request id as Anthropic's ``request-id`` (Claude Code shows it in errors), and ``more``. The
    provider's own headers are not relayed: they are about its wire format, not Anthropic's."""
    headers = [(b"content-type", content_type.encode("latin-1", "replace")), *more]
    if request_id:
        headers.append((b"request-id", request_id.encode("latin-1", "replace")))
    return headers


def json_headers(body: bytes, request_id: str | None) -> list[tuple[bytes, bytes]]:
    return answer_headers("application/json", request_id, (b"content-length", str(len(body)).encode()))


async def one_chunk(body: bytes) -> AsyncIterator[bytes]:
    yield body


def retry_after(response: aiohttp.ClientResponse) -> float | None:
    """``retry-after`` in whole seconds, as Anthropic sends it (an HTTP date is not used there)."""
    value = response.headers.get("retry-after", "")
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None
