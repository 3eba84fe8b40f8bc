"""The request facts a routing rule can see besides the prompt's size — whether thinking is on, how
many tools the request offers, which repo it comes from — and how they make a turn harder. Pure.

Why these, and why this shape (Claude Code's traffic):

* Extended thinking is a developer's setting (``/config``, the Tab toggle, ``MAX_THINKING_TOKENS``),
  so it is on or off for a whole session, and developers turn it on for the harder work: a thinking
  turn is ``thinking_difficulty`` harder than it would otherwise be, and a turn of a session without
  it ``routine_difficulty`` (usually negative: routine work).
* Claude Code offers its ~17 core tools on every main-loop request, plus every tool of the MCP
  servers configured for the project, so the tool list is a property of the repo (``mcp_tools``:
  repo → tools its servers add). A long tool list makes choosing the right call harder:
  ``tool_difficulty_per_10`` per 10 tools beyond the core set, linear.
* Some codebases are harder than others (a legacy service, a sprawling monorepo) and some easier
  (a small web front end): ``repo_difficulty`` shifts every turn of a repo, either way.

A turn's difficulty is its drawn difficulty plus the sum of these shifts, clipped to [0, 1]. The
thinking draw comes from a stream of its own (:func:`session_facts`), so turning the mix on never
changes what the rest of the plan draws.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

CORE_TOOLS = 17  # Claude Code's built-in tools on a main-loop request


@dataclass(frozen=True, slots=True)
class FactsMix:
    """How a fleet's sessions differ in thinking, tools offered and repo, and what that costs in
    difficulty. The defaults change nothing but the facts: no thinking, core tools only, no shifts."""

    thinking_share: float = 0.0  # probability that a session has thinking on
    thinking_difficulty: float = 0.0  # added to the difficulty of each turn of a thinking session
    routine_difficulty: float = 0.0  # added to each turn of a session without thinking (routine work)
    core_tools: int = CORE_TOOLS
    mcp_tools: Mapping[str, int] = field(default_factory=dict)  # repo → tools its MCP servers add
    tool_difficulty_per_10: float = 0.0  # added per 10 tools offered beyond core_tools
    repo_difficulty: Mapping[str, float] = field(default_factory=dict)  # repo → shift (may be negative)

    def __post_init__(self) -> None:
        if not 0.0 <= self.thinking_share <= 1.0:
            raise ValueError("thinking_share must be within [0, 1]")
        if self.core_tools < 0 or any(extra < 0 for extra in self.mcp_tools.values()):
            raise ValueError("tool counts must be ≥ 0")


@dataclass(frozen=True, slots=True)
class TurnFacts:
    """What the proxy would extract from a turn's request, and how much harder it makes the turn."""

    thinking: bool
    tool_count: int
    shift: float  # added to the turn's difficulty (before clipping)


def facts_of(mix: FactsMix, *, thinking: bool, repo: str) -> TurnFacts:
    """A turn's facts and difficulty shift, given its session's thinking setting and repo."""
    extra = mix.mcp_tools.get(repo, 0)
    own = mix.thinking_difficulty if thinking else mix.routine_difficulty
    shift = own + mix.tool_difficulty_per_10 * extra / 10 + mix.repo_difficulty.get(repo, 0.0)
    return TurnFacts(thinking, mix.core_tools + extra, shift)


def session_facts(mix: FactsMix, *, seed: int, index: int, repo: str) -> TurnFacts:
    """The facts every turn of session ``index`` shares. Thinking is drawn from the session's own
    stream (``fleet:{seed}:facts:{index}``), apart from the planner's, so that the rest of the plan
    draws the same numbers with or without a mix."""
    thinking = random.Random(f"fleet:{seed}:facts:{index}").random() < mix.thinking_share
    return facts_of(mix, thinking=thinking, repo=repo)


def shifted(difficulty: float, shift: float) -> float:
    """``difficulty + shift``, clipped to [0, 1]."""
    return min(1.0, max(0.0, difficulty + shift))
