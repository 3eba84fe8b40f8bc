"""Ready-made fleets. ``routed_fleet``: every turn routed by a real policy (exploration split and
propensities as the proxy logs them), difficulty growing with the prompt, and model tiers that all
handle easy turns but part ways on hard ones — the setting where token thresholds between tiers are
worth tuning, used by the demo's history and the optimizer's proof (bench/optimizer_fleet.py).

Against the fleet's defaults:

* ``size_difficulty=0.7``: big contexts are harder (with difficulty independent of size, no
  threshold separates the turns that need opus from those that don't).
* Tier skills with a shared ceiling and different fall-off (haiku steepest). The default failure
  modes stay on (haiku fails large edits, sonnet malforms Bash calls above 60 K tokens, opus times
  out above 150 K, …).
* ``silent_failure_share=0`` unless asked: a natural failure of a turn without tool calls shows as
  a truncation instead of a plainly wrong answer; the optimizer can only protect the quality the
  evals see.
"""

from __future__ import annotations

from datetime import datetime

from core.policy.schema import Policy
from sim.fleet_config import FleetConfig, TierSkill

ROUTED_SKILLS = {"haiku": TierSkill(7.0, 14.0), "sonnet": TierSkill(7.0, 9.0), "opus": TierSkill(7.0, 6.5)}


def routed_fleet(seed: int, sessions: int, policy: Policy, *, start: datetime, days: float = 7.0,
                 silent_failure_share: float = 0.0) -> FleetConfig:
    return FleetConfig(seed=seed, sessions=sessions, start=start, days=days, policy=policy, size_difficulty=0.7,
                       skills=dict(ROUTED_SKILLS), silent_failure_share=silent_failure_share)
