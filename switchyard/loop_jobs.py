"""The loop's scheduled jobs, in a background thread (of `switchyard up` or the demo): score new
turns, cluster the failures, guard the active policy (roll it back when its realised quality fell
against its predecessor's: optimizer.watch), and ask the optimizer for a proposal when none is
pending — what `switchyard eval`, `cluster`, `optimize --watch` and `optimize` do by hand. The
optimizer's Optuna study is kept in the project's database. Each job's latest outcome is kept for
display.

A proposal made against a version that is no longer active is superseded (store.proposals; the
activation does it, the round's sweep catches any it did not), so it never blocks the loop; when
the active version changes between rounds (an approval, a rollback, a version activated by hand)
the next round starts within ``poll_s`` instead of after the whole interval, and a proposal that
went stale while the optimizer ran is recomputed at once, once."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine

if TYPE_CHECKING:
    from optimizer.watch import Verdict

    from .alert_detect import AlertDetector

log = logging.getLogger("switchyard.loop")


@dataclass(frozen=True)
class LoopSettings:
    interval_s: float = 300.0
    poll_s: float = 15.0  # how often the thread looks for a new active version between rounds
    first_after_s: float | None = None  # the first round (None: after one interval)
    settle_s: float = 1800.0  # a thread's last turn is scored once it has been quiet this long
    window: timedelta = timedelta(days=7)  # clustering and the optimizer's replay look back this far
    trials: int = 150
    min_ess: float = 200.0
    watch_window: timedelta = timedelta(hours=24)  # auto-rollback compares windows this long
    watch_min_turns: int = 100
    # the share of sessions held out to certify a proposal's claims (optimizer/split.py); 0 certifies
    # on the sessions the search chose from (the demo: its week is too small to hold half out)
    held_out_share: float = 0.5
    min_explored_sessions: int = 10  # behind every segment a proposal changes (optimizer/explored.py)
    min_saving: float = 0.01  # a proposal saving less of the active cost is not worth a review


@dataclass
class JobStatus:
    scored: int = 0
    clusters: list[str] = field(default_factory=list)
    proposal: str = "waiting for scored turns"
    guard: str = "no policy change to watch yet"
    alerts: str = "no alert channel configured"
    errors: list[str] = field(default_factory=list)


class LoopJobs:
    def __init__(self, engine: Engine, settings: LoopSettings, alerts: AlertDetector | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.alerts = alerts  # run after each round's jobs; its posts leave on the sender's own thread
        self.status = JobStatus()
        if alerts is not None:
            self.status.alerts = "waiting for the first round"
        self._stop = threading.Event()
        # one round at a time: stop() gives up waiting for the thread after a minute, and a caller's
        # own last round (the demo's) must not check "no proposal pending" while a round is proposing
        self._round = threading.Lock()
        self._seen: str | None = None  # the active version the last round worked against
        self._thread = threading.Thread(target=self._run, name="switchyard-loop-jobs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        if self.alerts is not None:
            self.alerts.close()

    def _run(self) -> None:
        first = self.settings.first_after_s
        if self._stop.wait(self.settings.interval_s if first is None else first):
            return
        self.run_once()
        while self._wait_for_next_round():
            self.run_once()

    def _wait_for_next_round(self) -> bool:
        """Wait one interval, or less when the active version changes; False once stopped."""
        deadline = time.monotonic() + self.settings.interval_s
        while (left := deadline - time.monotonic()) > 0:
            if self._stop.wait(min(left, self.settings.poll_s)):
                return False
            if self._active_changed():
                log.info("the active policy version changed: optimizing against it now")
                return True
        return not self._stop.is_set()

    def _active_changed(self) -> bool:
        from store.policies import active_state

        try:
            state = active_state(self.engine)
        except Exception:  # a boundary: a store hiccup waits for the regular round
            log.warning("could not read the active version", exc_info=True)
            return False
        return state is not None and state.version != self._seen

    def run_once(self) -> None:
        with self._round:
            self._run_round()

    def _run_round(self) -> None:
        # Imported here: scikit-learn and optuna take seconds to import, and the services start
        # (and the demo shows its first turns) before that.
        import optuna

        from core.pricing import builtin_price_table
        from evals.cluster_runner import run_clustering
        from evals.registry import builtin_evaluators
        from evals.runner import EvalSettings, run_evals
        from optimizer.propose import Settings, propose
        from optimizer.watch import watch
        from store.policies import active_state
        from store.proposals import list_proposals, supersede_stale_proposals

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial would drown the service's log
        prices = builtin_price_table()
        now = datetime.now(UTC).replace(tzinfo=None)
        try:
            settings = self.settings
            state = active_state(self.engine)
            self._seen = state.version if state else None
            report = run_evals(self.engine, builtin_evaluators(prices), EvalSettings(settle_s=settings.settle_s))
            self.status.scored += report.scored_turns
            run = run_clustering(self.engine, prices, start=now - settings.window, end=now)
            self.status.clusters = [c.name for c in run.clusters][:5]
            verdict = watch(self.engine, prices, window=settings.watch_window, now=now,
                            min_turns=settings.watch_min_turns, actor="optimizer.watch (scheduled)")
            self.status.guard = _guard_text(verdict)
            superseded = supersede_stale_proposals(self.engine, actor="optimizer (scheduled)", now=now)
            if superseded:
                log.info("superseded %d proposal(s) made against an inactive version", len(superseded))
            if not list_proposals(self.engine, status="proposed"):
                database_url = self.engine.url.render_as_string(hide_password=False)
                for attempt in range(2):  # once more when the active version moved during the run
                    state = active_state(self.engine)
                    self._seen = state.version if state else None
                    outcome = propose(self.engine, prices, Settings(
                        start=now - settings.window, end=now, trials=settings.trials, min_ess=settings.min_ess,
                        held_out_share=settings.held_out_share, min_explored_sessions=settings.min_explored_sessions,
                        min_saving=settings.min_saving,
                        database_url=database_url, study_name=f"scheduled-{now:%Y%m%dT%H%M%S}-{attempt}",
                        on_invalid="skip"), actor="optimizer (scheduled)")
                    if outcome.skipped != "stale":
                        break
                self.status.proposal = (f"pending for approval: {outcome.proposal.candidate_version}"
                                        if outcome.proposal is not None else f"none yet ({outcome.reason[:160]})")
            else:
                state = active_state(self.engine)
                self._seen = state.version if state else None
                self.status.proposal = "a proposal is pending: approve or reject it in the dashboard"
        except Exception as exc:  # a boundary: the demo keeps running and shows what failed
            log.exception("demo job failed")
            self.status.errors = [f"{type(exc).__name__}: {exc}"][-3:]
        self._detect_alerts()

    def _detect_alerts(self) -> None:
        """After the jobs (so a proposal or a rollback made this round is seen this round), and
        whether they failed or not. Only queues posts: a failing channel never slows the loop."""
        if self.alerts is None:
            return
        try:
            report = self.alerts.run_once(datetime.now(UTC).replace(tzinfo=None))
            self.status.alerts = f"{report.new} new alert(s), {report.queued} post(s) queued"
        except Exception as exc:  # a boundary: alerts never stop the loop
            log.exception("alert detection failed")
            self.status.alerts = f"detection failed: {type(exc).__name__}"


def _guard_text(verdict: Verdict) -> str:
    if verdict.status == "rolled_back":
        return f"rolled {verdict.version} back to {verdict.previous}: realised quality fell (see the audit log)"
    if verdict.status == "ok" and verdict.delta is not None:
        return f"{verdict.version} holds its quality against {verdict.previous} (Δ {verdict.delta.value:+.4f})"
    if verdict.status == "waiting":
        return f"{verdict.version}: watching its first window"
    return f"{verdict.version or 'no policy'}: {verdict.status}"
