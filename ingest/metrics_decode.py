"""OTLP metrics (Claude Code's ``claude_code.cost.usage``, ``claude_code.token.usage``, …) → one
telemetry event per data point, so they take the logs pipeline (bounds, hashing, redaction) and
land in the logs table beside Claude Code's events: ``event_name`` is the metric's name, the
point's attributes (``session.id``, ``model``, ``type`` …) are kept, and the value goes in
``metric.value`` with ``metric.unit`` and ``metric.kind``.

Telemetry only: nothing here creates or changes spend (turns come only from proxies' spans).
Sums, gauges, histograms and summaries are kept (a histogram or summary as its sum and count);
exponential histograms are rejected with a reason. Each metric is decoded on its own, so one bad
metric never costs the rest of the request.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from core.spans import any_value, python_value
from ingest import otlp_json
from ingest.body import Encoding
from ingest.decode import Batch, LogItem
from ingest.errors import UndecodableBodyError
from ingest.wire import WireClasses

METRIC_VALUE = "metric.value"
METRIC_UNIT = "metric.unit"
METRIC_KIND = "metric.kind"
METRIC_COUNT = "metric.count"


class UnsupportedMetricError(ValueError):
    pass


def _points(metric: Metric) -> Iterator[tuple[Any, float | int, dict[str, object]]]:
    """(point, value, extra attributes) for every data point of ``metric``."""
    kind = metric.WhichOneof("data")
    if kind in ("sum", "gauge"):
        for point in getattr(metric, kind).data_points:
            value = point.as_int if point.WhichOneof("value") == "as_int" else point.as_double
            yield point, value, {METRIC_KIND: kind}
    elif kind in ("histogram", "summary"):
        for point in getattr(metric, kind).data_points:
            yield point, point.sum, {METRIC_KIND: kind, METRIC_COUNT: point.count}
    else:
        raise UnsupportedMetricError(f"metric {metric.name!r}: {kind or 'no data'} is not stored "
                                     "(sum, gauge, histogram and summary are)")


def metric_items(metric: Metric, resource_attributes: dict[str, Any]) -> list[LogItem]:
    if not metric.name:
        raise UnsupportedMetricError("a metric without a name")
    items = []
    for point, value, extra in _points(metric):
        record = LogRecord(time_unix_nano=point.time_unix_nano, event_name=metric.name)
        record.attributes.extend(point.attributes)
        for key, item in ((METRIC_VALUE, value), (METRIC_UNIT, metric.unit or None), *extra.items()):
            if item is not None:
                record.attributes.append(KeyValue(key=key, value=any_value(item)))
        items.append(LogItem(record, resource_attributes))
    return items


class MetricsDecoder:
    def __init__(self, wire: WireClasses, max_item_bytes: int) -> None:
        self._wire = wire
        self._max_item_bytes = max_item_bytes

    def data_points(self, body: bytes, encoding: Encoding) -> Batch[LogItem]:
        """Every data point as a LogItem; a metric that cannot be decoded rejects its index."""
        batch: Batch[LogItem] = Batch()
        for index, (parsed, resource_attributes) in enumerate(self._metrics(body, encoding)):
            if isinstance(parsed, str):
                batch.reject(index, parsed)
                continue
            try:
                items = metric_items(parsed, resource_attributes)
            except UnsupportedMetricError as error:
                batch.reject(index, str(error))
                continue
            batch.items.extend((index, item) for item in items)
        return batch

    def _metrics(self, body: bytes, encoding: Encoding) -> Iterator[tuple[Metric | str, dict[str, Any]]]:
        """(the metric, or why it cannot be decoded; its resource's attributes)."""
        if encoding is Encoding.JSON:
            for resource_json, item in otlp_json.walk(otlp_json.load_document(body), "resourceMetrics",
                                                      "scopeMetrics", "metrics"):
                try:
                    resource = otlp_json.parse_resource_attributes(resource_json, Resource())
                    metric = otlp_json.parse_item(item, Metric())
                except otlp_json.ItemDecodeError as error:
                    yield str(error), {}
                    continue
                yield self._sized(metric), {kv.key: python_value(kv.value) for kv in resource.attributes}
            return
        try:
            request = self._wire.metrics_request.FromString(body)
        except DecodeError as error:
            raise UndecodableBodyError(
                f"body is not a valid OTLP ExportMetricsServiceRequest protobuf: {error}") from error
        for resource_metrics in request.resource_metrics:
            raws = [raw for scope in resource_metrics.scope_metrics for raw in scope.metrics]
            try:
                resource = Resource.FromString(resource_metrics.resource)
            except DecodeError as error:
                yield from ((f"invalid resource protobuf: {error}", {}) for _ in raws)
                continue
            attributes = {kv.key: python_value(kv.value) for kv in resource.attributes}
            for raw in raws:
                if len(raw) > self._max_item_bytes:
                    yield f"encoded size {len(raw)} bytes exceeds the per-item limit of {self._max_item_bytes}", {}
                    continue
                try:
                    yield Metric.FromString(raw), attributes
                except DecodeError as error:
                    yield f"invalid metric protobuf: {error}", {}

    def _sized(self, metric: Any) -> Metric | str:
        size = metric.ByteSize()
        if size > self._max_item_bytes:
            return f"encoded size {size} bytes exceeds the per-item limit of {self._max_item_bytes}"
        return metric  # type: ignore[no-any-return]
