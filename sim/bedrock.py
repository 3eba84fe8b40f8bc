"""The fake Amazon Bedrock (bedrock-runtime for Claude, and Bedrock Mantle's Messages route): a
background-thread server for tests and a standalone process, like the fake Anthropic (sim.upstream).

In tests::

    with FakeBedrock(BedrockConfig(pacing=UpstreamConfig(event_interval_s=0.02))) as bedrock:
        bedrock.inject("429")                          # the next model request is throttled
        bedrock.inject("exception:throttlingException:3")  # or cut after 3 chunks by an exception frame
        ... sign with sim.fake_credentials (see sim.bedrock_client) and POST to
            bedrock.base_url + "/model/<model id, URL-encoded>/invoke-with-response-stream"
        bedrock.requests[-1].json()["anthropic_beta"]

Mantle is served by the same fake at ``bedrock.mantle_base_url`` (``…/anthropic``; POST /v1/messages),
signed for the ``bedrock-mantle`` service or with a Bedrock API key.

Standalone (benchmarks, the demo)::

    python -m sim.bedrock --port 8788 --region us-east-1 --event-interval-ms 20 --text-deltas 18
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace

from aiohttp import web

from sim.background_server import ProviderFake, serve_forever
from sim.bedrock_app import create_bedrock_app
from sim.bedrock_config import BedrockConfig
from sim.fake_credentials import TEST_AWS_REGION
from sim.faults import FaultQueue
from sim.provider_faults import ProviderFault, parse_bedrock_faults
from sim.upstream import add_pacing_arguments, config_from_args


class FakeBedrock(ProviderFake):
    thread_name = "fake-bedrock"
    label = "fake Bedrock"
    config: BedrockConfig
    faults: FaultQueue[ProviderFault]

    def __init__(self, config: BedrockConfig | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(config if config is not None else BedrockConfig(), parse_bedrock_faults, host=host, port=port)

    def _create_app(self) -> web.Application:
        return create_bedrock_app(self.config, self.faults, self.recorder)

    @property
    def mantle_base_url(self) -> str:
        """Where an Anthropic client points for Mantle (it appends /v1/messages)."""
        return f"{self.base_url}/anthropic"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sim.bedrock", description="Fake Amazon Bedrock (Claude)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8788)
    parser.add_argument("--region", default=TEST_AWS_REGION, help="the region requests are signed for")
    parser.add_argument("--api-key", action="append", default=[], help="also accept this Bedrock API key")
    parser.add_argument("--max-input-tokens", type=int, default=None, help="longer inputs: 'Input is too long'")
    parser.add_argument("--reject-foreign-signatures", action="store_true",
                        help="refuse thinking blocks this fake did not sign")
    add_pacing_arguments(parser)
    return parser


def config_from(args: argparse.Namespace) -> BedrockConfig:
    config = BedrockConfig(region=args.region, pacing=config_from_args(args), max_input_tokens=args.max_input_tokens,
                           reject_foreign_signatures=args.reject_foreign_signatures)
    return replace(config, api_keys=config.api_keys + tuple(args.api_key))


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    config = config_from(args)
    serve_forever(
        create_bedrock_app(config),
        args.host,
        args.port,
        config.pacing.shutdown_timeout_s,
        lambda: f"fake Bedrock ({config.region}) on http://{args.host}:{args.port}",
    )


if __name__ == "__main__":
    main()
