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

``segmented_fleet``: the routed fleet whose turns also differ in what a rule can see besides the
prompt's size (sim.fleet_facts, ``SEGMENTED_FACTS``), so that rules on ``thinking``, ``tool_count``
and ``repo`` can pay off where token thresholds alone cannot:

* 30 % of sessions have thinking on, and their turns are 0.3 harder (developers turn thinking on
  for the harder work): these want a stronger tier at the same size. The other 70 % are routine
  work, 0.25 easier: a cheaper tier does it as well at any size.
* Every request offers Claude Code's 17 core tools; the repos with MCP servers add theirs
  (monorepo 24, data-api 18, payments-api 12), each 10 extra tools making a turn 0.05 harder.
* legacy-billing is 0.1 harder; the four teams' web front ends are 0.15 easier (a cheaper tier
  does there what it could not elsewhere).
* The two failure modes that fail a cheap tier on every large turn whatever the work (haiku's
  large edits, sonnet's large Bash calls) are left out: they would make the prompt's size the only
  signal again, which is the routed fleet's setting.

This is a world chosen to hold that much routine work (the ≥ 25 % saving the optimizer's proof
asks for exists here only because of it: on 3 000 sessions the cheapest policy with thresholds
alone saves 4–5 % against the hand-written start, with segment overrides 31–34 %; with thinking
only 0.2 harder, sonnet would do everything at the margin and thresholds alone would save ~40 %);
it shows the optimizer finds such a saving when the
traffic has it, not that a given team's traffic does.
"""

from __future__ import annotations

from datetime import datetime
from types import MappingProxyType

from core.policy.schema import Policy
from sim.fleet_config import DEFAULT_MODES, FleetConfig, TierSkill
from sim.fleet_facts import CORE_TOOLS, FactsMix

ROUTED_SKILLS = {"haiku": TierSkill(7.0, 14.0), "sonnet": TierSkill(7.0, 9.0), "opus": TierSkill(7.0, 6.5)}
SEGMENTED_FACTS = FactsMix(
    thinking_share=0.3,
    thinking_difficulty=0.3,
    routine_difficulty=-0.25,
    core_tools=CORE_TOOLS,
    mcp_tools=MappingProxyType({"monorepo": 24, "payments-api": 12, "data-api": 18}),
    tool_difficulty_per_10=0.05,
    repo_difficulty=MappingProxyType({"legacy-billing": 0.1, "mobile-web": -0.15, "platform-web": -0.15,
                                      "payments-web": -0.15, "data-web": -0.15}),
)


def routed_fleet(seed: int, sessions: int, policy: Policy, *, start: datetime, days: float = 7.0,
                 silent_failure_share: float = 0.0) -> FleetConfig:
    return FleetConfig(seed=seed, sessions=sessions, start=start, days=days, policy=policy, size_difficulty=0.7,
                       skills=dict(ROUTED_SKILLS), silent_failure_share=silent_failure_share)


# the failure modes that fail a cheap tier on every large turn whatever the work: in the segmented
# fleet the work (thinking, tools, repo) decides what a tier can do, so these are left out there
SIZE_ONLY_MODES = ("sonnet-bash-malformed", "haiku-edit-large")


def segmented_fleet(seed: int, sessions: int, policy: Policy, *, start: datetime, days: float = 7.0,
                    silent_failure_share: float = 0.0) -> FleetConfig:
    """``routed_fleet`` plus ``SEGMENTED_FACTS``: the same sessions (who, in which repo, when, how
    many turns), whose turns also differ in thinking, tools offered and repo difficulty."""
    return FleetConfig(seed=seed, sessions=sessions, start=start, days=days, policy=policy, size_difficulty=0.7,
                       skills=dict(ROUTED_SKILLS), silent_failure_share=silent_failure_share, facts=SEGMENTED_FACTS,
                       modes=tuple(mode for mode in DEFAULT_MODES if mode.label not in SIZE_ONLY_MODES))
