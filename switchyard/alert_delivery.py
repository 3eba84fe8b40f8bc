"""Posting alerts to webhooks, off the caller's path: ``submit`` only puts the alert on a bounded
queue (never blocks: a full queue is a dead letter), and one background thread posts each with a
short timeout, retrying with exponential back-off and jitter. What still fails is a dead letter,
counted (``switchyard_alert_dead_letters_total``) and logged by channel label — never the URL (a
Slack webhook's path is its secret), the channel secret, or anything but the alert itself.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from prometheus_client import CollectorRegistry, Counter

from core.alerts import SIGNATURE_HEADER, Alert, encode, generic_payload, matches, signature, slack_payload

from .alert_settings import AlertSettings, WebhookChannel

log = logging.getLogger("switchyard.alerts")
USER_AGENT = "switchyard-alerts/1"
_MAX_RESPONSE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class AlertMetrics:
    registry: CollectorRegistry
    sent: Counter
    dead_letters: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> AlertMetrics:
        registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        return cls(
            registry,
            Counter("switchyard_alerts_sent", "Alerts a webhook accepted (2xx)", ["channel"], registry=registry),
            Counter("switchyard_alert_dead_letters", "Alerts given up on: every retry failed (failed) or the "
                    "send queue was full (queue_full)", ["channel", "reason"], registry=registry),
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    channel: str
    ok: bool
    detail: str  # "HTTP 204", "timed out", ...
    attempts: int


def request_for(channel: WebhookChannel, alert: Alert, dashboard_url: str | None,
                now: int) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one post (signed for generic channels)."""
    if channel.kind == "slack":
        body = encode(slack_payload(alert, dashboard_url))
    else:
        body = encode(generic_payload(alert, dashboard_url))
    headers = {"content-type": "application/json", "user-agent": USER_AGENT}
    if channel.secret is not None:
        headers[SIGNATURE_HEADER] = signature(channel.secret.get_secret_value(), now, body)
    return body, headers


class AlertSender:
    """One per process that detects alerts; ``close`` drains what is queued (up to a deadline)."""

    def __init__(self, settings: AlertSettings, metrics: AlertMetrics | None = None, *,
                 transport: httpx.BaseTransport | None = None, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], bool] | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or AlertMetrics.create()
        self._clock = clock
        self._queue: queue.Queue[tuple[WebhookChannel, Alert] | None] = queue.Queue(maxsize=settings.queue_size)
        self._stop = threading.Event()
        self._wait = sleep or self._stop.wait  # returns True when stopping: back-off ends early
        # The transport itself, not an httpx.Client: the client logs every request's full URL at INFO,
        # and a Slack webhook's URL is its secret. No redirects are followed; a proxy only when set.
        self._transport = transport or httpx.HTTPTransport(proxy=settings.https_proxy)
        self._timeout = httpx.Timeout(settings.timeout_s).as_dict()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, alert: Alert) -> int:
        """Queue ``alert`` for every channel whose events match it; returns how many were queued.
        Never blocks and never raises for a channel's sake."""
        self._ensure_thread()
        queued = 0
        for channel in self.settings.webhooks:
            if not matches(alert.kind, channel.events):
                continue
            try:
                self._queue.put_nowait((channel, alert))
                queued += 1
            except queue.Full:
                self._dead(channel, alert, "queue_full", "the send queue is full")
        return queued

    def deliver(self, channel: WebhookChannel, alert: Alert, *, retries: int | None = None) -> Outcome:
        """Post now, in the caller's thread, retrying (`switchyard alerts test`, and the worker)."""
        retries = self.settings.retries if retries is None else retries
        detail = ""
        for attempt in range(retries + 1):
            if attempt:
                # exponential back-off with full jitter, capped at a minute
                delay = random.uniform(0, min(60.0, self.settings.backoff_s * 2 ** (attempt - 1)))
                if self._wait(delay):
                    return Outcome(channel.label, False, f"stopped while retrying ({detail})", attempt)
            body, headers = request_for(channel, alert, self.settings.dashboard_url, int(self._clock()))
            try:
                status = self._post(channel.url.get_secret_value(), body, headers)
            except httpx.TimeoutException:
                detail = "timed out"
                continue
            except httpx.HTTPError as error:
                detail = f"{type(error).__name__}"  # the message can hold the URL: not logged
                continue
            detail = f"HTTP {status}"
            if 200 <= status < 300:
                self.metrics.sent.labels(channel.label).inc()
                return Outcome(channel.label, True, detail, attempt + 1)
            if status < 500 and status not in (408, 429):
                break  # the receiver refuses this alert (bad signature, bad URL): retrying will not help
        return Outcome(channel.label, False, detail, attempt + 1)

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        request = httpx.Request("POST", url, content=body, headers=headers, extensions={"timeout": self._timeout})
        response = self._transport.handle_request(request)
        try:
            read = 0
            for chunk in response.iter_raw():  # the body is not used: read a little, so the connection ends cleanly
                read += len(chunk)
                if read > _MAX_RESPONSE_BYTES:
                    break
        finally:
            response.close()
        return response.status_code

    def close(self, timeout_s: float = 10.0) -> None:
        """Send what is queued until ``timeout_s``; what is left then is a dead letter."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            with contextlib.suppress(queue.Full):  # then the join below times out and the rest is dead
                self._queue.put(None, timeout=timeout_s)
            thread.join(timeout_s)
            self._stop.set()
            thread.join(5)
        self._stop.set()
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                self._dead(item[0], item[1], "failed", "not sent before shutdown")
        self._transport.close()

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="switchyard-alerts", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            channel, alert = item
            if self._stop.is_set():  # shutting down past the deadline: no new attempts
                self._dead(channel, alert, "failed", "not sent before shutdown")
                continue
            try:
                outcome = self.deliver(channel, alert)
            except Exception as error:  # a boundary: one bad post never ends the sender
                log.exception("alert %s to %s failed", alert.kind, channel.label)
                outcome = Outcome(channel.label, False, type(error).__name__, 0)
            if not outcome.ok:
                self._dead(channel, alert, "failed", f"{outcome.detail} after {outcome.attempts} attempt(s)")

    def _dead(self, channel: WebhookChannel, alert: Alert, reason: str, detail: str) -> None:
        self.metrics.dead_letters.labels(channel.label, reason).inc()
        log.warning("alert %s (%s) to %s is a dead letter: %s", alert.kind, alert.key, channel.label, detail)
