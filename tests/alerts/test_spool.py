"""The proxy's export spool and dead letters, read off the real proxy metrics (proxy.metrics, served
on loopback): an alert when turns pile up and keep growing, and when more are lost, once per episode;
a proxy restart (counters back to zero) is a new baseline, not an alert."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine

from proxy.metrics import ProxyMetrics
from proxy.stats import ExportStats
from switchyard.alert_delivery import AlertSender
from switchyard.alert_detect import AlertDetector
from switchyard.alert_scrape import ScrapeError, parse_spool
from switchyard.alert_settings import AlertSettings, WebhookChannel
from tests.alerts.receiver import WebhookReceiver
from tests.loopback import serve_in_thread, wait_until

SECRET = "loopback-secret-0123456789"
NOW = datetime(2026, 11, 15, 12, 0, 0)


class FakeProxy:
    """Serves /metrics exactly as the proxy renders it, from counters the test sets."""

    def __init__(self) -> None:
        self.exporter = SimpleNamespace(stats=ExportStats(), pending=0)
        self.metrics = ProxyMetrics(lambda: self.exporter)  # type: ignore[arg-type,return-value]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = self.metrics.render()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain; version=0.0.4")]})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture
def proxy_and_receiver() -> Iterator[tuple[FakeProxy, str, WebhookReceiver, str]]:
    proxy, receiver = FakeProxy(), WebhookReceiver(secret=SECRET)
    with serve_in_thread(proxy, lifespan="off") as proxy_url, serve_in_thread(receiver, lifespan="off") as url:
        yield proxy, proxy_url, receiver, url


def test_spool_growth_and_lost_turns_are_announced_once_per_episode(
        db_engine: Engine, proxy_and_receiver: tuple[FakeProxy, str, WebhookReceiver, str]) -> None:
    proxy, proxy_url, receiver, url = proxy_and_receiver
    settings = AlertSettings(webhooks=[WebhookChannel(url=url, secret=SECRET)],
                             proxy_metrics_urls=[proxy_url + "/metrics"], spool_pending=100, backoff_s=0.01)
    sender = AlertSender(settings)
    detector = AlertDetector(db_engine, settings, sender)
    seen = 0

    def posts() -> list[tuple[str, Any]]:
        nonlocal seen
        queued = detector.run_once(NOW).queued
        wait_until(lambda: len(receiver.received) == seen + queued, what=f"{queued} post(s)")
        new = receiver.received[seen:]
        seen = len(receiver.received)
        assert all(r.signature_ok for r in new)
        return [(r.json()["kind"], r.json()["facts"]) for r in new]

    try:
        proxy.exporter.pending = 50
        assert posts() == []  # the first reading is a baseline; under the threshold anyway
        proxy.exporter.pending = 150
        got = posts()
        assert [k for k, _ in got] == ["spool.pending"] and got[0][1]["pending"] == 150
        proxy.exporter.pending = 300
        assert posts() == []  # still piling up: the same episode
        proxy.exporter.pending = 20
        assert posts() == []  # drained: the episode ends
        proxy.exporter.stats.dead_lettered = 3
        proxy.exporter.stats.dropped_journal_full = 2
        got = posts()
        assert [(k, f["new"]) for k, f in got] == [("spool.dead_letters", 5)]
        assert posts() == []  # no more lost: the episode ends
        proxy.exporter.stats.dead_lettered = 0  # the proxy restarted: counters start over
        proxy.exporter.stats.dropped_journal_full = 0
        assert posts() == []
        proxy.exporter.stats.dropped_queue_full = 1
        assert [k for k, _ in posts()] == ["spool.dead_letters"]
    finally:
        detector.close()


def test_an_unreachable_proxy_is_logged_and_skipped(db_engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    settings = AlertSettings(webhooks=[WebhookChannel(url="http://127.0.0.1:9/x", secret=SECRET)],
                             proxy_metrics_urls=["http://127.0.0.1:9/metrics"], timeout_s=0.5)
    detector = AlertDetector(db_engine, settings, AlertSender(settings))
    try:
        assert detector.run_once(NOW).found == 0
    finally:
        detector.close()
    assert "could not read the spool counters of proxy 127.0.0.1:9: ConnectError" in caplog.text


def test_metrics_without_the_spool_counters_are_refused() -> None:
    with pytest.raises(ScrapeError, match="switchyard_spans_pending"):
        parse_spool("# TYPE other gauge\nother 1\n")
