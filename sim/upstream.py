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
from collections.abc import Sequence

from aiohttp import web

from sim.background_server import FakeServer, serve_forever
from sim.faults import Fault, FaultQueue
from sim.request_recorder import RequestRecorder
from sim.upstream_app import create_upstream_app
from sim.upstream_config import UpstreamConfig


class FakeUpstream(FakeServer):
    """Runs the fake on 127.0.0.1 (ephemeral port by default) in a thread with its own event loop."""

    thread_name = "fake-anthropic-upstream"
    label = "fake upstream"

    def __init__(self, config: UpstreamConfig | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config if config is not None else UpstreamConfig()
        faults: FaultQueue[Fault] = FaultQueue()
        super().__init__(
            faults,
            RequestRecorder(self.config.recorded_requests_limit),
            host=host,
            port=port,
            shutdown_timeout_s=self.config.shutdown_timeout_s,
        )

    def _create_app(self) -> web.Application:
        return create_upstream_app(self.config, self.faults, self.recorder)


def run(host: str, port: int, config: UpstreamConfig) -> None:
    """Serve until interrupted (SIGINT/SIGTERM), on uvloop when it is installed."""
    serve_forever(
        create_upstream_app(config),
        host,
        port,
        config.shutdown_timeout_s,
        lambda: f"fake Anthropic upstream on http://{host}:{port}",
    )


def config_from_args(args: argparse.Namespace) -> UpstreamConfig:
    """The pacing flags (``add_pacing_arguments``) as a config; the other fakes read them the same way."""
    return UpstreamConfig(
        event_interval_s=args.event_interval_ms / 1000,
        first_event_delay_s=args.first_event_delay_ms / 1000,
        instant=args.instant,
        text_deltas=args.text_deltas,
        split_multibyte_writes=not args.no_split_writes,
        split_write_pause_s=args.split_pause_ms / 1000,
        model_override=getattr(args, "model_override", None),
        expected_api_key=getattr(args, "api_key", None),
        default_retry_after_s=getattr(args, "retry_after", 1),
        overloaded_share=getattr(args, "overloaded_share", 0.0),
    )


def add_pacing_arguments(parser: argparse.ArgumentParser) -> None:
    """How fast and in how many pieces an answer streams: the same flags on every fake."""
    parser.add_argument("--event-interval-ms", type=float, default=0.0, help="pause between SSE events")
    parser.add_argument("--first-event-delay-ms", type=float, default=0.0, help="pause before the first event")
    parser.add_argument("--text-deltas", type=int, default=8, help="text_delta events per text answer")
    parser.add_argument("--instant", action="store_true", help="no pauses at all (saturation benchmarks)")
    parser.add_argument("--no-split-writes", action="store_true", help="do not split multi-byte characters")
    parser.add_argument("--split-pause-ms", type=float, default=2.0, help="pause between the two halves")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sim.upstream", description="Fake Anthropic Messages API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    add_pacing_arguments(parser)
    parser.add_argument("--model-override", default=None, help="answer with this model id")
    parser.add_argument("--api-key", default=None, help="require this key (x-api-key or bearer)")
    parser.add_argument("--retry-after", type=int, default=1, help="retry-after seconds on injected 429s")
    parser.add_argument("--overloaded-share", type=float, default=0.0,
                        help="this share of /v1/messages calls answer 529 overloaded_error (0..1)")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    run(args.host, args.port, config_from_args(args))


if __name__ == "__main__":
    main()
