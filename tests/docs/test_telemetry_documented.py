"""Every span attribute the proxy emits, every attribute ingest adds to telemetry rows and every
Prometheus metric either service exposes is documented in docs/telemetry.md."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry

from core.spans import BUDGET_EVENT_PREFIX, Turn, turns_to_request
from ingest.metrics import IngestMetrics
from ingest.metrics_decode import METRIC_COUNT, METRIC_KIND, METRIC_UNIT, METRIC_VALUE
from ingest.pipeline import ATTRIBUTION, DEVELOPER, KEY_ID, TEAM
from proxy.metrics import ProxyMetrics
from proxy.stats import ExportStats
from switchyard.alert_delivery import AlertMetrics

DOC = (Path(__file__).resolve().parents[2] / "docs" / "telemetry.md").read_text()


def every_field_set() -> Turn:
    """A turn with every field holding a value, so every attribute the encoder knows is emitted."""
    values: dict[str, object] = {}
    for field in dataclasses.fields(Turn):
        kind = str(field.type)
        if field.name in ("trace_id", "span_id"):
            values[field.name] = b"\x01" * (16 if field.name == "trace_id" else 8)
        elif field.name in ("start_ns", "end_ns"):
            values[field.name] = 1_750_000_000_000_000_000
        elif "tuple" in kind:
            values[field.name] = ("x",)
        elif "bool" in kind:
            values[field.name] = True
        elif "float" in kind:
            values[field.name] = 0.5
        elif "int" in kind:
            values[field.name] = 500
        else:
            values[field.name] = "soft" if field.name == "budget_state" else "x"
    return Turn(**values)  # type: ignore[arg-type]


def test_every_span_attribute_and_event_is_documented() -> None:
    request = turns_to_request([every_field_set()])
    span = request.resource_spans[0].scope_spans[0].spans[0]
    keys = {kv.key for kv in span.attributes} | {kv.key for kv in request.resource_spans[0].resource.attributes}
    assert len(keys) > 40  # the turn above really sets every field
    missing = sorted(key for key in keys if f"`{key}`" not in DOC)
    assert missing == [], f"span attributes missing from docs/telemetry.md: {missing}"
    for state in ("soft", "hard"):
        assert f"`{BUDGET_EVENT_PREFIX}{state}`" in DOC


def test_every_attribute_ingest_adds_to_telemetry_is_documented() -> None:
    for key in (ATTRIBUTION, DEVELOPER, TEAM, KEY_ID, METRIC_VALUE, METRIC_UNIT, METRIC_KIND, METRIC_COUNT):
        assert f"`{key}`" in DOC, key


def _families(registry: CollectorRegistry) -> set[str]:
    return {family.name for family in registry.collect()}


@pytest.mark.parametrize("service", ["proxy", "ingest", "jobs"])
def test_every_prometheus_metric_is_documented(service: str) -> None:
    if service == "proxy":
        # what the collector reads of the exporter at scrape time: its counters and its backlog
        exporter = SimpleNamespace(stats=ExportStats(), pending=0)
        registry = ProxyMetrics(lambda: exporter).registry  # type: ignore[arg-type,return-value]
    elif service == "jobs":
        registry = AlertMetrics.create().registry
    else:
        registry = IngestMetrics.create().registry
    names = _families(registry)
    assert names
    missing = sorted(name for name in names if f"`{name}`" not in DOC)
    assert missing == [], f"{service} metrics missing from docs/telemetry.md: {missing}"
