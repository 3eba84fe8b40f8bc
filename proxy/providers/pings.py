"""The proxy's own ``ping`` events while a provider is silent. Bedrock's event stream has none, and
Claude Code gives up on a gateway connection after 300 s without a byte (a long thinking block can
be that quiet); Anthropic's API pings by itself, so its bytes are never touched."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

PING = b'event: ping\ndata: {"type": "ping"}\n\n'


async def with_pings(chunks: AsyncIterator[bytes], every_s: float) -> AsyncIterator[bytes]:
    """``chunks``, with a ping after every ``every_s`` seconds of silence. The pending read is never
    cancelled by a ping (cancelling a generator's step would close it): the next wait resumes it."""
    iterator = aiter(chunks)
    pending: asyncio.Future[bytes] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
            done, _ = await asyncio.wait((pending,), timeout=every_s)
            if not done:
                yield PING
                continue
            try:
                chunk = pending.result()
            except StopAsyncIteration:
                return
            finally:
                pending = None
            yield chunk
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration, Exception):
                await pending
