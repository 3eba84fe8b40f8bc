"""`switchyard alerts test` against loopback channels, and the loop jobs running the detector after
their round: a hanging channel does not hold the round up."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from store.engine import make_engine
from store.testing import migrated_sqlite_url
from switchyard.alert_delivery import AlertSender
from switchyard.alert_detect import AlertDetector
from switchyard.alert_settings import AlertSettings, WebhookChannel
from switchyard.cli import app
from switchyard.loop_jobs import LoopJobs, LoopSettings
from switchyard.up import UpOptions, run_up
from tests.alerts.receiver import WebhookReceiver
from tests.loopback import serve_in_thread

SECRET = "loopback-secret-0123456789"


def test_alerts_test_reports_each_channel_and_fails_when_one_does(monkeypatch: pytest.MonkeyPatch) -> None:
    good, bad = WebhookReceiver(secret=SECRET), WebhookReceiver(status=500)
    with serve_in_thread(good, lifespan="off") as good_url, serve_in_thread(bad, lifespan="off") as bad_url:
        monkeypatch.setenv("SWITCHYARD_ALERT_WEBHOOKS", json.dumps([
            {"url": good_url + "/in", "secret": SECRET, "name": "ops"},
            {"url": bad_url + "/services/T0/B0/TOKENPART", "kind": "slack"}]))
        result = CliRunner().invoke(app, ["alerts", "test"])
        assert result.exit_code == 1, result.output
        assert "ok     ops: HTTP 204" in result.output
        assert "FAILED slack:127.0.0.1: HTTP 500" in result.output
        assert "TOKENPART" not in result.output and SECRET not in result.output
        assert [r.signature_ok for r in good.received] == [True] and good.received[0].json()["kind"] == "test"
        monkeypatch.setenv("SWITCHYARD_ALERT_WEBHOOKS", json.dumps([{"url": good_url, "secret": SECRET}]))
        assert CliRunner().invoke(app, ["alerts", "test"]).exit_code == 0


def test_bad_settings_name_the_problem_without_echoing_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHYARD_ALERT_WEBHOOKS", json.dumps([{"url": "https://h.example.com/TOKENPART",
                                                                  "secret": "short"}]))
    result = CliRunner().invoke(app, ["alerts", "test"])
    assert result.exit_code == 2 and "secret of at least 16" in result.output
    assert "TOKENPART" not in result.output


def test_a_value_that_is_not_json_is_refused_without_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHYARD_ALERT_WEBHOOKS", '[{"url": "https://h.example.com/TOKENPART", ')
    result = CliRunner().invoke(app, ["alerts", "test"])
    assert result.exit_code == 2 and 'field "webhooks"' in result.output and "not valid JSON" in result.output
    assert "TOKENPART" not in result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not a traceback


def test_up_refuses_bad_alert_settings_before_starting_anything(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHYARD_ALERT_WEBHOOKS", json.dumps([{"url": "https://h.example.com/x"}]))
    with pytest.raises(typer.Exit) as stopped:
        run_up(UpOptions(data_dir=tmp_path / "data"))
    assert stopped.value.exit_code == 2
    assert not (tmp_path / "data" / "logs").exists()  # no process was started


def test_the_loop_runs_the_detector_after_its_round_and_a_hanging_channel_does_not_hold_it(tmp_path: Path) -> None:
    engine = make_engine(migrated_sqlite_url(tmp_path))
    hanging = WebhookReceiver(hang_s=2.0, status=500)
    with serve_in_thread(hanging, lifespan="off") as url:
        from store.policies import activate, create_version
        from store.proposals import create_proposal
        from tests.control.policies import document, policy

        create_version(engine, policy("v1"), actor="admin")
        activate(engine, "v1", actor="admin")
        create_proposal(engine, parent_version="v1", candidate_version="v2", document=document("v2", "v1"),
                        diff={}, evidence={}, actor="optimizer")
        settings = AlertSettings(webhooks=[WebhookChannel(url=url, secret=SECRET, name="hang")],
                                 timeout_s=3.0, retries=5, backoff_s=1.0)
        jobs = LoopJobs(engine, LoopSettings(window=timedelta(days=1), trials=5),
                        alerts=AlertDetector(engine, settings, AlertSender(settings)))
        started = time.monotonic()
        jobs.run_once()
        elapsed = time.monotonic() - started
        assert jobs.status.alerts == "1 new alert(s), 1 post(s) queued", jobs.status
        # posting in the round would take ≥ 6 attempts × 2 s (plus back-off); the round did not wait
        assert elapsed < 10, f"{elapsed:.1f} s"
        assert jobs.alerts is not None
        jobs.alerts.sender.close(timeout_s=0.5)  # what `jobs --once` does: the post given up is a dead letter
        assert jobs.alerts.sender.metrics.registry.get_sample_value(
            "switchyard_alert_dead_letters_total", {"channel": "hang", "reason": "failed"}) == 1
    engine.dispose()
