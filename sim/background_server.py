"""What every fake server shares: an aiohttp app run on loopback in a thread of its own (tests), or in
the foreground until interrupted (the demo, the benchmarks), plus the fault queue and the request log
tests drive and read from their own thread.

Subclasses say which app to serve (``_create_app``) and name their thread; nothing else differs
between the fake Anthropic API, the fake Bedrock and the fake Vertex AI.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from sim.faults import FaultQueue
from sim.request_recorder import RecordedRequest, RequestRecorder

STARTUP_TIMEOUT_S = 10.0


class FakeServer:
    """Runs ``_create_app()`` on ``host`` (ephemeral port by default) in a thread with its own event loop."""

    thread_name = "fake-server"
    label = "fake server"

    def __init__(
        self, faults: FaultQueue[Any], recorder: RequestRecorder, *, host: str, port: int, shutdown_timeout_s: float
    ) -> None:
        self.faults = faults
        self.recorder = recorder
        self._host = host
        self._requested_port = port
        self._shutdown_timeout_s = shutdown_timeout_s
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    def _create_app(self) -> web.Application:
        raise NotImplementedError

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        self._startup_error = None
        self._thread = threading.Thread(target=self._run_loop, name=self.thread_name, daemon=True)
        self._thread.start()
        if not self._ready.wait(STARTUP_TIMEOUT_S):
            raise RuntimeError(f"{self.label} did not start in time")
        if self._startup_error is not None:
            self._thread.join()
            self._thread = None
            self._ready = threading.Event()
            raise RuntimeError(f"{self.label} failed to start") from self._startup_error
        return self

    def stop(self) -> None:
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None:
            return
        if loop is not None and stop_event is not None:
            loop.call_soon_threadsafe(stop_event.set)
        thread.join(STARTUP_TIMEOUT_S + self._shutdown_timeout_s)
        if thread.is_alive():
            raise RuntimeError(f"{self.label} thread did not stop")
        # Ready for another start() (a new port unless one was given).
        self._thread, self._loop, self._stop_event, self._port = None, None, None, None
        self._ready = threading.Event()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run_loop(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as error:  # reported to start() if it happened before the server was up
            if not self._ready.is_set():
                self._startup_error = error
                self._ready.set()
            else:
                raise
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    async def _serve(self) -> None:
        self._stop_event = asyncio.Event()
        runner = web.AppRunner(self._create_app(), access_log=None, shutdown_timeout=self._shutdown_timeout_s)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._requested_port).start()
            self._port = int(runner.addresses[0][1])
            self._ready.set()
            await self._stop_event.wait()
        finally:
            await runner.cleanup()

    # -- what tests use ----------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"{self.label} is not running")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.recorder.snapshot()

    def clear(self) -> None:
        """Forget recorded requests and queued faults (the prompt cache keeps its memory)."""
        self.recorder.clear()
        self.faults.clear()

    def inject(self, spec: str, times: int = 1) -> None:
        """Queue a fault spec for the next ``times`` model requests (side endpoints never take one)."""
        self.faults.push(spec, times)

    def wait_for_requests(self, count: int, timeout_s: float = 5.0) -> list[RecordedRequest]:
        return self.recorder.wait_for(count, timeout_s)


class ProviderFake(FakeServer):
    """A fake provider (Bedrock, Vertex AI): its config paces answers with an UpstreamConfig (``pacing``)
    and its fault specs are read by ``parser``."""

    def __init__(self, config: Any, parser: Callable[[str], tuple[Any, ...]], *, host: str, port: int) -> None:
        self.config = config
        super().__init__(
            FaultQueue(parser),
            RequestRecorder(config.pacing.recorded_requests_limit),
            host=host,
            port=port,
            shutdown_timeout_s=config.pacing.shutdown_timeout_s,
        )


def serve_forever(
    app: web.Application, host: str, port: int, shutdown_timeout_s: float, banner: Callable[[], str]
) -> None:
    """Serve until interrupted (SIGINT/SIGTERM), on uvloop when it is installed."""
    try:
        import uvloop  # optional: faster, and what the benchmarks run on

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    web.run_app(
        app,
        host=host,
        port=port,
        access_log=None,
        shutdown_timeout=shutdown_timeout_s,
        print=lambda _: print(banner(), flush=True),
        loop=loop,
    )
