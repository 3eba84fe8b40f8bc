"""The fake Anthropic upstream: a background-thread server for tests and a standalone process.

In tests::

    with FakeUpstream(UpstreamConfig(event_interval_s=0.02)) as upstream:
        upstream.inject("429:7")               # the next /v1/messages answers 429, retry-after 7
        httpx.post(upstream.base_url + "/v1/messages", ...)
        upstream.requests[-1].header("anthropic-beta")

Standalone (benchmarks, the demo)::

    python -m sim.upstream --host 127.0.0.1 --port 8787 --event-interval-ms 20 --text-deltas 18
"""

from __future__ import annotations

import argparse
import asyncio
import threading
from collections.abc import Sequence
from types import TracebackType

from aiohttp import web

from sim.faults import FaultQueue
from sim.request_recorder import RecordedRequest, RequestRecorder
from sim.upstream_app import create_upstream_app
from sim.upstream_config import UpstreamConfig

STARTUP_TIMEOUT_S = 10.0


class FakeUpstream:
    """Runs the fake on 127.0.0.1 (ephemeral port by default) in a thread with its own event loop."""

    def __init__(self, config: UpstreamConfig | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config if config is not None else UpstreamConfig()
        self.faults = FaultQueue()
        self.recorder = RequestRecorder(self.config.recorded_requests_limit)
        self._host = host
        self._requested_port = port
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> FakeUpstream:
        if self._thread is not None:
            raise RuntimeError("FakeUpstream already started")
        self._startup_error = None
        self._thread = threading.Thread(target=self._run_loop, name="fake-anthropic-upstream", daemon=True)
        self._thread.start()
        if not self._ready.wait(STARTUP_TIMEOUT_S):
            raise RuntimeError("fake upstream did not start in time")
        if self._startup_error is not None:
            self._thread.join()
            self._thread = None
            self._ready = threading.Event()
            raise RuntimeError("fake upstream failed to start") from self._startup_error
        return self

    def stop(self) -> None:
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None:
            return
        if loop is not None and stop_event is not None:
            loop.call_soon_threadsafe(stop_event.set)
        thread.join(STARTUP_TIMEOUT_S + self.config.shutdown_timeout_s)
        if thread.is_alive():
            raise RuntimeError("fake upstream thread did not stop")
        # Ready for another start() (a new port unless one was given).
        self._thread, self._loop, self._stop_event, self._port = None, None, None, None
        self._ready = threading.Event()

    def __enter__(self) -> FakeUpstream:
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
        app = create_upstream_app(self.config, self.faults, self.recorder)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=self.config.shutdown_timeout_s)
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
            raise RuntimeError("fake upstream is not running")
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
        """Queue a fault spec (see sim.faults) for the next ``times`` POST /v1/messages requests."""
        self.faults.push(spec, times)

    def wait_for_requests(self, count: int, timeout_s: float = 5.0) -> list[RecordedRequest]:
        return self.recorder.wait_for(count, timeout_s)


def run(host: str, port: int, config: UpstreamConfig) -> None:
    """Serve until interrupted (SIGINT/SIGTERM), on uvloop when it is installed."""
    try:
        import uvloop  # optional: faster, and what the benchmarks run on

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    web.run_app(
        create_upstream_app(config),
        host=host,
        port=port,
        access_log=None,
        shutdown_timeout=config.shutdown_timeout_s,
        print=lambda _: print(f"fake Anthropic upstream on http://{host}:{port}", flush=True),
        loop=loop,
    )


def config_from_args(args: argparse.Namespace) -> UpstreamConfig:
    return UpstreamConfig(
        event_interval_s=args.event_interval_ms / 1000,
        first_event_delay_s=args.first_event_delay_ms / 1000,
        instant=args.instant,
        text_deltas=args.text_deltas,
        split_multibyte_writes=not args.no_split_writes,
        split_write_pause_s=args.split_pause_ms / 1000,
        model_override=args.model_override,
        expected_api_key=args.api_key,
        default_retry_after_s=args.retry_after,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sim.upstream", description="Fake Anthropic Messages API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--event-interval-ms", type=float, default=0.0, help="pause between SSE events")
    parser.add_argument("--first-event-delay-ms", type=float, default=0.0, help="pause before the first event")
    parser.add_argument("--text-deltas", type=int, default=8, help="text_delta events per text answer")
    parser.add_argument("--instant", action="store_true", help="no pauses at all (saturation benchmarks)")
    parser.add_argument("--no-split-writes", action="store_true", help="do not split multi-byte characters")
    parser.add_argument("--split-pause-ms", type=float, default=2.0, help="pause between the two halves")
    parser.add_argument("--model-override", default=None, help="answer with this model id")
    parser.add_argument("--api-key", default=None, help="require this key (x-api-key or bearer)")
    parser.add_argument("--retry-after", type=int, default=1, help="retry-after seconds on injected 429s")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    run(args.host, args.port, config_from_args(args))


if __name__ == "__main__":
    main()
