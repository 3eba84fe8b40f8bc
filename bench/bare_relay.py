"""The floor: the least a Python proxy on switchyard's stack can do — uvicorn + uvloop + httptools, a
plain ASGI callable, one shared aiohttp session — read the body, forward it with the headers, relay
the answer chunk by chunk. No auth, no JSON, no routing, no SSE tap, no spans.

Measured beside the proxy, it splits the proxy's added latency into the cost of the hop itself (two
more loopback connections, HTTP parsed twice more, a wake-up on another core) and switchyard's own
work. Run: ``python -m bench.bare_relay --port 4001 --upstream http://127.0.0.1:8787``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import aiohttp
import uvicorn
from yarl import URL

_DROP_REQUEST = frozenset({b"host", b"content-length", b"connection", b"transfer-encoding"})
_DROP_RESPONSE = frozenset({b"connection", b"transfer-encoding", b"keep-alive"})


class BareRelay:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._relay(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), auto_decompress=False)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.session is not None:
                    await self.session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _relay(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert self.session is not None
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in scope["headers"] if n not in _DROP_REQUEST]
        query = scope.get("query_string", b"")
        target = self.upstream + scope["raw_path"].decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        async with self.session.request(scope["method"], URL(target, encoded=True), data=b"".join(chunks),
                                        headers=headers, skip_auto_headers=("User-Agent", "Accept", "Content-Type"),
                                        allow_redirects=False) as response:
            relayed = [(n.lower(), v) for n, v in response.raw_headers if n.lower() not in _DROP_RESPONSE]
            await send({"type": "http.response.start", "status": response.status, "headers": relayed})
            async for chunk in response.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_relay", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args(argv)
    # The same server settings as proxy/server.py, so only the application differs.
    uvicorn.run(BareRelay(args.upstream), host="127.0.0.1", port=args.port, loop="uvloop", http="httptools",
                lifespan="on", access_log=False, server_header=False, date_header=False, log_level="warning",
                timeout_keep_alive=75)


if __name__ == "__main__":
    main()
