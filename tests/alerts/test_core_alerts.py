"""The pure part: signatures, payload shapes, which events a channel takes, and when a budget or a
rate makes an alert."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import pytest

from core.alerts import (
    AUDIT_APPROVE,
    AUDIT_REGRESSION,
    AUDIT_REJECT,
    PAGES,
    RateWindow,
    Spend,
    budget_alerts,
    encode,
    generic_payload,
    matches,
    probe_alert,
    rate_alerts,
    signature,
    slack_payload,
    verify,
)
from core.policy.schema import Budget
from dashboard.views import attribution, failures, findings, overview, policies, proposals, routes
from optimizer.watch import REGRESSION
from store.proposals import _ACTION

NOW = datetime(2026, 12, 3, 12, 0, 0)
SECRET = "s3cret-s3cret-s3cret"


def test_a_signature_verifies_and_any_change_breaks_it() -> None:
    body = encode({"a": 1})
    header = signature(SECRET, 1_800_000_000, body)
    assert header.startswith("t=1800000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify(SECRET, header, body, now=1_800_000_010)
    assert not verify(SECRET, header, encode({"a": 2}), now=1_800_000_010)  # body changed
    assert not verify("another-secret-entirely", header, body, now=1_800_000_010)  # wrong key
    assert not verify(SECRET, header, body, now=1_800_000_000 + 301)  # replayed too late
    forged = header.replace("t=1800000000", "t=1800000300")  # a new time with the old digest
    assert not verify(SECRET, forged, body, now=1_800_000_300)
    assert not verify(SECRET, "garbage", body, now=1_800_000_000)


def test_payloads_link_into_the_dashboard_and_slack_gets_its_shape() -> None:
    alert = budget_alerts([Budget(scope="team", name="*", monthly_usd=Decimal(100))],
                          [Spend("team", "web <ops>", Decimal("85"))], "2026-12", NOW)[0]
    generic = generic_payload(alert, "https://sy.example.com/")
    assert generic["link"] == "https://sy.example.com/attribution"
    assert generic["kind"] == "budget.soft" and generic["facts"]["principal"] == "web <ops>"
    assert generic["at"] == "2026-12-03T12:00:00Z"
    slack = slack_payload(alert, "https://sy.example.com")
    assert set(slack) == {"text", "blocks"} and "https://sy.example.com/attribution" in slack["text"]
    section = slack["blocks"][0]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert "<https://sy.example.com/attribution|" in section["text"]["text"]
    assert "web &lt;ops&gt;" in section["text"]["text"]  # Slack's control characters escaped
    assert generic_payload(alert, None)["link"] is None
    json.loads(encode(slack))


def test_each_kind_links_to_the_page_that_shows_it() -> None:
    assert PAGES == {"budget": attribution.PATH, "proposal": proposals.PATH, "policy": policies.PATH,
                     "cluster": failures.PATH, "rate": routes.PATH, "spool": overview.PATH,
                     "secret": findings.PATH, "test": overview.PATH}


def test_the_audit_actions_followed_are_the_stores() -> None:
    assert (_ACTION["approved"], _ACTION["rejected"]) == (AUDIT_APPROVE, AUDIT_REJECT)
    assert AUDIT_REGRESSION == REGRESSION


@pytest.mark.parametrize(("kind", "patterns", "expected"), [
    ("budget.hard", ["*"], True), ("budget.hard", ["budget"], True), ("budget.hard", ["budget.hard"], True),
    ("budget.soft", ["budget.hard"], False), ("budgets.x", ["budget"], False), ("rate.errors", [], False),
])
def test_channel_events(kind: str, patterns: list[str], expected: bool) -> None:
    assert matches(kind, patterns) is expected


def test_budget_thresholds_the_worse_state_only_and_a_key_per_month() -> None:
    budgets = [Budget(scope="developer", name="*", monthly_usd=Decimal(100), soft=0.8, hard=1.0),
               Budget(scope="developer", name="alice", monthly_usd=Decimal(1000))]
    spend = [Spend("developer", "bob", Decimal("79.99")), Spend("developer", "carol", Decimal("80")),
             Spend("developer", "dave", Decimal("100")), Spend("developer", "alice", Decimal("100")),
             Spend("team", "web", Decimal("10_000"))]
    alerts = budget_alerts(budgets, spend, "2026-12", NOW)
    assert [(a.kind, a.key) for a in alerts] == [
        ("budget.soft", "budget.soft:developer:carol:2026-12"),
        ("budget.hard", "budget.hard:developer:dave:2026-12")]  # alice has her own $1000; no team budget
    assert alerts[1].severity == "critical" and "block" in alerts[1].text


def test_rates_need_enough_turns_and_clear_when_back_under() -> None:
    firing, clear = rate_alerts(RateWindow(turns=40, errors=10, fallbacks=2), minutes=10, error_rate=0.2,
                                fallback_rate=0.2, min_turns=20, at=NOW)
    assert [a.key for a in firing] == ["rate.errors"] and clear == ["rate.fallbacks"]
    assert firing[0].facts["rate"] == 0.25
    firing, clear = rate_alerts(RateWindow(turns=5, errors=5, fallbacks=5), minutes=10, error_rate=0.2,
                                fallback_rate=0.2, min_turns=20, at=NOW)
    assert firing == [] and clear == ["rate.errors", "rate.fallbacks"]


def test_the_probe_is_a_test_kind() -> None:
    assert probe_alert(NOW).kind == "test"


def test_the_verification_snippet_in_the_docs_accepts_our_signature_and_refuses_a_changed_body() -> None:
    import re
    import time
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "alerts.md").read_text()
    snippet = re.search(r"```python\n(.*?)```", doc, re.S)
    assert snippet is not None
    namespace: dict[str, object] = {}
    exec(snippet.group(1), namespace)
    check = namespace["verify"]
    body = encode(generic_payload(probe_alert(NOW), None))
    header = signature(SECRET, int(time.time()), body)
    assert check(SECRET, header, body) is True  # type: ignore[operator]
    assert check(SECRET, header, body + b" ") is False  # type: ignore[operator]
    assert check(SECRET, signature(SECRET, int(time.time()) - 3600, body), body) is False  # type: ignore[operator]
