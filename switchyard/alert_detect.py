"""Find what needs a person in the store, once per loop round, and hand each new alert to the
sender. Nothing here runs on a request's path: the proxy only writes turns (through ingest) and the
store holds everything the alerts are derived from —

* budgets: this month's balances (store.balances, what the proxies check) against the active
  policy's budgets; keyed per principal, threshold and month, so once per period;
* proposals waiting (store.proposals), approvals, rejections and automatic rollbacks (the audit
  log's ``proposal.approve|reject`` and ``optimizer.regression`` entries);
* a failure cluster whose trend turned ``rising`` in the newest clustering run;
* the share of failed and fallen-back turns over the last ``rate_minutes``;
* each proxy's export spool and dead letters, read off its /metrics (``proxy_metrics_urls``; the
  previous reading is kept in this object, so after a restart the first round only takes a baseline);
* requests the egress secret guardrail blocked (the turns it recorded as ``blocked``).

A key is claimed in ``alerts_sent`` before its alert is queued (store.alerts_sent), so a restart or
a second jobs process does not announce it again. Events older than ``LOOKBACK`` when first seen
(a new install, a long outage of the jobs) are claimed silently instead of flooding the channel.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Engine, case, func, select

from core.alerts import (
    AUDIT_APPROVE,
    AUDIT_REGRESSION,
    AUDIT_REJECT,
    Alert,
    RateWindow,
    Spend,
    SpoolReading,
    audit_alert,
    budget_alerts,
    pending_alert,
    rate_alerts,
    rising_alert,
    secret_blocked_alert,
    spool_alerts,
)
from core.secrets.verdict import describe_record
from store.alerts_sent import claim, claimed, release
from store.audit import list_audit
from store.balances import month_balances, month_of
from store.cluster_runs import clusters_frame
from store.findings import guardrail_turns
from store.policies import active_policy
from store.proposals import PROPOSED, list_proposals
from store.schema import turns

from .alert_delivery import AlertSender
from .alert_scrape import ScrapeError, read_spool
from .alert_settings import AlertSettings

log = logging.getLogger("switchyard.alerts")
LOOKBACK = timedelta(hours=24)
AUDIT_PAGE = 200  # newest entries of each followed action read per round
_SUMMARY_CHARS = 400


@dataclass
class DetectReport:
    found: int = 0  # alerts whose conditions hold now
    new: int = 0  # of which claimed by this round (announced, unless stale)
    queued: int = 0  # posts queued (one per matching channel)


class AlertDetector:
    def __init__(self, engine: Engine, settings: AlertSettings, sender: AlertSender, *,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.sender = sender
        self._transport = transport or httpx.HTTPTransport()
        self._spool_seen: dict[str, SpoolReading] = {}

    def close(self, timeout_s: float = 10.0) -> None:
        """Send what is queued (until ``timeout_s``), then let go of the connections."""
        self.sender.close(timeout_s)
        self._transport.close()

    def run_once(self, now: datetime) -> DetectReport:
        """One round; ``now`` is naive UTC. Each source is read on its own, so one failing read
        does not hide the others' alerts."""
        now = now.replace(tzinfo=None)
        report = DetectReport()
        found: list[Alert] = []
        for source in (self._budgets, self._proposals, self._audit, self._clusters, self._rates, self._spool,
                       self._secrets):
            try:
                found.extend(source(now))
            except Exception:  # a boundary: one source failing must not stop the others
                log.exception("alert source %s failed", source.__name__)
        report.found = len(found)
        won = claim(self.engine, [(a.key, a.kind) for a in found], now)
        for alert in found:
            if alert.key not in won:
                continue
            report.new += 1
            if now - alert.at > LOOKBACK:
                log.info("alert %s is older than %s: recorded, not sent", alert.key, LOOKBACK)
                continue
            report.queued += self.sender.submit(alert)
        return report

    def _budgets(self, now: datetime) -> list[Alert]:
        active = active_policy(self.engine)
        budgets = active.policy().budgets if active is not None else ()
        if not budgets:
            return []
        month = month_of(now)
        spend = [Spend(b.scope, b.name, b.usd) for b in month_balances(self.engine, month)]
        return budget_alerts(budgets, spend, month, now)

    def _proposals(self, now: datetime) -> list[Alert]:
        alerts = []
        for proposal in list_proposals(self.engine, status=PROPOSED):
            summary = proposal.evidence.get("rationale")
            text = str(summary)[:_SUMMARY_CHARS] if summary else None
            # a waiting proposal is news however old: stamp it with now so LOOKBACK never hides it
            alerts.append(pending_alert(proposal.id, proposal.parent_version, proposal.candidate_version,
                                        now, text))
        return alerts

    def _audit(self, now: datetime) -> list[Alert]:
        alerts = []
        for action in (AUDIT_APPROVE, AUDIT_REJECT, AUDIT_REGRESSION):
            for entry in list_audit(self.engine, limit=AUDIT_PAGE, action=action):
                if now - entry.at > LOOKBACK:
                    break  # newest first: the rest are older still
                alert = audit_alert(entry.seq, entry.action, entry.subject, entry.actor, entry.at, entry.detail)
                if alert is not None:
                    alerts.append(alert)
        return alerts

    def _clusters(self, now: datetime) -> list[Alert]:
        frame = clusters_frame(self.engine)
        if frame.is_empty():
            return []
        rising = {row["name"]: row for row in frame.iter_rows(named=True) if row["trend"] == "rising"}
        # a cluster no longer rising (or gone) ends its episode: when it rises again, say so again
        over = {key for key in claimed(self.engine, "cluster.rising:") if key.split(":", 1)[1] not in rising}
        release(self.engine, over)
        return [rising_alert(name, row["run_id"], row["size"], row["window_counts"], row["created_at"])
                for name, row in rising.items()]

    def _rates(self, now: datetime) -> list[Alert]:
        minutes = self.settings.rate_minutes
        window = rate_window(self.engine, now - timedelta(minutes=minutes), now)
        firing, clear = rate_alerts(window, minutes=minutes, error_rate=self.settings.error_rate,
                                    fallback_rate=self.settings.fallback_rate,
                                    min_turns=self.settings.rate_min_turns, at=now)
        release(self.engine, clear)
        return firing

    def _spool(self, now: datetime) -> list[Alert]:
        alerts: list[Alert] = []
        for url in self.settings.proxy_metrics_urls:
            parts = urlsplit(url)
            source = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
            try:
                current = read_spool(url, self._transport, self.settings.timeout_s)
            except ScrapeError as error:  # the proxy may be restarting: try again next round
                log.warning("could not read the spool counters of proxy %s: %s", source, error)
                continue
            firing, clear = spool_alerts(source, self._spool_seen.get(url), current,
                                         pending_threshold=self.settings.spool_pending, at=now)
            self._spool_seen[url] = current
            release(self.engine, clear)
            alerts.extend(firing)
        return alerts


    def _secrets(self, now: datetime) -> list[Alert]:
        alerts: dict[str, Alert] = {}  # by key: a retried request is the same alert
        for turn in guardrail_turns(self.engine, now - LOOKBACK, now, outcomes=("blocked",), limit=AUDIT_PAGE):
            first = next(iter(turn["findings"]), None)
            if first is not None and isinstance(first.get("fingerprint"), str):
                alert = secret_blocked_alert(turn["developer"], turn["team"], turn["repo"], describe_record(first),
                                             first["fingerprint"], turn["started_at"])
                alerts[alert.key] = alert  # newest first: the earliest block of the secret is kept
        return list(alerts.values())


def rate_window(engine: Engine, start: datetime, end: datetime) -> RateWindow:
    """Turns started in [start, end): how many, how many failed, how many fell back (a non-empty
    ``fallback_hops``). One aggregate over the ``started_at`` index."""
    dialect = engine.dialect.name
    length = func.jsonb_array_length if dialect == "postgresql" else func.json_array_length
    query = select(func.count(), func.sum(case((turns.c.ok.is_(False), 1), else_=0)),
                   func.sum(case((length(turns.c.fallback_hops) > 0, 1), else_=0))).where(
        turns.c.started_at >= start, turns.c.started_at < end)
    with engine.connect() as connection:
        count, errors, fallbacks = connection.execute(query).one()
    return RateWindow(int(count or 0), int(errors or 0), int(fallbacks or 0))

