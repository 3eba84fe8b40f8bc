"""Each event detected from a real store (SQLite and PostgreSQL), posted to a loopback receiver that
checks the signature, and announced once: across rounds, across a restart, and per principal and
month for budgets however many turns cross."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine

from optimizer.watch import REGRESSION
from store.audit import append, audited
from store.cluster_runs import write_cluster_run
from store.policies import activate, create_version, rollback
from store.proposals import create_proposal, set_status
from store.rows import Pricing, turn_row
from store.testing import sample_turn
from store.writer import write_turns
from switchyard.alert_delivery import AlertSender
from switchyard.alert_detect import AlertDetector
from switchyard.alert_settings import AlertSettings, WebhookChannel
from tests.alerts.receiver import WebhookReceiver
from tests.control.policies import document, policy
from tests.loopback import serve_in_thread

SECRET = "loopback-secret-0123456789"
NOW = datetime(2026, 11, 15, 12, 0, 0)


@pytest.fixture
def served() -> Iterator[tuple[WebhookReceiver, str]]:
    receiver = WebhookReceiver(secret=SECRET)
    with serve_in_thread(receiver, lifespan="off") as url:
        yield receiver, url


class Round:
    """A jobs process: its detector and sender; ``restart`` is a new process on the same store."""

    def __init__(self, engine: Engine, url: str, **extra: Any) -> None:
        self.engine = engine
        self.settings = AlertSettings(webhooks=[WebhookChannel(url=url, secret=SECRET, name="ops")],
                                      dashboard_url="https://sy.example.com", backoff_s=0.01,
                                      **{"rate_min_turns": 5, **extra})
        self.receiver_count = 0

    def run(self, receiver: WebhookReceiver, now: datetime = NOW) -> list[dict[str, Any]]:
        """One round in a fresh process; the posts it made (each signature verified)."""
        detector = AlertDetector(self.engine, self.settings, AlertSender(self.settings))
        try:
            detector.run_once(now)
        finally:
            detector.close()
        new = receiver.received[self.receiver_count:]
        self.receiver_count = len(receiver.received)
        assert all(r.signature_ok for r in new)
        return [r.json() for r in new]


def store_turns(engine: Engine, start: datetime, count: int, *, cost: str = "0.01", **overrides: Any) -> None:
    first = int(start.replace(tzinfo=UTC).timestamp() * 1e9)
    offset = store_turns.__dict__.setdefault("next", 0)
    store_turns.next = offset + count  # type: ignore[attr-defined]
    rows = [turn_row(sample_turn(offset + i, start_ns=first + i * 1_000_000, end_ns=first + i * 1_000_000 + 10**9,
                                 **overrides), Pricing(Decimal(cost), True), start) for i in range(count)]
    write_turns(engine, rows)


def active_with_budgets(engine: Engine, *budgets: dict[str, Any]) -> None:
    create_version(engine, policy("v1", budgets=list(budgets)), actor="admin", now=NOW - timedelta(days=3))
    activate(engine, "v1", actor="admin", now=NOW - timedelta(days=3))


def test_a_budget_crossing_is_announced_once_per_principal_and_threshold_per_month(
        db_engine: Engine, served: tuple[WebhookReceiver, str]) -> None:
    receiver, url = served
    active_with_budgets(db_engine, {"scope": "developer", "name": "*", "monthly_usd": "10", "soft": 0.5, "hard": 1.0})
    jobs = Round(db_engine, url)
    store_turns(db_engine, NOW - timedelta(hours=2), 60, cost="0.1", developer="alice")  # $6: past soft
    store_turns(db_engine, NOW - timedelta(hours=2), 10, cost="0.1", developer="bob")  # $1: ok
    posts = jobs.run(receiver)
    assert [(p["kind"], p["facts"]["principal"]) for p in posts] == [("budget.soft", "alice")]
    assert posts[0]["link"] == "https://sy.example.com/attribution"
    store_turns(db_engine, NOW - timedelta(hours=1), 10, cost="0.1", developer="alice")  # $7: still soft
    assert jobs.run(receiver) == []  # more turns, the same crossing: nothing new
    store_turns(db_engine, NOW - timedelta(minutes=30), 40, cost="0.1", developer="alice")  # $11: hard
    assert [p["kind"] for p in jobs.run(receiver)] == ["budget.hard"]
    assert jobs.run(receiver) == []  # a restart (a new process) does not announce it again
    december = datetime(2026, 12, 1, 9)
    store_turns(db_engine, december - timedelta(hours=1), 60, cost="0.1", developer="alice")
    assert [p["facts"]["month"] for p in jobs.run(receiver, december)] == ["2026-12"]  # a new month


def test_a_waiting_proposal_its_decision_and_an_automatic_rollback(
        db_engine: Engine, served: tuple[WebhookReceiver, str]) -> None:
    receiver, url = served
    active_with_budgets(db_engine)
    jobs = Round(db_engine, url)
    first = create_proposal(db_engine, parent_version="v1", candidate_version="v2", document=document("v2", "v1"),
                            diff={}, evidence={"rationale": "cheaper at the same quality"}, actor="optimizer",
                            now=NOW - timedelta(hours=1))
    posts = jobs.run(receiver)
    assert [(p["kind"], p["facts"]["proposal"]) for p in posts] == [("proposal.pending", first.id)]
    assert posts[0]["link"] == "https://sy.example.com/proposals" and "cheaper" in posts[0]["text"]
    assert jobs.run(receiver) == []
    set_status(db_engine, first.id, "rejected", actor="alice", note="not on a Friday", now=NOW - timedelta(minutes=5))
    second = create_proposal(db_engine, parent_version="v1", candidate_version="v3", document=document("v3", "v1"),
                             diff={}, evidence={}, actor="optimizer", now=NOW - timedelta(minutes=4))
    set_status(db_engine, second.id, "approved", actor="bob", now=NOW - timedelta(minutes=3))
    posts = jobs.run(receiver)
    assert sorted((p["kind"], p["facts"]["proposal"]) for p in posts) == sorted([
        ("proposal.rejected", first.id), ("proposal.approved", second.id)])
    assert any("not on a Friday" in p["text"] for p in posts)
    # the guard rolls v2 back (store.policies.rollback, then its own audit entry, as optimizer.watch does)
    create_version(db_engine, policy("v2", "v1"), actor="bob", now=NOW - timedelta(minutes=3))
    activate(db_engine, "v2", actor="bob", now=NOW - timedelta(minutes=3))
    rollback(db_engine, actor="optimizer.watch", now=NOW - timedelta(minutes=1))
    audited(db_engine, lambda c: append(c, at=NOW - timedelta(minutes=1), actor="optimizer.watch", action=REGRESSION,
                                        subject="v2", detail={"why": "realised quality fell by 0.05",
                                                              "restored": "v1", "rolled_back": "v2"}))
    posts = jobs.run(receiver)
    assert [(p["kind"], p["severity"], p["link"]) for p in posts] == [
        ("policy.auto_rollback", "critical", "https://sy.example.com/policies")]
    assert "quality fell" in posts[0]["text"]
    assert jobs.run(receiver) == []


def test_decisions_older_than_the_lookback_are_not_announced(db_engine: Engine,
                                                             served: tuple[WebhookReceiver, str]) -> None:
    receiver, url = served
    active_with_budgets(db_engine)
    old = create_proposal(db_engine, parent_version="v1", candidate_version="v2", document=document("v2", "v1"),
                          diff={}, evidence={}, actor="optimizer", now=NOW - timedelta(days=5))
    set_status(db_engine, old.id, "approved", actor="bob", now=NOW - timedelta(days=5))
    assert Round(db_engine, url).run(receiver) == []  # a new install of alerts does not replay history


def cluster_row(run_id: str, number: int, name: str, trend: str, created_at: datetime) -> dict[str, Any]:
    return {"run_id": run_id, "cluster": number, "created_at": created_at,
            "window_start": created_at - timedelta(days=7),
            "window_end": created_at, "name": name, "size": 40, "cost_usd": Decimal("1.5"), "trend": trend,
            "window_counts": [2, 3, 10, 25], "features": {"signal": "tool_failure"}, "examples": []}


def test_a_cluster_turning_rising_is_announced_once_per_episode(db_engine: Engine,
                                                                served: tuple[WebhookReceiver, str]) -> None:
    receiver, url = served
    jobs = Round(db_engine, url)
    write_cluster_run(db_engine, [cluster_row("r1", 0, "Bash failures", "steady", NOW - timedelta(hours=3)),
                                  cluster_row("r1", 1, "Edit failures", "rising", NOW - timedelta(hours=3))], [])
    posts = jobs.run(receiver)
    assert [(p["kind"], p["facts"]["cluster"], p["link"]) for p in posts] == [
        ("cluster.rising", "Edit failures", "https://sy.example.com/failures")]
    write_cluster_run(db_engine, [cluster_row("r2", 0, "Edit failures", "rising", NOW - timedelta(hours=2))], [])
    assert jobs.run(receiver) == []  # still rising: the same episode
    write_cluster_run(db_engine, [cluster_row("r3", 0, "Edit failures", "steady", NOW - timedelta(hours=1))], [])
    assert jobs.run(receiver) == []
    write_cluster_run(db_engine, [cluster_row("r4", 0, "Edit failures", "rising", NOW - timedelta(minutes=5))], [])
    assert [p["kind"] for p in jobs.run(receiver)] == ["cluster.rising"]  # rising again: a new episode


def test_error_and_fallback_rates_over_the_threshold_for_the_window(db_engine: Engine,
                                                                    served: tuple[WebhookReceiver, str]) -> None:
    receiver, url = served
    jobs = Round(db_engine, url, rate_minutes=10, error_rate=0.3, fallback_rate=0.5)
    store_turns(db_engine, NOW - timedelta(minutes=30), 20, status_code=529, error_type="overloaded_error")  # before
    store_turns(db_engine, NOW - timedelta(minutes=8), 6)
    store_turns(db_engine, NOW - timedelta(minutes=7), 4, status_code=529, error_type="overloaded_error",
                fallback_hops=("anthropic",))
    posts = jobs.run(receiver)  # 4 of 10 failed (40 % ≥ 30 %); 4 of 10 fell back (< 50 %)
    assert [(p["kind"], p["facts"]["count"], p["facts"]["turns"]) for p in posts] == [("rate.errors", 4, 10)]
    assert posts[0]["link"] == "https://sy.example.com/routes"
    store_turns(db_engine, NOW - timedelta(minutes=6), 2, fallback_hops=("anthropic", "bedrock"))
    posts = jobs.run(receiver)  # still failing: no repeat; now 6 of 12 fell back
    assert [(p["kind"], p["facts"]["count"]) for p in posts] == [("rate.fallbacks", 6)]
    later = NOW + timedelta(minutes=30)  # quiet: the episodes end
    assert jobs.run(receiver, later) == []
    store_turns(db_engine, later - timedelta(minutes=2), 10, status_code=500, error_type="api_error")
    assert [p["kind"] for p in jobs.run(receiver, later)] == ["rate.errors"]  # a new episode


def _blocked(rule: str, fingerprint: str, message: int = 4) -> tuple[str, ...]:
    return (json.dumps({"rule": rule, "message": message, "block": 0, "kind": "tool_result", "line": 3,
                        "offset": 12, "fingerprint": fingerprint}),)


def test_a_blocked_secret_is_announced_once_per_developer_and_secret(
        db_engine: Engine, served: tuple[WebhookReceiver, str]) -> None:
    receiver, url = served
    jobs = Round(db_engine, url)
    store_turns(db_engine, NOW - timedelta(minutes=20), 3, developer="alice", team="payments", repo="web",
                status_code=400, error_type="invalid_request_error", guardrail="blocked",
                secret_findings=_blocked("github_token", "a" * 24))  # a blocked request retried twice
    store_turns(db_engine, NOW - timedelta(minutes=10), 2, developer="bob", guardrail="flagged",
                secret_findings=_blocked("aws_access_key_id", "b" * 24))  # flagged: no alert
    posts = jobs.run(receiver)
    assert [(p["kind"], p["facts"]["developer"], p["facts"]["fingerprint"]) for p in posts] == [
        ("secret.blocked", "alice", "a" * 24)]
    assert posts[0]["link"] == "https://sy.example.com/findings"
    assert "a GitHub token in a tool result (messages[4].content[0]), line 3" in posts[0]["text"]
    assert jobs.run(receiver) == []  # the same secret blocked again: already announced
    store_turns(db_engine, NOW - timedelta(minutes=5), 1, developer="alice", guardrail="blocked",
                status_code=400, secret_findings=_blocked("private_key", "c" * 24, message=8))
    assert [p["facts"]["fingerprint"] for p in jobs.run(receiver)] == ["c" * 24]  # another secret


def test_a_failing_channel_never_slows_a_round(db_engine: Engine) -> None:
    hanging = WebhookReceiver(hang_s=1.0)
    active_with_budgets(db_engine, {"scope": "developer", "name": "*", "monthly_usd": "1"})
    for number in range(30):
        store_turns(db_engine, NOW - timedelta(hours=1), 1, cost="2", developer=f"dev-{number}")
    with serve_in_thread(hanging, lifespan="off") as url:
        settings = AlertSettings(webhooks=[WebhookChannel(url=url, secret=SECRET, name="hang")],
                                 timeout_s=0.3, retries=3, backoff_s=0.05)
        sender = AlertSender(settings)
        detector = AlertDetector(db_engine, settings, sender)
        started = time.monotonic()
        report = detector.run_once(NOW)
        elapsed = time.monotonic() - started
        assert report.new == 30 and report.queued == 30
        assert elapsed < 5, f"a round with 30 alerts to a hanging channel took {elapsed:.2f} s"
        sender.close(timeout_s=0.5)
        dead = sender.metrics.registry.get_sample_value("switchyard_alert_dead_letters_total",
                                                        {"channel": "hang", "reason": "failed"})
        assert dead == 30
