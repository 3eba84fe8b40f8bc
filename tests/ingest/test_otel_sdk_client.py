"""The real OpenTelemetry Python SDK exporter as the client of ingest under uvicorn."""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal

import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import Engine

from core.pricing import Usage, builtin_price_table
from store.queries import rollup_frame, turns_frame
from tests.ingest.conftest import INGESTED_AT, PROXY_AUTH

# an hour before the test app's "now": inside the bounds ingest puts on a turn's start
START_NS = int(INGESTED_AT.replace(tzinfo=UTC).timestamp()) * 10**9 - 3600 * 10**9


def record_spans(count: int) -> list:  # type: ignore[type-arg]
    """Spans made by the SDK's own tracer, gen_ai attributes as another instrumentation would set them."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "some-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    for i in range(count):
        span = tracer.start_span("chat claude-sonnet-4-5", kind=SpanKind.CLIENT, start_time=START_NS + i)
        span.set_attributes({
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.response.model": "claude-sonnet-4-5-20250929",
            "gen_ai.usage.input_tokens": 1_000 + 500 + 2_000,  # the sum of all three parts
            "gen_ai.usage.cache_creation.input_tokens": 500,
            "gen_ai.usage.cache_read.input_tokens": 2_000,
            "gen_ai.usage.output_tokens": 300 + i,
            "gen_ai.conversation.id": f"conv-{i % 2}",
            "gen_ai.response.finish_reasons": ["end_turn"],
            "switchyard.developer": "dev-a",
        })
        span.end(end_time=START_NS + i + 2_000_000_000)
    provider.shutdown()
    return list(memory.get_finished_spans())


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_sdk_spans_land_with_tokens_and_cost_and_a_resend_changes_nothing(
    base_url: str, db_engine: Engine, compression: Compression
) -> None:
    spans = record_spans(6)
    exporter = OTLPSpanExporter(endpoint=f"{base_url}/v1/traces", compression=compression, timeout=10,
                                headers=PROXY_AUTH)
    try:
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        rollup = rollup_frame(db_engine, by=("hour", "developer", "model"))
        assert exporter.export(spans) is SpanExportResult.SUCCESS  # redelivery
    finally:
        exporter.shutdown()
    frame = turns_frame(db_engine)
    assert frame.height == 6
    assert rollup_frame(db_engine, by=("hour", "developer", "model")).equals(rollup)
    assert rollup["requests"].to_list() == [6]
    row = frame.filter(frame["span_id"] == format(spans[2].context.span_id, "016x")).row(0, named=True)
    assert row["trace_id"] == format(spans[2].context.trace_id, "032x")
    assert (row["input_tokens"], row["cache_creation_tokens"], row["cache_read_tokens"], row["output_tokens"]) == (
        1_000, 500, 2_000, 302)
    assert row["session_id"] == "conv-0" and row["stop_reason"] == "end_turn"
    expected = builtin_price_table().cost(
        "claude-sonnet-4-5-20250929", Usage(1_000, 302, 500, 0, 2_000), row["started_at"].date()
    )
    assert row["priced"] and row["cost_usd"] == expected.usd.quantize(Decimal("1e-9")) > 0
    assert row["duration_ms"] == pytest.approx(2_000.0, abs=0.01)
