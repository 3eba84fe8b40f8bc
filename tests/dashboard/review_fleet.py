"""Policies and proposals for the review tests: v1 active and v2 stored (tests.dashboard.fleet's
policies), and proposals whose candidates change v1's rules, with evidence shaped as the optimizer
stores it (optimizer.evidence) plus per-segment figures and the judged candidates."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from core.policy.diff import diff
from core.policy.schema import Policy, Rule
from store.policies import get_version
from store.proposals import Proposal, create_proposal

THINKING_RULE = Rule(name="thinking-opus", when={"thinking": True, "input_tokens": {"gte": 30_000}},
                     route=("primary", "secondary"), model="claude-opus-4-5")


def candidate(parent: Policy, version: str, small_turn_limit: int = 8_000) -> Policy:
    """``parent`` with its small-turns limit moved and a thinking rule added before it."""
    small = {**parent.rules[0].model_dump(mode="json"), "when": {"input_tokens": {"lt": small_turn_limit}}}
    return Policy.model_validate({**parent.model_dump(mode="json"), "version": version, "parent": parent.version,
                                  "rules": [THINKING_RULE.model_dump(mode="json"), small]})


def evidence(margin: float = 0.0080) -> dict[str, Any]:
    return {
        "method": "doubly robust; percentile bootstrap over sessions", "turns": 48_211, "sessions": 3_102,
        "days": 14.0, "seed": 0, "bootstrap_rounds": 200, "trials": 150, "ess": 1_904.2, "ess_sessions": 312.4,
        "agreeing_turns": 30_114,
        "baseline": {"quality_dr": {"value": 0.9412, "low": 0.9332, "high": 0.9492}, "monthly_cost_usd": 6_700.0},
        "candidate": {"quality_dr_value": 0.9433, "monthly_cost_usd": 6_287.5},
        "delta_monthly_cost_usd": -412.5, "delta_cost_share": -0.0616,
        "delta_quality": {"value": 0.0021, "low": -0.0009, "high": 0.0052, "level": 0.95},
        "quality_floor": 0.9412 - margin, "quality_margin": margin,
        "rationale": "Moving the haiku→sonnet threshold 20,000 → 8,000 cuts replayed cost by 6.1%.",
        "segments": [
            {"segment": "turns with thinking on", "turns": 9_120, "sessions": 640, "delta_monthly_cost_usd": 35.2,
             "delta_quality": {"value": 0.0104, "low": 0.0031, "high": 0.0180}, "ess": 702.5},
            {"segment": "everything else", "turns": 39_091, "sessions": 2_950, "delta_monthly_cost_usd": -447.7,
             "delta_quality": {"value": -0.0004, "low": -0.0021, "high": 0.0013}, "ess": 1_201.7},
        ],
        "candidates": [{"monthly_cost_usd": 6_700.0 - 30.0 * n, "delta_quality": 0.003 - 0.0009 * n,
                        "feasible": 0.003 - 0.0009 * n > -margin} for n in range(20)],
        "clusters": [],
    }


def seed_review_proposal(engine: Engine, version: str, *, parent: str = "v1", margin: float = 0.0080,
                         extra: dict[str, Any] | None = None) -> Proposal:
    before = get_version(engine, parent).policy()
    after = candidate(before, version)
    return create_proposal(engine, parent_version=parent, candidate_version=version,
                           document=after.model_dump(mode="json"), diff=diff(before, after).to_dict(),
                           evidence={**evidence(margin), **(extra or {})}, actor="optimizer")

