"""Auto-rollback: once a policy version has been active for a full window, compare the quality it
realised with the quality its predecessor realised in the window before the switch. When the
difference's whole confidence interval lies below −tolerance, roll back (store.policies.rollback)
and record why in the audit log.

Both sides are on-policy (each version's own turns), so plain means with a bootstrap of the
difference suffice: no propensities needed. The bootstrap resamples each side's sessions (whole
sessions, independently for the two sides), since a session's turns are not independent. The
comparison is pure (:func:`compare`); :func:`watch` does the reads and the rollback.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Engine

from core.pricing import PriceTable
from optimizer.bootstrap import dense, resampled_means, session_codes
from optimizer.features import load_turns
from optimizer.replay import Estimate
from store.audit import append, audited, list_audit
from store.policies import ACTIVATE, active_state, rollback

REGRESSION = "optimizer.regression"


@dataclass(frozen=True, slots=True)
class Verdict:
    version: str | None
    previous: str | None
    status: str  # "waiting" | "insufficient" | "ok" | "rolled_back" | "no_policy"
    delta: Estimate | None = None  # realised quality: version − previous
    turns: int = 0
    previous_turns: int = 0


def compare(current: np.ndarray, previous: np.ndarray, *, seed: int = 0, rounds: int = 400, level: float = 0.95,
            current_sessions: np.ndarray | None = None, previous_sessions: np.ndarray | None = None) -> Estimate:
    """mean(current) − mean(previous) with a percentile bootstrap that resamples each side's
    sessions independently (``*_sessions``: session codes per turn, optimizer.bootstrap.session_codes;
    None: every turn its own session)."""
    rng = np.random.default_rng(seed)
    now = resampled_means(_codes(current_sessions, current.size), current.astype(np.float64), rounds, rng)
    before = resampled_means(_codes(previous_sessions, previous.size), previous.astype(np.float64), rounds, rng)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(now - before, [tail, 100 - tail])
    return Estimate(float(current.mean() - previous.mean()), float(low), float(high))


def _codes(sessions: np.ndarray | None, n: int) -> np.ndarray:
    if sessions is None:
        return np.arange(n, dtype=np.int64)
    if sessions.shape != (n,):
        raise ValueError(f"{sessions.shape} session codes for {n} turns")
    return dense(sessions)


def is_regression(delta: Estimate, tolerance: float = 0.0) -> bool:
    return delta.high < -tolerance


def _previous_version(engine: Engine, version: str) -> str | None:
    entries = list_audit(engine, limit=1, subject=version, action=ACTIVATE)
    previous = entries[0].detail.get("previous") if entries else None
    return None if previous is None else str(previous)


def watch(engine: Engine, prices: PriceTable, *, window: timedelta, now: datetime, min_turns: int = 100,
          tolerance: float = 0.0, seed: int = 0, actor: str = "optimizer.watch") -> Verdict:
    state = active_state(engine)
    if state is None:
        return Verdict(None, None, "no_policy")
    version, since = state.version, state.activated_at
    previous = _previous_version(engine, version)
    if previous is None:
        return Verdict(version, None, "insufficient")
    if now < since + window:
        return Verdict(version, previous, "waiting")
    # on-policy means of what each version served: fallbacks as logged (no propensities involved)
    current = load_turns(engine, prices, since, since + window, policy_version=version, fallback_reward=None).frame
    before = load_turns(engine, prices, since - window, since, policy_version=previous, fallback_reward=None).frame
    if current.height < min_turns or before.height < min_turns:
        return Verdict(version, previous, "insufficient", turns=current.height, previous_turns=before.height)
    delta = compare(current["reward"].to_numpy(), before["reward"].to_numpy(), seed=seed,
                    current_sessions=session_codes(current["session_id"], current.height),
                    previous_sessions=session_codes(before["session_id"], before.height))
    if not is_regression(delta, tolerance):
        return Verdict(version, previous, "ok", delta, current.height, before.height)
    rollback(engine, actor=actor, now=now)
    detail: dict[str, Any] = {
        "why": (f"realised quality fell by {-delta.value:.4f} (95% CI {delta.low:+.4f} … {delta.high:+.4f}) "
                f"against {previous} over a window of {window}"),
        "rolled_back": version, "restored": previous, "delta_quality": delta.to_dict(),
        "turns": current.height, "previous_turns": before.height, "tolerance": tolerance,
        "window_start": since.isoformat(), "window_end": (since + window).isoformat()}
    audited(engine, lambda connection: append(connection, at=now, actor=actor, action=REGRESSION, subject=version,
                                              detail=detail))
    return Verdict(version, previous, "rolled_back", delta, current.height, before.height)
