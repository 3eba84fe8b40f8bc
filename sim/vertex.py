"""The fake Google Vertex AI (Claude's rawPredict routes): a background-thread server for tests and a
standalone process, like the fake Anthropic (sim.upstream).

In tests::

    with FakeVertex(VertexConfig(pacing=UpstreamConfig(event_interval_s=0.02))) as vertex:
        vertex.inject("429")                   # the next model request: RESOURCE_EXHAUSTED
        httpx.post(vertex.predict_url("claude-haiku-4-5@20251001"), json=body,
                   headers={"authorization": f"Bearer {TEST_VERTEX_ACCESS_TOKEN}"})
        vertex.requests[-1].header("anthropic-beta")

Standalone (benchmarks, the demo)::

    python -m sim.vertex --port 8789 --project switchyard-test --region us-east5 --event-interval-ms 20
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace

from aiohttp import web

from sim.background_server import ProviderFake, serve_forever
from sim.fake_credentials import TEST_VERTEX_PROJECT, TEST_VERTEX_REGION
from sim.faults import FaultQueue
from sim.provider_faults import ProviderFault, parse_sse_faults
from sim.upstream import add_pacing_arguments, config_from_args
from sim.vertex_app import create_vertex_app
from sim.vertex_config import VertexConfig


class FakeVertex(ProviderFake):
    thread_name = "fake-vertex"
    label = "fake Vertex AI"
    config: VertexConfig
    faults: FaultQueue[ProviderFault]

    def __init__(self, config: VertexConfig | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(config if config is not None else VertexConfig(), parse_sse_faults, host=host, port=port)

    def _create_app(self) -> web.Application:
        return create_vertex_app(self.config, self.faults, self.recorder)

    def predict_url(self, model: str, *, stream: bool = True) -> str:
        """The full URL of a model's (stream)rawPredict for the configured project and region."""
        method = "streamRawPredict" if stream else "rawPredict"
        return (f"{self.base_url}/v1/projects/{self.config.project}/locations/{self.config.region}"
                f"/publishers/anthropic/models/{model}:{method}")

    @property
    def count_tokens_url(self) -> str:
        return self.predict_url("count-tokens", stream=False)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sim.vertex", description="Fake Google Vertex AI (Claude)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8789)
    parser.add_argument("--project", default=TEST_VERTEX_PROJECT)
    parser.add_argument("--region", default=TEST_VERTEX_REGION)
    parser.add_argument("--access-token", action="append", default=[], help="also accept this access token")
    parser.add_argument("--max-input-tokens", type=int, default=None, help="longer inputs: 'prompt is too long'")
    parser.add_argument("--reject-foreign-signatures", action="store_true",
                        help="refuse thinking blocks this fake did not sign")
    add_pacing_arguments(parser)
    return parser


def config_from(args: argparse.Namespace) -> VertexConfig:
    config = VertexConfig(project=args.project, region=args.region, pacing=config_from_args(args),
                          max_input_tokens=args.max_input_tokens,
                          reject_foreign_signatures=args.reject_foreign_signatures)
    return replace(config, access_tokens=config.access_tokens + tuple(args.access_token))


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    config = config_from(args)
    serve_forever(
        create_vertex_app(config),
        args.host,
        args.port,
        config.pacing.shutdown_timeout_s,
        lambda: f"fake Vertex AI ({config.project}, {config.region}) on http://{args.host}:{args.port}",
    )


if __name__ == "__main__":
    main()
