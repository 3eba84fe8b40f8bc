"""What a simulated fleet is made of: teams, developers and repos, how good each model tier is, and
the failure modes injected on purpose (the ground truth the evals must find again). Pure data.

Every turn has a latent difficulty d in [0, 1]; the tier that serves it succeeds with probability
``sigmoid(skill - steepness × d)``. On top of that natural rate, *failure modes* fire on the turns
they match (tier, tool called, context size, repo, team) with their own probability, e.g. "haiku
fails Edit calls above 12 K tokens" or "opus times out above 150 K tokens". A facts mix
(sim.fleet_facts) optionally makes sessions differ in thinking, tools offered and repo difficulty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from core.policy.schema import Policy
from sim.fleet_facts import FactsMix

TIERS = ("haiku", "sonnet", "opus")
MODEL_OF_TIER = {
    "haiku": "claude-haiku-4-5-20251001",
    "sonnet": "claude-sonnet-4-5-20250929",
    "opus": "claude-opus-4-5-20251101",
}
# The tools fleet turns call, with how often (Claude Code's own mix is read-heavy).
TOOL_WEIGHTS: dict[str, float] = {"Read": 0.32, "Edit": 0.2, "Bash": 0.2, "Grep": 0.13, "Glob": 0.07, "Write": 0.08}
# The tools each fleet request offers, as the proxy's facts see them, when the fleet has no facts
# mix (FleetConfig.facts); the first eight of Claude Code's core set, which hold every tool called.
TOOL_COUNT = 8
# Claude Code's default output cap for the main loop; a truncated turn has used all of it.
MAX_OUTPUT_TOKENS = 32_000


class Outcome(StrEnum):
    OK = "ok"
    TOOL_FAIL = "tool-fail"  # a tool the turn called failed when the client ran it
    BAD_TOOL_INPUT = "bad-tool-input"  # the model wrote input the tool's schema rejects
    TRUNCATE = "truncate"  # stopped at max_tokens
    TIMEOUT = "timeout"  # upstream 504 timeout_error
    OVERLOADED = "overloaded"  # upstream 529 overloaded_error
    SLOW = "slow"  # answered, far beyond the latency SLO
    COST_SPIKE = "cost-spike"  # answered, but the prompt cache missed on the whole context
    LOOP = "loop"  # the same tool again, the N-th time in a row or later
    WRONG_ANSWER = "wrong-answer"  # a plain bad answer: nothing on the wire shows it

    @property
    def succeeded(self) -> bool:
        """Whether the turn did its job (slow and expensive turns still did)."""
        return self in (Outcome.OK, Outcome.SLOW, Outcome.COST_SPIKE)


@dataclass(frozen=True, slots=True)
class FailureMode:
    """Fires with ``probability`` on turns matching every condition given. ``ramp`` makes it grow
    linearly from nothing at the start of the fleet's timeline to ``probability`` at the end (a
    rising trend). LOOP modes start a stuck loop on a matching turn that calls ``tool``."""

    label: str
    outcome: Outcome
    probability: float = 0.9
    tier: str | None = None
    tool: str | None = None
    min_tokens: int = 0
    max_tokens: int | None = None
    repo: str | None = None
    team: str | None = None
    ramp: bool = False

    def matches(self, *, tier: str, tools: tuple[str, ...], tokens: int, repo: str, team: str) -> bool:
        return (
            (self.tier is None or self.tier == tier)
            and (self.tool is None or self.tool in tools)
            and tokens >= self.min_tokens
            and (self.max_tokens is None or tokens < self.max_tokens)
            and (self.repo is None or self.repo == repo)
            and (self.team is None or self.team == team)
        )

    def chance(self, progress: float) -> float:
        """The firing probability at ``progress`` (0..1) through the timeline."""
        return self.probability * (progress if self.ramp else 1.0)


DEFAULT_MODES: tuple[FailureMode, ...] = (
    FailureMode("haiku-edit-large", Outcome.TOOL_FAIL, 0.9, tier="haiku", tool="Edit", min_tokens=12_000),
    FailureMode("opus-timeout-huge", Outcome.TIMEOUT, 0.6, tier="opus", min_tokens=150_000),
    FailureMode("sonnet-bash-malformed", Outcome.BAD_TOOL_INPUT, 0.7, tier="sonnet", tool="Bash", min_tokens=60_000),
    FailureMode("haiku-truncate-long", Outcome.TRUNCATE, 0.6, tier="haiku", min_tokens=50_000),
    FailureMode("monorepo-grep-loop", Outcome.LOOP, 0.5, tool="Grep", repo="monorepo"),
    FailureMode("legacy-cache-bust", Outcome.COST_SPIKE, 0.2, repo="legacy-billing", min_tokens=60_000),
    FailureMode("sonnet-slow-large", Outcome.SLOW, 0.5, tier="sonnet", min_tokens=90_000, ramp=True),
)


@dataclass(frozen=True, slots=True)
class TierSkill:
    skill: float
    steepness: float = 6.0

    def p_success(self, difficulty: float) -> float:
        return 1.0 / (1.0 + math.exp(-(self.skill - self.steepness * difficulty)))


DEFAULT_SKILLS: dict[str, TierSkill] = {"haiku": TierSkill(4.5), "sonnet": TierSkill(5.5), "opus": TierSkill(6.5)}


@dataclass(frozen=True, slots=True)
class FleetConfig:
    seed: int = 0
    sessions: int = 200
    teams: tuple[str, ...] = ("payments", "platform", "mobile", "data")
    developers_per_team: int = 6
    # Repos shared by every team (the failure modes name some of them); each team also has its own.
    shared_repos: tuple[str, ...] = ("monorepo", "legacy-billing")
    start: datetime = datetime(2026, 11, 2, tzinfo=UTC)
    days: float = 7.0
    modes: tuple[FailureMode, ...] = DEFAULT_MODES
    skills: dict[str, TierSkill] = field(default_factory=lambda: dict(DEFAULT_SKILLS))
    # Turns per session: geometric with this mean (long-tailed), capped.
    mean_turns: float = 14.0
    max_turns: int = 120
    min_context_tokens: int = 8_000
    max_context_tokens: int = 180_000
    # Natural (not injected) upstream overloads, per turn.
    overload_rate: float = 0.003
    # After a failed turn the developer switches to the next tier up with this probability.
    escalate_probability: float = 0.35
    # A stuck loop is flagged from this many consecutive same-tool turns; natural runs stay shorter.
    loop_repeats: int = 5
    # Busy days: sessions on a team's crunch day are this many times as likely.
    crunch_factor: float = 3.0
    # Route every turn by this policy (sim.fleet_routing), logging rule, version and propensity as
    # the proxy does; without one each turn is served on the tier the developer asked for.
    policy: Policy | None = None
    # How much a turn's difficulty grows with its prompt: 0 keeps it independent of size; w mixes
    # in w × tokens / max_context_tokens (big contexts are harder), which is what makes token
    # thresholds between tiers worth tuning.
    size_difficulty: float = 0.0
    # Of the natural failures of turns that call no tool, the share that are plainly wrong answers
    # (nothing on the wire shows them); the rest stop at max_tokens, which the evals do see.
    silent_failure_share: float = 0.8
    # Sessions that differ in thinking, tools offered and repo difficulty (sim.fleet_facts); without
    # a mix every turn has thinking on, offers TOOL_COUNT tools and keeps its drawn difficulty.
    facts: FactsMix | None = None

    def __post_init__(self) -> None:
        if self.sessions < 0 or self.days <= 0 or self.developers_per_team < 1:
            raise ValueError("sessions must be ≥ 0, days > 0 and developers_per_team ≥ 1")
        if not (0.0 <= self.size_difficulty <= 1.0 and 0.0 <= self.silent_failure_share <= 1.0):
            raise ValueError("size_difficulty and silent_failure_share must be within [0, 1]")
        if self.facts is not None and self.facts.core_tools < TOOL_COUNT:
            raise ValueError(f"facts.core_tools must be ≥ {TOOL_COUNT}: the tools fleet turns call are among those")
        labels = [mode.label for mode in self.modes]
        if len(set(labels)) != len(labels):
            raise ValueError("failure mode labels must be unique")


@dataclass(frozen=True, slots=True)
class Developer:
    name: str
    team: str
    repos: tuple[str, ...]
    home_tier: str


def roster(config: FleetConfig) -> tuple[Developer, ...]:
    """The fleet's developers (deterministic from the config, no randomness needed)."""
    developers = []
    for team_index, team in enumerate(config.teams):
        own = (f"{team}-api", f"{team}-web")
        for number in range(config.developers_per_team):
            home_tier = TIERS[(team_index + number) % len(TIERS)]
            developers.append(Developer(f"{team}-dev{number}", team, (*own, *config.shared_repos), home_tier))
    return tuple(developers)
