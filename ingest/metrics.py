"""Prometheus metrics for one ingest app, in its own CollectorRegistry (never the global one, so two
apps in one process — tests, benchmarks — do not collide)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

BATCH_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(frozen=True, slots=True)
class IngestMetrics:
    registry: CollectorRegistry
    accepted: Counter
    rejected: Counter
    duplicates: Counter
    requests: Counter
    batch_seconds: Histogram
    tokens_refused: Counter

    @classmethod
    def create(cls) -> IngestMetrics:
        registry = CollectorRegistry(auto_describe=True)
        return cls(
            registry=registry,
            accepted=Counter("switchyard_ingest_items_accepted", "Spans / log records stored or already stored",
                             ["signal"], registry=registry),
            rejected=Counter("switchyard_ingest_items_rejected", "Spans / log records rejected in partial_success",
                             ["signal"], registry=registry),
            duplicates=Counter("switchyard_ingest_items_duplicate",
                               "Accepted items that were already stored (redelivery)", ["signal"],
                               registry=registry),
            requests=Counter("switchyard_ingest_requests", "Export requests by outcome status code",
                             ["signal", "status"], registry=registry),
            batch_seconds=Histogram("switchyard_ingest_batch_seconds",
                                    "Time to decode, normalise, price, redact and write one batch",
                                    ["signal"], buckets=BATCH_SECONDS_BUCKETS, registry=registry),
            tokens_refused=Counter("switchyard_ingest_tokens_refused",
                                   "Wrong admin or snapshot bearer tokens presented to the control plane",
                                   ["kind"], registry=registry),
        )
