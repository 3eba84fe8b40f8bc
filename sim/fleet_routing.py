"""Routing a simulated fleet by a real policy: each turn's served tier comes from core.policy's
decide(), exactly as the proxy would route it (exploration split, thresholds, propensity), instead
of from the developer's own choice. This is what makes the fleet usable as the optimizer's ground
truth: the stored turns carry the policy version, the rule that fired and the propensity of the
target chosen, as the proxy's spans do.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.policy.compile import compile_policy
from core.policy.decide import decide
from core.policy.facts import RouteFacts
from core.policy.schema import Policy
from sim.fleet_config import MODEL_OF_TIER


@dataclass(frozen=True, slots=True)
class Routed:
    target: str
    tier: str
    model: str
    rule: str
    version: str
    propensity: float


class PolicyRouter:
    def __init__(self, policy: Policy) -> None:
        self._compiled = compile_policy(policy)

    def route(self, *, session_id: str, tokens: int, requested_tier: str, developer: str, team: str,
              repo: str, thinking: bool, tool_count: int, request_class: str = "main") -> Routed:
        decision = decide(self._compiled, RouteFacts(
            input_tokens=tokens, tool_count=tool_count, requested_tier=requested_tier, thinking=thinking,
            request_class=request_class, developer=developer, team=team, repo=repo, session_id=session_id))
        first = decision.chain[0]
        if first.tier is None:
            raise ValueError(f"target {first.name!r} has no tier: a routed fleet needs a tier on every target")
        model = decision.model_for(first) or MODEL_OF_TIER[first.tier]
        return Routed(first.name, first.tier, model, decision.rule, decision.version, decision.propensity)
