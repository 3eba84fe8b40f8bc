"""The proxy's own ``ping`` events while a provider is silent. Bedrock's event stream has none, and
Claude Code gives up on a gateway connection after 300 s without a byte (a long thinking block can
be that quiet); Anthropic's API pings by itself, so its bytes are never touched."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp

PING = b'event: ping\ndata: {"type": "ping"}\n\n'


async def chunks_or_silence(content: aiohttp.StreamReader, every_s: float) -> AsyncIterator[bytes | None]:
    """The body's chunks as they arrive, and None after every ``every_s`` seconds without one.

    A timer per read, not a task: cancelling ``readany()`` at the deadline loses nothing (the bytes
    stay in aiohttp's buffer for the next read), and a TimeoutError that is not the deadline's (the
    session's own read timeout) propagates as it would without pings. Bytes already buffered are
    taken without arming a timer: a busy stream's reads mostly find some."""
    while True:
        data = content.read_nowait()
        if data:
            yield data
            continue
        try:
            async with asyncio.timeout(every_s) as deadline:
                data = await content.readany()
        except TimeoutError:
            if deadline.expired():
                yield None
                continue
            raise
        if not data:
            return
        yield data
