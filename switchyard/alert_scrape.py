"""Read a proxy's span-export counters off its /metrics (Prometheus text), for the spool alerts.
The proxy keeps them in memory (proxy.metrics); the jobs cannot import the proxy, so they ask it
over HTTP like any scraper, with a short timeout, through the transport (the httpx client would
log each URL)."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from core.alerts import SpoolReading

_MAX_BYTES = 4 * 1024 * 1024
PENDING = "switchyard_spans_pending"
LOST = ("switchyard_spans_dead_lettered_total", "switchyard_spans_dropped_queue_full_total",
        "switchyard_spans_dropped_journal_full_total")


class ScrapeError(Exception):
    """The proxy's /metrics could not be read or holds no span-export counters."""


def parse_spool(text: str) -> SpoolReading:
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == PENDING or sample.name in LOST:
                values[sample.name] = sample.value
    if PENDING not in values:
        raise ScrapeError(f"no {PENDING} in the metrics (a proxy without span export?)")
    return SpoolReading(values[PENDING], sum(values.get(name, 0.0) for name in LOST))


def read_spool(url: str, transport: httpx.BaseTransport, timeout_s: float) -> SpoolReading:
    request = httpx.Request("GET", url, extensions={"timeout": httpx.Timeout(timeout_s).as_dict()})
    try:
        response = transport.handle_request(request)
        try:
            body = b""
            for chunk in response.iter_raw():
                body += chunk
                if len(body) > _MAX_BYTES:
                    raise ScrapeError(f"more than {_MAX_BYTES} bytes of metrics")
        finally:
            response.close()
    except httpx.HTTPError as error:
        raise ScrapeError(type(error).__name__) from None
    if response.status_code != 200:
        raise ScrapeError(f"HTTP {response.status_code}")
    try:
        return parse_spool(body.decode("utf-8"))
    except ValueError as error:  # the parser's complaint about malformed text
        raise ScrapeError(f"unreadable metrics: {error}") from None
