"""Judging a policy on a world's truth exactly as the proxy would route it: every turn of the week
goes through ``core.policy.decide`` (the proxy's own function) with the facts its request carried,
and the tier of the chain's first target is what the judgement prices. Pure.

A policy's true quality is the mean success probability of the turns on the tiers it picks; its true
cost is the week's USD with the prompt cache following the tiers (sim.fleet_counterfactual.TierTruth).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.policy.compile import compile_policy
from core.policy.decide import decide
from core.policy.exploration import rules_in_order
from core.policy.facts import RouteFacts
from core.policy.schema import TIERS, Policy
from sim.world_plan import REQUESTED_TIER, WorldTruth


@dataclass(frozen=True, slots=True)
class Routing:
    tiers: np.ndarray  # the tier index each turn is served on
    rules: np.ndarray  # object: the rule that fired


def route(policy: Policy, truth: WorldTruth) -> Routing:
    """Each turn's tier and rule under ``policy``, by ``decide()`` on the turn's request facts."""
    compiled = compile_policy(policy)
    tiers, rules = truth.tiers, np.empty(truth.request_class.shape[0], dtype=object)
    chosen = np.empty(truth.request_class.shape[0], dtype=np.int64)
    for i in range(chosen.shape[0]):
        decision = decide(compiled, RouteFacts(
            input_tokens=int(tiers.tokens[i]), tool_count=int(tiers.tool_count[i]), requested_tier=REQUESTED_TIER,
            thinking=bool(tiers.thinking[i]), request_class=str(truth.request_class[i]),
            developer=str(truth.developer[i]), team=str(truth.team[i]), repo=str(tiers.repo[i]),
            session_id=str(truth.session_id[i])))
        tier = decision.chain[0].tier
        if tier is None:
            raise ValueError(f"target {decision.chain[0].name!r} has no tier: a judged policy needs one on each")
        chosen[i], rules[i] = TIERS.index(tier), decision.rule
    return Routing(chosen, rules)


@dataclass(frozen=True, slots=True)
class Judged:
    quality: float  # mean true success probability
    cost: float  # USD over the week
    tiers: np.ndarray


def judge(policy: Policy, truth: WorldTruth) -> Judged:
    routed = route(policy, truth)
    quality, cost = truth.tiers.of_actions(routed.tiers)
    return Judged(quality, cost, routed.tiers)


def split_rules(policy: Policy) -> frozenset[str]:
    """The rules whose routing is a hashed split (exploration): a proposal keeps them, so the turns
    they catch are routed alike by every candidate the oracle compares."""
    return frozenset(rule.name for rule in rules_in_order(policy) if rule.split is not None)
