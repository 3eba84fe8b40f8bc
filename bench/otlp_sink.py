"""A minimal OTLP/HTTP traces sink, so the proxy's span export is on (and paid for) during a benchmark.

Answers 200 to ``POST /v1/traces`` and counts requests, bytes and spans; ``GET /stats`` returns the
counts as JSON. Run: ``python -m bench.otlp_sink --port 4318``.
"""

from __future__ import annotations

import argparse
import gzip
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass
class SinkCounts:
    requests: int = 0
    bytes: int = 0
    spans: int = 0


def create_sink_app() -> web.Application:
    counts = SinkCounts()
    empty_response = ExportTraceServiceResponse().SerializeToString()

    async def traces(request: web.Request) -> web.Response:
        body = await request.read()
        counts.requests += 1
        counts.bytes += len(body)
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        export = ExportTraceServiceRequest.FromString(body)
        counts.spans += sum(len(ss.spans) for rs in export.resource_spans for ss in rs.scope_spans)
        return web.Response(body=empty_response, content_type="application/x-protobuf")

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(asdict(counts))

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/traces", traces)
    app.router.add_get("/stats", stats)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.otlp_sink", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4318)
    args = parser.parse_args(argv)
    web.run_app(create_sink_app(), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
