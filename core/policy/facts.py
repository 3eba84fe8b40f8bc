"""What decide() looks at, and what it returns."""

from __future__ import annotations

from dataclasses import dataclass

from .schema import Target


@dataclass(frozen=True, slots=True)
class RouteFacts:
    input_tokens: int = 0
    tool_count: int = 0
    requested_tier: str | None = None
    thinking: bool = False
    request_class: str | None = None
    agent_type: str | None = None
    developer: str | None = None
    team: str | None = None
    repo: str | None = None
    session_id: str | None = None
    groups: tuple[str, ...] = ()  # the caller's groups (a /login bearer's IdP groups, a key's listed ones)


@dataclass(slots=True)  # not frozen: made on every turn, and frozen dataclasses cost ~1 µs to build
class Decision:
    """The target chain for one turn and why. ``propensity`` is the probability that the first
    target was chosen for these facts under this policy, over the session hash (1.0 for a
    deterministic route): the optimizer's replay needs it for unbiased estimates."""

    chain: tuple[Target, ...]
    rule: str
    version: str
    propensity: float
    model: str | None = None  # the rule's/arm's model rewrite; overrides each target's own model

    def model_for(self, target: Target) -> str | None:
        """The model id to put in the request body for ``target`` (None: leave the body alone).
        A target of another provider always gets its own model: a rewrite names an Anthropic id."""
        if target.provider != "anthropic":
            return target.model
        return self.model or target.model
