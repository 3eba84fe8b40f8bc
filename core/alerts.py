"""Alerts: what happened that needs a person, as data, and the two webhook payloads built from it.

Pure: the detector (switchyard.alert_detect) reads the store and hands the facts in; the sender
(switchyard.alert_delivery) posts what is built here. Each alert has a dedup ``key``: the detector
claims the key in the store before sending, so one crossing, one proposal or one rollback is
announced once, across restarts and across several jobs processes.

Signature (generic webhooks), the scheme Slack and Stripe use: HMAC-SHA256 under the channel's
secret over ``"<unix seconds>." + body``, sent as ``x-switchyard-signature: t=<unix>,v1=<hex>``. The
timestamp inside the signed text lets a receiver refuse replays older than a few minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from core.policy.schema import Budget

SIGNATURE_HEADER = "x-switchyard-signature"
SIGNATURE_TOLERANCE_S = 300
PAYLOAD_VERSION = 1

Kind = Literal["budget.soft", "budget.hard", "proposal.pending", "proposal.approved", "proposal.rejected",
               "policy.auto_rollback", "cluster.rising", "rate.errors", "rate.fallbacks", "spool.pending",
               "spool.dead_letters", "secret.blocked", "test"]
KINDS: tuple[str, ...] = ("budget.soft", "budget.hard", "proposal.pending", "proposal.approved",
                          "proposal.rejected", "policy.auto_rollback", "cluster.rising", "rate.errors",
                          "rate.fallbacks", "spool.pending", "spool.dead_letters", "secret.blocked", "test")
Severity = Literal["info", "warning", "critical"]

# The dashboard page that shows each kind of thing (dashboard/views/*.PATH).
PAGES: Mapping[str, str] = {
    "budget": "/attribution", "proposal": "/proposals", "policy": "/policies", "cluster": "/failures",
    "rate": "/routes", "spool": "/", "secret": "/findings", "test": "/",
}
# Audit actions the alerts follow (written by store.proposals and optimizer.watch; a test checks
# these equal the store's constants, which core may not import).
AUDIT_APPROVE = "proposal.approve"
AUDIT_REJECT = "proposal.reject"
AUDIT_REGRESSION = "optimizer.regression"
_SLACK_EMOJI = {"info": ":information_source:", "warning": ":warning:", "critical": ":rotating_light:"}


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str  # one of KINDS
    key: str  # dedup key: the same key is announced once
    title: str  # one line
    text: str  # a sentence or two, plain words
    severity: Severity
    at: datetime  # naive UTC: when it happened (or was seen)
    facts: Mapping[str, str | int | float | None] = field(default_factory=dict)

    @property
    def page(self) -> str:
        return PAGES.get(self.kind.split(".", 1)[0], "/")


def matches(kind: str, patterns: Iterable[str]) -> bool:
    """A channel's ``events`` list: ``*``, an exact kind (``budget.hard``) or a family (``budget``)."""
    return any(p == "*" or p == kind or kind.startswith(p + ".") for p in patterns)


def link(alert: Alert, dashboard_url: str | None) -> str | None:
    return None if not dashboard_url else dashboard_url.rstrip("/") + alert.page


# --- payloads ------------------------------------------------------------------------------------
def generic_payload(alert: Alert, dashboard_url: str | None) -> dict[str, Any]:
    return {"version": PAYLOAD_VERSION, "kind": alert.kind, "key": alert.key, "severity": alert.severity,
            "title": alert.title, "text": alert.text, "at": alert.at.isoformat(timespec="seconds") + "Z",
            "link": link(alert, dashboard_url), "facts": dict(alert.facts)}


