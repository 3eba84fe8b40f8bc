"""Prometheus metrics of one proxy process, in a registry of its own (never the global one)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from .exporter import ExportStats


class _ExportCollector(Collector):
    """Reads the exporter's plain counters at scrape time, so the hot path pays nothing for them."""

    def __init__(self, stats: Callable[[], ExportStats | None]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[CounterMetricFamily]:
        stats = self._stats()
        if stats is None:
            return
        for name, value, doc in (
            ("switchyard_spans_exported", stats.exported, "Turns delivered to ingest"),
            ("switchyard_spans_dropped_queue_full", stats.dropped_queue_full, "Turns dropped: buffer full"),
            ("switchyard_spans_dropped_export_failed", stats.dropped_export_failed,
             "Turns dropped: export failed"),
            ("switchyard_span_export_failed_batches", stats.failed_batches, "Export batches that failed"),
            ("switchyard_spans_spooled", stats.spooled, "Turns written to the disk spool"),
            ("switchyard_spans_redelivered", stats.redelivered, "Spooled turns delivered later"),
            ("switchyard_spans_dropped_spool_full", stats.dropped_spool_full, "Turns dropped: spool full"),
        ):
            yield CounterMetricFamily(name, doc, value=value)


class ProxyMetrics:
    def __init__(self, export_stats: Callable[[], ExportStats | None]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "switchyard_proxy_requests", "Requests answered, by status class and origin",
            ["code", "origin"], registry=self.registry,
        )
        self.ttfb = Histogram(
            "switchyard_proxy_ttfb_seconds", "Time from request to first relayed body byte",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=self.registry,
        )
        self.registry.register(_ExportCollector(export_stats))

    def render(self) -> bytes:
        return generate_latest(self.registry)
