"""Writing a streamed answer the way every fake does: paced by UpstreamConfig, one item per transport
write (or two, cut inside an item, so relays must reassemble), optionally interrupted part-way.

The items are whatever the wire carries (SSE records, AWS event-stream frames); the interruption is
either more bytes (an SSE ``error`` event, an exception frame) or a dropped connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

from sim.upstream_config import UpstreamConfig


@dataclass(frozen=True, slots=True)
class Interruption:
    """Before item ``at`` is sent: write ``send`` and end the stream, or (``send`` None) drop the connection."""

    at: int
    send: bytes | None = None


@dataclass(frozen=True, slots=True)
class Silence:
    """Before item ``at`` is sent, say nothing for ``seconds`` (on top of the usual pacing)."""

    at: int
    seconds: float


def split_point(item: bytes) -> int | None:
    """Index inside the first multi-byte UTF-8 character of ``item`` (None for pure ASCII)."""
    if item.isascii():
        return None
    for index, byte in enumerate(item):
        if byte >= 0xC0:  # a lead byte: cutting after it leaves the character's tail for the next write
            return index + 1
    return None


async def send_paced(
    request: web.Request,
    response: web.StreamResponse,
    items: Sequence[bytes],
    pacing: UpstreamConfig,
    *,
    cut: Callable[[bytes], int | None] = split_point,
    interruption: Interruption | None = None,
    silence: Silence | None = None,
) -> None:
    """Send ``items`` one by one; ``cut(item)`` says where to split an item in two writes (None: don't)."""
    for index, item in enumerate(items):
        delay = pacing.pause_before_first_event_s if index == 0 else pacing.pause_between_events_s
        if delay:
            await asyncio.sleep(delay)
        if silence is not None and index == silence.at:
            await asyncio.sleep(silence.seconds)
        if interruption is not None and index == interruption.at:
            if interruption.send is None:
                request.protocol.force_close()
                return
            await response.write(interruption.send)
            break
        await _write(response, item, cut(item) if pacing.split_multibyte_writes else None, pacing.pause_inside_split_s)
    await response.write_eof()


async def _write(response: web.StreamResponse, item: bytes, cut_at: int | None, pause_s: float) -> None:
    if cut_at is None:
        await response.write(item)
        return
    # Deliberately two transport writes with the cut inside the item: relays must cope.
    await response.write(item[:cut_at])
    await asyncio.sleep(pause_s)
    await response.write(item[cut_at:])