def slack_payload(alert: Alert, dashboard_url: str | None) -> dict[str, Any]:
    """Slack's incoming-webhook shape (``text`` is the notification fallback; ``blocks`` the message);
    Mattermost and Rocket.Chat accept it too."""
    url = link(alert, dashboard_url)
    headline = f"{_SLACK_EMOJI[alert.severity]} *{_slack_escape(alert.title)}*"
    body = _slack_escape(alert.text) + (f"\n<{url}|Open in the switchyard dashboard>" if url else "")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{headline}\n{body}"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"`{alert.kind}` · "
                                          f"{alert.at.isoformat(timespec='seconds')}Z"}]},
    ]
    return {"text": _slack_escape(alert.title) + (f" {url}" if url else ""), "blocks": blocks}


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn control characters; anything else is shown as written
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def encode(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# --- signature -----------------------------------------------------------------------------------
def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``x-switchyard-signature`` header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, now: int, tolerance_s: int = SIGNATURE_TOLERANCE_S) -> bool:
    """What a receiver does: the header parses, its time is within ``tolerance_s`` of ``now`` and one
    of its ``v1`` digests matches (compared in constant time)."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        parts.setdefault(name, []).append(value)
    stamps = parts.get("t", [])
    if len(stamps) != 1 or not stamps[0].isdigit() or abs(now - int(stamps[0])) > tolerance_s:
        return False
    expected = signature(secret, int(stamps[0]), body).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", []))


# --- events --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Spend:
    scope: str  # developer | team | repo
    name: str
    usd: Decimal


def budget_alerts(budgets: Sequence[Budget], spend: Iterable[Spend], month: str, now: datetime) -> list[Alert]:
    """One alert per principal past its soft or hard share this month (the worse one only). The key
    names the month, so each principal is told once per threshold per month, however many turns."""
    alerts = []
    for item in spend:
        budget = _applicable(budgets, item.scope, item.name)
        if budget is None:
            continue
        soft = budget.limit * Decimal(str(budget.soft))
        hard = budget.limit * Decimal(str(budget.hard))
        severity: Severity
        if item.usd >= hard:
            state, severity, share = "hard", "critical", budget.hard
        elif item.usd >= soft:
            state, severity, share = "soft", "warning", budget.soft
        else:
            continue
        then = (f"its action ({budget.action}) applies to every further turn this month" if state == "hard"
                else f"at {budget.hard:.0%} its action ({budget.action}) applies")
        alerts.append(Alert(
            f"budget.{state}", f"budget.{state}:{item.scope}:{item.name}:{month}",
            f"{item.scope} {item.name} passed the {state} threshold of its monthly budget",
            f"{item.scope} {item.name} has spent ${item.usd:,.2f} in {month}, past {share:.0%} of its "
            f"${budget.limit:,.2f} budget; {then}.",
            severity, now, {"scope": item.scope, "principal": item.name, "month": month,
                            "spent_usd": f"{item.usd:.2f}", "budget_usd": f"{budget.limit:.2f}",
                            "threshold": share, "action": budget.action}))
    return alerts


def _applicable(budgets: Sequence[Budget], scope: str, name: str) -> Budget | None:
    # A principal's own budget replaces the scope's "*" budget (as core.policy.budgets does).
    # Spend here is monthly (from the store): daily and weekly budgets are the proxy's alone.
    budgets = [b for b in budgets if b.cadence == "month"]
    named = next((b for b in budgets if b.scope == scope and b.name == name), None)
    return named or next((b for b in budgets if b.scope == scope and b.name == "*"), None)


def pending_alert(proposal_id: str, parent: str, candidate: str, created_at: datetime,
                  summary: str | None) -> Alert:
    return Alert("proposal.pending", f"proposal.pending:{proposal_id}",
                 f"A policy proposal waits for approval: {parent} → {candidate}",
                 (summary or f"The optimizer proposes {candidate} to replace {parent}.")
                 + " Approve or reject it on the Proposals page.",
                 "info", created_at, {"proposal": proposal_id, "parent": parent, "candidate": candidate})


def audit_alert(seq: int, action: str, subject: str, actor: str, at: datetime,
                detail: Mapping[str, Any]) -> Alert | None:
    """An approval, a rejection or an automatic rollback, from its audit-log entry (None for others)."""
    if action in (AUDIT_APPROVE, AUDIT_REJECT):
        verb = "approved" if action == AUDIT_APPROVE else "rejected"
        note = detail.get("note")
        candidate = str(detail.get("candidate") or "")
        return Alert(f"proposal.{verb}", f"proposal.{verb}:{subject}",
                     f"Policy proposal {candidate or subject} {verb} by {actor}",
                     f"{actor} {verb} the proposal of {candidate or subject}" + (f": {note}" if note else "."),
                     "info", at, {"proposal": subject, "candidate": candidate, "actor": actor, "audit_seq": seq})
    if action == AUDIT_REGRESSION:
        restored = str(detail.get("restored") or "")
        why = str(detail.get("why") or "its realised quality fell")
        return Alert("policy.auto_rollback", f"policy.auto_rollback:{seq}",
                     f"Policy {subject} was rolled back automatically to {restored}",
                     f"{subject} was rolled back to {restored}: {why}.", "critical", at,
                     {"rolled_back": subject, "restored": restored, "audit_seq": seq})
    return None


def rising_alert(name: str, run_id: str, size: int, window_counts: Sequence[int], at: datetime) -> Alert:
    return Alert("cluster.rising", f"cluster.rising:{name}", f"Failure mode rising: {name}",
                 f"The failure cluster \u201c{name}\u201d ({size} turns) is rising: its share of turns per window "
                 f"went {' → '.join(str(c) for c in window_counts)}.", "warning", at,
                 {"cluster": name, "run_id": run_id, "size": size})


@dataclass(frozen=True, slots=True)
class RateWindow:
    turns: int
    errors: int
    fallbacks: int


def rate_alerts(window: RateWindow, *, minutes: float, error_rate: float, fallback_rate: float,
                min_turns: int, at: datetime) -> tuple[list[Alert], list[str]]:
    """(alerts for rates over their threshold, keys of rates back under theirs). A rate's key stays
    claimed while it is over, so one episode is one alert; once under, the key is released."""
    firing, clear = [], []
    for kind, count, threshold, words in (("rate.errors", window.errors, error_rate, "failed"),
                                          ("rate.fallbacks", window.fallbacks, fallback_rate, "fell back")):
        rate = count / window.turns if window.turns else 0.0
        if window.turns >= min_turns and rate >= threshold:
            firing.append(Alert(kind, kind, f"{rate:.0%} of turns {words} in the last {minutes:g} minutes",
                                f"{count} of {window.turns} turns {words} in the last {minutes:g} minutes, "
                                f"over the alert threshold of {threshold:.0%}.", "critical", at,
                                {"turns": window.turns, "count": count, "rate": round(rate, 4),
                                 "threshold": threshold, "minutes": minutes}))
        else:
            clear.append(kind)
    return firing, clear


@dataclass(frozen=True, slots=True)
class SpoolReading:
    """A proxy's span-export counters, read off its /metrics (proxy.metrics)."""

    pending: float  # switchyard_spans_pending: finished turns not yet taken by ingest
    lost: float  # switchyard_spans_dead_lettered + _dropped_queue_full + _dropped_journal_full (counters)


