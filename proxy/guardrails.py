"""The guardrails step: between the facts (the body is parsed) and the routing decision, scan what a
Messages request sends out for secrets and flag it or block it, as the policy's ``guardrails:``
block says for this developer, team and repo. The body is never changed (docs/guardrails.md).

What each request pays is the text its session has not sent before (core/secrets/incremental.py):
the blocks are looked up in the per-session memory on the event loop; the new texts are scanned
inline, or, past ``guardrail_thread_chars``, on one worker thread, so a huge request never holds
the loop (and every other stream) for its whole scan. The memory is only touched on the loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Hashable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from core.keys import claim_repo
from core.policy.guardrails import GuardrailTable
from core.secrets.incremental import ScanReport, finish_request, plan_request, scan_texts
from core.secrets.scan import Finding, SecretScanner
from core.secrets.seen import SeenBlocks
from core.secrets.verdict import Verdict, judge

from .errors import ProxyError
from .flow import Flow
from .metrics import ProxyMetrics
from .settings import ProxySettings

log = logging.getLogger("switchyard.proxy.guardrails")
_NO_RETRY = (b"x-should-retry", b"false")  # the same body would be refused again: Claude Code must not retry


class SecretGuard:
    def __init__(self, settings: ProxySettings, metrics: ProxyMetrics) -> None:
        salt = settings.guardrail_salt
        # unset: a salt of this process's own, so fingerprints still correlate within it
        self.scanner = SecretScanner(salt.get_secret_value().encode() if salt is not None else os.urandom(32))
        self.seen: SeenBlocks[tuple[Finding, ...]] = SeenBlocks(settings.guardrail_max_sessions,
                                                                settings.guardrail_max_blocks_per_session)
        self.fail_closed = settings.guardrail_on_failure == "closed"
        self.max_block_chars = settings.guardrail_max_block_chars
        self.thread_chars = settings.guardrail_thread_chars
        self.metrics = metrics
        # one thread: big scans queue behind each other instead of competing for the GIL
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="switchyard-guardrail")

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def inspect(self, flow: Flow) -> None:
        """Record what was found on ``flow``; ProxyError when the request must not be forwarded."""
        body = flow.parsed
        if body is None or not flow.routed or flow.facts is None:
            return
        table = flow.routing.compiled.guardrails
        record, facts = flow.record, flow.facts
        action = table.action(record.developer if record else None, record.team if record else None, facts.repo,
                              claim_repo(record, facts.repo).verified)
        if action == "off":
            self.metrics.guardrail_requests.labels(outcome="off").inc()
            return
        started = time.perf_counter()
        try:
            session = (record.key_id if record else None, facts.session_id) if facts.session_id else None
            verdict = await self._verdict(body, session, table, action)
        except Exception:  # a boundary: the scanner failing must not fail the request unless told to
            log.exception("the secret guardrail failed on a request (%s)",
                          "refused: fail closed" if self.fail_closed else "forwarded: fail open")
            flow.guardrail = "failed_closed" if self.fail_closed else "failed_open"
            self.metrics.guardrail_requests.labels(outcome=flow.guardrail).inc()
            if self.fail_closed:
                raise ProxyError("api_error", "the gateway's secret guardrail could not check this request, and "
                                 "it forwards nothing it has not checked; nothing was sent to the model",
                                 status=500, headers=[_NO_RETRY]) from None
            return
        finally:
            self.metrics.guardrail_seconds.observe(time.perf_counter() - started)
        self._apply(flow, verdict, action)

    async def _verdict(self, body: Mapping[str, Any], session: Hashable | None, table: GuardrailTable,
                       action: Literal["flag", "block"]) -> Verdict:
        plan = plan_request(self.seen, session, body, max_block_chars=self.max_block_chars)
        if plan.chars_to_scan > self.thread_chars:
            scanned = await asyncio.get_running_loop().run_in_executor(
                self._executor, scan_texts, self.scanner, plan.to_scan)
        else:
            scanned = scan_texts(self.scanner, plan.to_scan)
        report = finish_request(self.seen, plan, scanned)
        self._count(report)
        return judge(report, table, action, body)

    def _count(self, report: ScanReport) -> None:
        metrics = self.metrics
        if report.chars_scanned:
            metrics.guardrail_scanned_chars.inc(report.chars_scanned)
        for item in report.unscanned:
            metrics.guardrail_unscanned.labels(reason=item.reason).inc()

    def _apply(self, flow: Flow, verdict: Verdict, action: Literal["flag", "block"]) -> None:
        flow.guardrail, flow.secret_findings = verdict.outcome, verdict.recorded
        for finding in verdict.new:
            self.metrics.guardrail_findings.labels(rule=finding.rule, action=action).inc()
        if verdict.block_message is not None:
            self.metrics.guardrail_requests.labels(outcome="blocked").inc()
            raise ProxyError("invalid_request_error", verdict.block_message, status=400, headers=[_NO_RETRY])
        if verdict.too_large and self.fail_closed:
            flow.guardrail = "failed_closed"
            self.metrics.guardrail_requests.labels(outcome="failed_closed").inc()
            raise ProxyError("request_too_large", f"{verdict.too_large} content block(s) of this request are longer "
                             f"than the gateway's secret guardrail scans ({self.max_block_chars:,} characters), and it "
                             "forwards nothing it has not checked; nothing was sent to the model",
                             status=413, headers=[_NO_RETRY])
        self.metrics.guardrail_requests.labels(outcome=verdict.outcome or "clean").inc()
