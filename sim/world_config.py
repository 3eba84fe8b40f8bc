"""Simulated worlds with a ground truth of their own, for the optimizer's generalisation suite
(bench/generalisation.py, docs/generalisation.md). Pure data.

The routed fleet (sim.fleet_presets) makes difficulty grow with the prompt and lets failure modes
fire on tools and repos; these worlds are built the other way round, so that each puts the signal
somewhere else: a world is a traffic mix (request classes, tools offered, prompt sizes) and a list
of *injected failure modes*, each a predicate over what the proxy sees of a request (tier, request
class, tools offered, estimated tokens) with a firing probability and how the failure shows on the
wire. Outside every mode a turn succeeds with ``base_success`` on any tier: the modes are the
whole difference between tiers, so the truth (sim.world_truth) is exact and the best policy the
policy language can express is known (sim.world_oracle).

The four worlds (``WORLDS``), against the logged policy haiku < 10 K ≤ sonnet < 60 K ≤ opus:

* ``request-class``: compaction and auxiliary calls succeed on every tier; main turns with many
  tools (≥ 12 offered) fail on haiku whatever their size, and main turns fail on haiku above 10 K
  and on sonnet above 60 K. The saving is in the class (compaction prompts are large and go to
  opus under the logged policy), and some main turns must go *up*.
* ``tool-density``: the truth changes at 6 tools offered, a number nobody tells the optimizer:
  below it haiku does everything; from it, haiku fails and sonnet fails above 60 K.
* ``size-only``: haiku truncates above 25 K, sonnet fails tools above 100 K; class and tools carry
  nothing. Thresholds alone are the answer.
* ``no-cheaper``: haiku fails from 10 K and sonnet from 60 K, exactly where the logged policy
  switches: every cheaper policy is truly worse, and the right answer is no proposal.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Shows(StrEnum):
    """How an injected failure shows on the wire (what the evals can see)."""

    TOOL_FAIL = "tool-fail"  # a tool the answer called fails when the client runs it
    BAD_TOOL_INPUT = "bad-tool-input"  # the answer's tool input is rejected by the tool's schema
    TRUNCATE = "truncate"  # the answer stops at max_tokens


@dataclass(frozen=True, slots=True)
class WorldMode:
    """Fires with ``probability`` on a turn served on one of ``tiers`` that matches every condition."""

    label: str
    shows: Shows
    probability: float
    tiers: tuple[str, ...]
    classes: tuple[str, ...] | None = None  # request classes (None: any)
    min_tools: int = 0  # tools the request offers
    min_tokens: int = 0  # estimated input tokens

    def matches(self, *, tier: str, request_class: str, tool_count: int, tokens: int) -> bool:
        return (tier in self.tiers and (self.classes is None or request_class in self.classes)
                and tool_count >= self.min_tools and tokens >= self.min_tokens)


@dataclass(frozen=True, slots=True)
class World:
    """A traffic mix and its truth. Sessions are main-loop conversations whose prompt grows turn by
    turn; a share of turns are auxiliary calls (small side requests: titles, checks) and, when the
    context passes ``compact_above``, Claude Code sends a compaction request and starts afresh."""

    name: str
    summary: str
    modes: tuple[WorldMode, ...]
    # tools the session's main turns offer, drawn uniformly per session (a property of the repo's MCP set)
    tool_counts: tuple[int, ...] = (8, 17, 24)
    auxiliary_share: float = 0.0  # of turns, side calls with a small prompt and no tools
    compact_above: int | None = None  # None: no compaction requests (contexts restart silently)
    base_success: float = 0.97
    mean_turns: float = 12.0
    max_context_tokens: int = 180_000

    def __post_init__(self) -> None:
        labels = [mode.label for mode in self.modes]
        if len(set(labels)) != len(labels) or "background" in labels:
            raise ValueError("mode labels must be unique and not 'background'")
        if not (0.0 <= self.auxiliary_share < 1.0 and 0.0 < self.base_success <= 1.0):
            raise ValueError("auxiliary_share must be in [0, 1) and base_success in (0, 1]")

    def mode_for(self, *, tier: str, request_class: str, tool_count: int, tokens: int) -> WorldMode | None:
        """The first mode matching the turn on ``tier`` (modes are tried in order; one fires at most)."""
        return next((mode for mode in self.modes if mode.matches(
            tier=tier, request_class=request_class, tool_count=tool_count, tokens=tokens)), None)

    def p_success(self, *, tier: str, request_class: str, tool_count: int, tokens: int) -> float:
        mode = self.mode_for(tier=tier, request_class=request_class, tool_count=tool_count, tokens=tokens)
        return (1.0 - (mode.probability if mode else 0.0)) * self.base_success


REQUEST_CLASS = World(
    name="request-class",
    summary="compaction/auxiliary succeed on every tier; main turns with ≥ 12 tools fail on haiku",
    modes=(
        WorldMode("haiku-main-many-tools", Shows.TOOL_FAIL, 0.45, ("haiku",), ("main",), min_tools=12),
        WorldMode("haiku-main-large", Shows.TRUNCATE, 0.4, ("haiku",), ("main",), min_tokens=10_000),
        WorldMode("sonnet-main-huge", Shows.BAD_TOOL_INPUT, 0.3, ("sonnet",), ("main",), min_tokens=60_000),
    ),
    tool_counts=(6, 8, 12, 17, 24),
    auxiliary_share=0.15,
    compact_above=70_000,
)

TOOL_DENSITY = World(
    name="tool-density",
    summary="the truth changes at 6 tools offered: below, haiku does everything",
    modes=(
        WorldMode("haiku-tool-dense", Shows.TOOL_FAIL, 0.4, ("haiku",), min_tools=6),
        WorldMode("sonnet-tool-dense-huge", Shows.BAD_TOOL_INPUT, 0.3, ("sonnet",), min_tools=6, min_tokens=60_000),
    ),
    tool_counts=(3, 4, 5, 6, 7, 9, 12, 17),
)

SIZE_ONLY = World(
    name="size-only",
    summary="only the prompt's size matters: haiku truncates above 25 K, sonnet fails tools above 100 K",
    modes=(
        WorldMode("haiku-truncate-large", Shows.TRUNCATE, 0.5, ("haiku",), min_tokens=25_000),
        WorldMode("sonnet-tool-huge", Shows.TOOL_FAIL, 0.35, ("sonnet",), min_tokens=100_000),
    ),
    tool_counts=(5, 8, 17, 24),
    auxiliary_share=0.1,
)

NO_CHEAPER = World(
    name="no-cheaper",
    summary="haiku fails from 10 K and sonnet from 60 K, where the logged policy switches: nothing cheaper is safe",
    modes=(
        WorldMode("haiku-fails-10k", Shows.TOOL_FAIL, 0.5, ("haiku",), min_tokens=10_000),
        WorldMode("sonnet-fails-60k", Shows.BAD_TOOL_INPUT, 0.4, ("sonnet",), min_tokens=60_000),
    ),
    tool_counts=(8, 17, 24),
)

WORLDS: tuple[World, ...] = (REQUEST_CLASS, TOOL_DENSITY, SIZE_ONLY, NO_CHEAPER)


def world_named(name: str) -> World:
    for world in WORLDS:
        if world.name == name:
            return world
    raise KeyError(f"no world {name!r}; known: {', '.join(w.name for w in WORLDS)}")