def spool_alerts(source: str, previous: SpoolReading | None, current: SpoolReading, *, pending_threshold: int,
                 at: datetime) -> tuple[list[Alert], list[str]]:
    """(alerts, keys of episodes that ended) for one proxy (``source``: its host:port). The spool
    alerts when at least ``pending_threshold`` turns wait and more than last round; dead letters
    when the proxy refused or dropped more turns since last round. A counter lower than last round's
    is a proxy restart: the new value is the baseline, not a change."""
    firing, clear = [], []
    pending_key, lost_key = f"spool.pending:{source}", f"spool.dead_letters:{source}"
    if current.pending >= pending_threshold and (previous is None or current.pending > previous.pending):
        firing.append(Alert("spool.pending", pending_key, f"Turns pile up in the export spool of proxy {source}",
                            f"{current.pending:,.0f} finished turns on proxy {source} wait for ingest (threshold "
                            f"{pending_threshold:,}), more than at the last check: ingest is down, refusing or "
                            "too slow. The turns are safe on disk until the journal's cap.", "critical", at,
                            {"proxy": source, "pending": current.pending}))
    elif current.pending < pending_threshold:
        clear.append(pending_key)
    if previous is not None and current.lost > previous.lost:
        grown = current.lost - previous.lost
        firing.append(Alert("spool.dead_letters", lost_key, f"Proxy {source} is losing turns to dead letters",
                            f"{grown:,.0f} more turns on proxy {source} were refused by ingest or dropped since "
                            "the last check (switchyard_spans_dead_lettered_total, switchyard_spans_dropped_*): "
                            "their spend is not in the store.", "critical", at,
                            {"proxy": source, "new": grown, "total": current.lost}))
    elif previous is not None:
        clear.append(lost_key)
    return firing, clear


def secret_blocked_alert(developer: str | None, team: str | None, repo: str | None, found: str,
                         fingerprint: str, at: datetime) -> Alert:
    """The egress guardrail refused a request because it carried a secret (``found``: what and
    where, in words; never the secret). Once per developer and secret (its fingerprint): retries of
    the same blocked request, or the rest of that session, are not announced again."""
    who = developer or "a developer"
    return Alert("secret.blocked", f"secret.blocked:{developer or ''}:{fingerprint}",
                 f"A secret was blocked on its way out: {who}" + (f" in {repo}" if repo else ""),
                 f"The gateway refused a request from {who}" + (f" (team {team})" if team else "")
                 + f" that contained {found}. Nothing was sent to the model; the developer was told what to "
                 "remove. If the key is real, rotate it: it sat in a file or a tool's output on a developer machine.",
                 "warning", at, {"developer": developer, "team": team, "repo": repo, "fingerprint": fingerprint})


def probe_alert(at: datetime) -> Alert:
    return Alert("test", f"test:{at.isoformat()}", "switchyard alert test",
                 "This is a test alert from `switchyard alerts test`: this channel works.", "info", at)
