"""A fleet routed by the real decide() under a stored policy (exploration block, a small-turns
rule, a default), so every turn carries the rule, propensity and target the proxy would have
recorded; and a clustering run over some of its turns (twelve clusters, members stored), as the
evals would write it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine

from core.policy.compile import compile_policy
from core.policy.decide import decide
from core.policy.facts import RouteFacts
from core.policy.schema import Default, Exploration, Policy, Rule, Target
from ingest.local import LocalIngest, fixed_clock
from store.cluster_runs import write_cluster_run
from store.eval_queries import write_scores
from store.policies import activate, create_version
from store.testing import sample_turn

MODELS = {"haiku": "claude-haiku-4-5", "sonnet": "claude-sonnet-4-5", "opus": "claude-opus-4-5"}
SMALL_TURNS = 15_000
RUN_ID = "run-routed"
CLUSTERS = 12


def routed_policy(version: str = "r1") -> Policy:
    return Policy(
        version=version,
        targets=tuple(Target(name=tier, base_url="https://api.anthropic.com", model=model, tier=tier)  # type: ignore[arg-type]
                      for tier, model in MODELS.items()),
        exploration=Exploration(share=0.1, targets=("haiku", "sonnet", "opus")),
        rules=(Rule(name="small-turns", when={"input_tokens": {"lt": SMALL_TURNS}}, route=("haiku", "sonnet")),),
        default=Default(route=("sonnet", "opus")),
    )


def _ns(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp()) * 1_000_000_000 + moment.microsecond * 1000


@dataclass
class RoutedFleet:
    keys_by_rule: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    sessions: list[str] = field(default_factory=list)  # oldest first
    developer_of: dict[str, str] = field(default_factory=dict)
    repo_of: dict[str, str] = field(default_factory=dict)
    started_of: dict[str, datetime] = field(default_factory=dict)
    members: dict[int, list[tuple[str, str]]] = field(default_factory=dict)  # cluster → member turn keys
    names: list[str] = field(default_factory=list)


def seed_routed(engine: Engine, now: datetime, sessions: int = 60, turns_per_session: int = 6) -> RoutedFleet:
    """``sessions`` sessions of ``turns_per_session`` turns, one session an hour ending now; the
    policy stored (and active) as r1. About one session in ten is explored (60 sessions hold six)."""
    policy = routed_policy()
    create_version(engine, policy, actor="setup")
    activate(engine, policy.version, actor="setup")
    compiled = compile_policy(policy)
    fleet, records = RoutedFleet(), []
    for number in range(sessions):
        session, developer, repo = f"routed-{number:03d}", f"dev{number % 4}", f"repo{number % 3}"
        began = now - timedelta(hours=sessions - number, minutes=-1)
        fleet.sessions.append(session)
        fleet.developer_of[session], fleet.repo_of[session], fleet.started_of[session] = developer, repo, began
        for step in range(turns_per_session):
            index = number * turns_per_session + step
            tokens = 5_000 + (number * 7 + step * 13) % 40 * 1_000
            decision = decide(compiled, RouteFacts(input_tokens=tokens, tool_count=12, requested_tier="opus",
                                                   developer=developer, repo=repo, session_id=session))
            target = decision.chain[0]
            started = began + timedelta(minutes=step)
            failed = step == turns_per_session - 1 and number % 5 == 0
            record = sample_turn(
                100_000 + index, start_ns=_ns(started), end_ns=_ns(started) + 2_000_000_000, session_id=session,
                developer=developer, team=f"team{number % 2}", repo=repo, requested_model=MODELS["opus"],
                served_model=None if failed else target.model, target=target.name, rule=decision.rule,
                policy_version=decision.version, propensity=decision.propensity, estimated_input_tokens=tokens,
                tool_count=12, thinking=False, status_code=529 if failed else 200,
                error_type="overloaded_error" if failed else None)
            records.append(record)
            fleet.keys_by_rule.setdefault(decision.rule, []).append((record.trace_id.hex(), record.span_id.hex()))
    LocalIngest(engine, clock=fixed_clock(now)).write(records, [])
    assert {"small-turns", "default"} <= set(fleet.keys_by_rule), fleet.keys_by_rule.keys()
    return fleet


def seed_routed_clusters(engine: Engine, now: datetime, fleet: RoutedFleet) -> None:
    """A run of CLUSTERS clusters over the default-rule turns (dealt round-robin), the first one
    the largest, each with window counts, features and examples as the evals store them; the
    first cluster's turns also get a failing score."""
    keys = fleet.keys_by_rule["default"]
    for position, key in enumerate(keys):
        fleet.members.setdefault(0 if position % 2 == 0 else 1 + position % (CLUSTERS - 1), []).append(key)
    clusters, members = [], []
    for cluster in range(CLUSTERS):
        chosen = fleet.members.get(cluster, [])
        name = f"mode {cluster:02d} · Edit failures" if cluster else "haiku · > 20 K tokens · Edit failures"
        fleet.names.append(name)
        clusters.append({
            "run_id": RUN_ID, "cluster": cluster, "created_at": now, "window_start": now - timedelta(days=7),
            "window_end": now, "name": name, "size": len(chosen), "cost_usd": Decimal("1.25") * (cluster + 1),
            "trend": "falling" if cluster == 0 else "steady",
            "window_counts": [2, 4, 9, 14] if cluster == 0 else [1, 1, 0, 1],
            "features": {"signal": "tool_failure", "tool": "Edit", "tier": "haiku", "tokens_p10": 20_400},
            "examples": [f"{trace}:{span}" for trace, span in chosen[:3]]})
        members += [{"run_id": RUN_ID, "trace_id": trace, "span_id": span, "cluster": cluster}
                    for trace, span in chosen]
    write_cluster_run(engine, clusters, members)
    write_scores(engine, [
        {"trace_id": trace, "span_id": span, "evaluator": "tool_failure", "version": "1", "value": 0.0,
         "label": "fail", "reason": "Edit: string to replace not found", "session_id": None,
         "started_at": now - timedelta(hours=1), "scored_at": now}
        for trace, span in fleet.members[0]])
