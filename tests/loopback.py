"""Run an ASGI app under a real uvicorn server on loopback, in a thread, for tests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


@contextmanager
def serve_in_thread(app: Any, *, lifespan: str = "on", port: int = 0, **config: Any) -> Iterator[str]:
    """Yield the base URL (http://127.0.0.1:PORT) of ``app`` served by uvicorn on ``port`` (by default an
    ephemeral one; a fixed one lets a test stop a server and bring it back at the same address)."""
    server = uvicorn.Server(uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan=lifespan, log_level="warning", loop="asyncio",
        http="httptools", access_log=False, server_header=False, date_header=False, **config,
    ))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def wait_until(condition: Callable[[], bool], *, timeout: float = 10, what: str = "condition") -> None:
    """Poll ``condition`` until it holds; fail with ``what`` after ``timeout`` seconds. Background work
    (exporters, servers) finishes on its own schedule, so tests wait for the state, never a fixed time."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


async def read_body(receive: Callable[[], Any]) -> bytes:
    """A whole ASGI request body (for the small loopback apps that stand in for ingest)."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body
