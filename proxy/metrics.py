"""Prometheus metrics of one proxy process, in a registry of its own (never the global one)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from .exporter import SpanExporter

# (metric, ExportStats field, help): documented in docs/telemetry.md (a test checks it)
EXPORT_COUNTERS = (
    ("switchyard_spans_journaled", "journaled", "Finished turns written to the turn journal"),
    ("switchyard_spans_exported", "exported", "Turns ingest took (stored, or already stored)"),
    ("switchyard_spans_redelivered", "redelivered", "Of those, sent again after a failed attempt or a restart"),
    ("switchyard_spans_recovered", "recovered", "Undelivered turns found in the journal at start-up"),
    ("switchyard_spans_interrupted", "interrupted",
     "Turns that started but never finished before the proxy died, exported as interrupted"),
    ("switchyard_spans_truncated", "truncated", "Spans whose largest values were cut to fit max_span_bytes"),
    ("switchyard_spans_dead_lettered", "dead_lettered", "Spans ingest refused, kept in the dead letters"),
    ("switchyard_spans_dropped_queue_full", "dropped_queue_full",
     "Turns dropped: the journal's write queue was full"),
    ("switchyard_spans_dropped_journal_full", "dropped_journal_full",
     "Undelivered turns dropped, oldest first, at the journal's cap"),
    ("switchyard_span_export_failed_batches", "failed_batches", "Export requests that failed (retried)"),
)


class _ExportCollector(Collector):
    """Reads the exporter's plain counters at scrape time, so the hot path pays nothing for them."""

    def __init__(self, exporter: Callable[[], SpanExporter | None]) -> None:
        self._exporter = exporter

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        exporter = self._exporter()
        if exporter is None:
            return
        for name, field, doc in EXPORT_COUNTERS:
            yield CounterMetricFamily(name, doc, value=getattr(exporter.stats, field))
        yield GaugeMetricFamily("switchyard_spans_pending", "Finished turns in the journal not yet taken by ingest",
                                value=exporter.pending)


class ProxyMetrics:
    def __init__(self, exporter: Callable[[], SpanExporter | None]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "switchyard_proxy_requests", "Requests answered, by status class and origin",
            ["code", "origin"], registry=self.registry,
        )
        self.ttfb = Histogram(
            "switchyard_proxy_ttfb_seconds", "Time from request to first relayed body byte",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=self.registry,
        )
        # Redis calls that failed or timed out (the turn went on with the proxy's own spend view)
        self.redis_failures = Counter(
            "switchyard_redis_failures", "Shared budget store (Redis) calls that failed or timed out, by call",
            ["call"], registry=self.registry,
        )
        # the egress secret guardrail (proxy/guardrails.py, docs/guardrails.md)
        self.guardrail_requests = Counter(
            "switchyard_guardrail_requests", "Messages requests the secret guardrail looked at, by outcome",
            ["outcome"], registry=self.registry,
        )
        self.guardrail_findings = Counter(
            "switchyard_guardrail_findings",
            "Secrets found new to their session and not allow-listed, by rule and action",
            ["rule", "action"], registry=self.registry,
        )
        self.guardrail_unscanned = Counter(
            "switchyard_guardrail_unscanned_blocks", "Content blocks not scanned, by reason (too_large, binary)",
            ["reason"], registry=self.registry,
        )
        self.guardrail_scanned_chars = Counter(
            "switchyard_guardrail_scanned_chars", "Characters scanned (blocks new to their session)",
            registry=self.registry,
        )
        self.guardrail_seconds = Histogram(
            "switchyard_guardrail_seconds", "Time the secret guardrail added to a request",
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5), registry=self.registry,
        )
        self.registry.register(_ExportCollector(exporter))

    def render(self) -> bytes:
        return generate_latest(self.registry)
