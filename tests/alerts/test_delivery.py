"""Posting to webhooks on loopback: signed generic posts a receiver verifies, Slack's payload, retries
with back-off, and channels that fail or hang: never slowing the caller, ending as counted dead letters
— with the webhook's path and secret kept out of the logs."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError

from core.alerts import SIGNATURE_HEADER, probe_alert, signature
from switchyard.alert_delivery import AlertSender
from switchyard.alert_settings import AlertSettings, WebhookChannel
from tests.alerts.receiver import WebhookReceiver
from tests.loopback import serve_in_thread, wait_until

SECRET = "loopback-secret-0123456789"
NOW = datetime(2026, 12, 3, 12, 0, 0)


def settings(*channels: dict[str, Any], **extra: Any) -> AlertSettings:
    return AlertSettings(webhooks=[WebhookChannel.model_validate(c) for c in channels],
                         dashboard_url="https://sy.example.com", **{"backoff_s": 0.01, **extra})


@pytest.fixture
def served() -> Iterator[tuple[WebhookReceiver, str]]:
    receiver = WebhookReceiver(secret=SECRET)
    with serve_in_thread(receiver, lifespan="off") as url:
        yield receiver, url


def dead(sender: AlertSender, channel: str, reason: str = "failed") -> float:
    return sender.metrics.registry.get_sample_value("switchyard_alert_dead_letters_total",
                                                    {"channel": channel, "reason": reason}) or 0.0


def test_a_generic_post_is_signed_and_the_receiver_verifies_it(served: tuple[WebhookReceiver, str]) -> None:
    receiver, url = served
    sender = AlertSender(settings({"url": url + "/hook", "secret": SECRET, "name": "ops"}))
    assert sender.submit(probe_alert(NOW)) == 1
    wait_until(lambda: len(receiver.received) == 1, what="the post")
    sender.close()
    got = receiver.received[0]
    assert got.signature_ok is True and got.headers["content-type"] == "application/json"
    assert got.json()["kind"] == "test" and got.json()["link"] == "https://sy.example.com/"
    assert sender.metrics.registry.get_sample_value("switchyard_alerts_sent_total", {"channel": "ops"}) == 1


def test_a_wrong_secret_is_refused_by_the_receiver_and_becomes_a_dead_letter(
        served: tuple[WebhookReceiver, str]) -> None:
    receiver, url = served
    sender = AlertSender(settings({"url": url, "secret": "not-the-receivers-secret", "name": "ops"}))
    sender.submit(probe_alert(NOW))
    sender.close()
    assert [r.signature_ok for r in receiver.received] == [False]  # a 401 is not retried
    assert dead(sender, "ops") == 1


def test_slack_gets_its_payload_unsigned(served: tuple[WebhookReceiver, str]) -> None:
    receiver, url = served
    receiver.secret = None
    sender = AlertSender(settings({"url": url + "/services/T0/B0/xyz", "kind": "slack"}))
    sender.submit(probe_alert(NOW))
    sender.close()
    body = receiver.received[0].json()
    assert set(body) == {"text", "blocks"} and body["blocks"][0]["type"] == "section"
    assert "<https://sy.example.com/|Open in the switchyard dashboard>" in body["blocks"][0]["text"]["text"]
    assert SIGNATURE_HEADER not in receiver.received[0].headers


def test_a_5xx_is_retried_with_back_off_until_it_succeeds(served: tuple[WebhookReceiver, str]) -> None:
    receiver, url = served
    receiver.fail_first = 2
    sender = AlertSender(settings({"url": url, "secret": SECRET, "name": "ops"}, retries=3))
    outcome = sender.deliver(sender.settings.webhooks[0], probe_alert(NOW))
    assert outcome.ok and outcome.attempts == 3 and len(receiver.received) == 3
    assert all(r.signature_ok for r in receiver.received)  # each attempt signed afresh
    sender.close()


def test_a_channel_that_always_fails_never_slows_the_caller_and_ends_in_dead_letters(
        caplog: pytest.LogCaptureFixture) -> None:
    failing = WebhookReceiver(status=500)
    hanging = WebhookReceiver(hang_s=1.0)
    caplog.set_level(logging.INFO)
    with serve_in_thread(failing, lifespan="off") as bad, serve_in_thread(hanging, lifespan="off") as slow:
        sender = AlertSender(settings({"url": bad + "/secret-path-500", "secret": SECRET, "name": "five"},
                                      {"url": slow + "/secret-path-hang", "secret": SECRET, "name": "hang"},
                                      retries=2, timeout_s=0.2))
        started = time.monotonic()
        for _ in range(20):
            assert sender.submit(probe_alert(NOW)) == 2
        submitting = time.monotonic() - started
        assert submitting < 0.5, f"submitting 40 posts took {submitting:.2f} s"
        wait_until(lambda: dead(sender, "five") + dead(sender, "hang") >= 2, timeout=15, what="dead letters")
        sender.close(timeout_s=0.5)
        assert dead(sender, "five") + dead(sender, "hang") == 40  # sent, given up on, or left at shutdown
        assert len(failing.received) >= 3  # the first alert was tried 1 + 2 times
    assert "secret-path" not in caplog.text and SECRET not in caplog.text
    assert "dead letter" in caplog.text


def test_a_full_queue_is_a_dead_letter_not_a_wait() -> None:
    hanging = WebhookReceiver(hang_s=1.0)
    with serve_in_thread(hanging, lifespan="off") as slow:
        sender = AlertSender(settings({"url": slow, "secret": SECRET, "name": "hang"}, queue_size=2,
                                      retries=0, timeout_s=0.5))
        started = time.monotonic()
        queued = sum(sender.submit(probe_alert(NOW)) for _ in range(10))
        assert time.monotonic() - started < 0.5
        assert queued <= 3 and dead(sender, "hang", "queue_full") == 10 - queued
        sender.close(timeout_s=0.2)


@pytest.mark.parametrize(("channel", "problem"), [
    ({"url": "https://hooks.example.com/x"}, "secret of at least 16"),
    ({"url": "https://hooks.example.com/x", "secret": "short"}, "secret of at least 16"),
    ({"url": "http://hooks.example.com/x", "kind": "slack"}, "must be https"),
    ({"url": "ftp://hooks.example.com/x", "kind": "slack"}, "http(s) URL"),
    ({"url": "https://hooks.example.com/x", "kind": "slack", "events": ["budgets"]}, "unknown events"),
    ({"url": "https://hooks.example.com/x", "kind": "email"}, "literal_error"),
])
def test_bad_channels_are_refused_naming_the_problem(channel: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError) as error:
        WebhookChannel.model_validate(channel)
    assert problem in str(error.value) or problem in json.dumps(error.value.errors(), default=str)


def test_settings_come_from_the_environment_and_never_show_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHYARD_ALERT_WEBHOOKS", json.dumps([
        {"url": "https://hooks.slack.com/services/T0/B0/TOKENPART", "kind": "slack", "events": ["budget"]},
        {"url": "https://alerts.example.com/in", "secret": SECRET, "events": ["*"]}]))
    monkeypatch.setenv("SWITCHYARD_DASHBOARD_URL", "https://sy.example.com")
    loaded = AlertSettings()
    assert [c.label for c in loaded.webhooks] == ["slack:hooks.slack.com", "generic:alerts.example.com"]
    assert loaded.dashboard_url == "https://sy.example.com"
    shown = repr(loaded) + repr(loaded.webhooks) + str(loaded.model_dump())
    assert "TOKENPART" not in shown and SECRET not in shown


def test_the_signature_covers_the_exact_body_sent(served: tuple[WebhookReceiver, str]) -> None:
    receiver, url = served
    sender = AlertSender(settings({"url": url, "secret": SECRET}), clock=lambda: 1_800_000_000.0)
    sender.deliver(sender.settings.webhooks[0], probe_alert(NOW), retries=0)
    sender.close()
    got = receiver.received[0]
    assert got.headers[SIGNATURE_HEADER] == signature(SECRET, 1_800_000_000, got.body)


def test_a_redirect_is_not_followed(served: tuple[WebhookReceiver, str]) -> None:
    target, target_url = served
    redirecting = WebhookReceiver(status=307, location=target_url + "/hook")
    with serve_in_thread(redirecting, lifespan="off") as url:
        sender = AlertSender(settings({"url": url, "secret": SECRET, "name": "ops"}))
        outcome = sender.deliver(sender.settings.webhooks[0], probe_alert(NOW))
        sender.close()
    assert not outcome.ok and outcome.detail == "HTTP 307" and outcome.attempts == 1
    assert len(redirecting.received) == 1 and target.received == []


async def endless_answer(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """200, then 128 KiB of body, then nothing more for a long time without ending the response."""
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"x" * 128 * 1024, "more_body": True})
    await asyncio.sleep(3)
    await send({"type": "http.response.body", "body": b""})


def test_only_a_bounded_part_of_an_answer_is_read() -> None:
    with serve_in_thread(endless_answer, lifespan="off") as url:
        sender = AlertSender(settings({"url": url, "secret": SECRET, "name": "ops"}, timeout_s=2.0))
        started = time.monotonic()
        outcome = sender.deliver(sender.settings.webhooks[0], probe_alert(NOW), retries=0)
        elapsed = time.monotonic() - started
        sender.close()
    assert outcome.ok and elapsed < 1.5, (outcome, elapsed)  # not waiting for the rest of the body


def test_posts_go_through_the_configured_egress_proxy(served: tuple[WebhookReceiver, str]) -> None:
    proxy, proxy_url = served  # stands in for a forward proxy: it receives the absolute-form request
    sender = AlertSender(settings({"url": "http://127.0.0.1:9/hook", "secret": SECRET}, https_proxy=proxy_url))
    outcome = sender.deliver(sender.settings.webhooks[0], probe_alert(NOW), retries=0)
    sender.close()
    assert outcome.ok and len(proxy.received) == 1 and proxy.received[0].signature_ok
