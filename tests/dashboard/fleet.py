"""A small, varied fleet written into a real store for the dashboard tests: turns over the last
~40 days (two calendar months), three models, two targets, two rules, fallbacks, errors, tool
calls, Claude Code tool-result events; two policy versions with budgets; one failure-cluster run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, select

from core.policy.diff import diff
from core.policy.schema import Budget, Default, Policy, Rule, Target
from ingest.local import LocalIngest, fixed_clock
from store.policies import activate, create_version
from store.proposals import Proposal, create_proposal
from store.schema import failure_clusters, turns
from store.testing import sample_turn

MODELS = ("claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-5")
NANO = Decimal("0.000000001")


@dataclass(frozen=True, slots=True)
class Fleet:
    turns: int
    sessions: tuple[str, ...]


def _ns(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def seed_turns(engine: Engine, now: datetime, count: int = 1_200) -> Fleet:
    """``count`` turns spread over the last 40 days, the newest a few minutes ago."""
    records = []
    events = []
    for index in range(count):
        started = now - timedelta(minutes=5) - timedelta(hours=index * 40 * 24 / count)
        model = MODELS[index % 3]
        fell_back = index % 11 == 0
        failed = index % 37 == 0
        session = f"session-{index // 12:03d}"
        tools = ("Bash", "Read") if index % 2 else ("Edit",)
        records.append(sample_turn(
            index, start_ns=_ns(started), end_ns=_ns(started) + 1_500_000_000 + index * 1_000_000,
            session_id=session, developer=f"dev{index % 5}", team=f"team{index % 3}", repo=f"repo{index % 4}",
            requested_model=model, served_model=model, target="secondary" if fell_back else "primary",
            rule="small-turns" if model == "claude-haiku-4-5" else "default", policy_version="v1",
            estimated_input_tokens=14_203 + index, ttfb_ms=200.0 + (index % 50) * 7,
            fallback_hops=("primary:529", "secondary:200") if fell_back else (),
            status_code=529 if failed else 200, error_type="overloaded_error" if failed else None,
            input_tokens=37 + index * 13 % 5000, output_tokens=11 + index * 7 % 3000,
            cache_creation_tokens=index * 101 % 20_000, cache_read_tokens=index * 977 % 90_000,
            tool_use_ids=tuple(f"toolu_{index}_{n}" for n in range(len(tools))), tool_use_names=tools))
        events.append({"session_id": session, "event_name": "claude_code.tool_result",
                       "time_ns": _ns(started) + 2_000_000_000,
                       "attributes": {"tool_name": tools[0], "success": "false" if index % 9 == 0 else "true"}})
    LocalIngest(engine, clock=fixed_clock(now)).write(records, events)
    return Fleet(count, tuple(sorted({str(r.session_id) for r in records})))


def policy(version: str, parent: str | None, small_turn_limit: int) -> Policy:
    return Policy(
        version=version, parent=parent,
        targets=(Target(name="primary", base_url="https://api.anthropic.com", tier="sonnet"),
                 Target(name="secondary", base_url="https://eu.example.com", tier="sonnet"),
                 Target(name="haiku", base_url="https://api.anthropic.com", model="claude-haiku-4-5", tier="haiku")),
        rules=(Rule(name="small-turns", when={"input_tokens": {"lt": small_turn_limit}}, route=("haiku", "primary")),),
        default=Default(route=("primary", "secondary")),
        budgets=(Budget(scope="developer", name="*", monthly_usd=Decimal("12")),
                 Budget(scope="team", name="team0", monthly_usd=Decimal("1000")),
                 Budget(scope="developer", name="dev1", monthly_usd=Decimal("0.5"), soft=0.5, hard=0.9)),
    )


def seed_policies(engine: Engine) -> None:
    """v1 active, v2 stored (a tighter small-turns rule), both by "setup"."""
    create_version(engine, policy("v1", None, 20_000), actor="setup", note="first")
    create_version(engine, policy("v2", "v1", 12_000), actor="setup", note="optimizer: fewer haiku turns")
    activate(engine, "v1", actor="setup")


def seed_proposal(engine: Engine, parent: str = "v1", candidate: str = "v3") -> Proposal:
    """An optimizer proposal: ``candidate`` routes fewer turns to haiku than ``parent``."""
    before, after = policy(parent, None, 20_000), policy(candidate, parent, 8_000)
    evidence = {"turns": 48_211, "ess": 1_904.0, "delta_monthly_cost_usd": -412.5,
                "delta_quality": {"value": 0.0021, "low": -0.0009, "high": 0.0052, "level": 0.95},
                "rationale": f"{candidate}: haiku below 8,000 tokens cuts replayed cost by 6.1%.",
                "clusters": [{"cluster": 2, "name": "haiku · 8–20K · Edit fails", "size": 240, "moved": 212,
                              "moves": {"haiku → sonnet": 212}}]}
    return create_proposal(engine, parent_version=parent, candidate_version=candidate,
                           document=after.model_dump(mode="json"), diff=diff(before, after).to_dict(),
                           evidence=evidence, actor="optimizer")


def seed_clusters(engine: Engine, now: datetime) -> None:
    rows = [
        {"run_id": "run-1", "cluster": n, "created_at": now - timedelta(hours=1),
         "window_start": now - timedelta(days=7), "window_end": now, "name": name, "size": size,
         "cost_usd": Decimal(cost), "trend": trend,
         "window_counts": counts, "features": {"error_type": "overloaded_error"}, "examples": ["a/b", "c/d"]}
        for n, (name, size, cost, trend, counts) in enumerate([
            ("edit: string to replace not found", 42, "3.25", "rising", [3, 9, 30]),
            ("upstream overloaded on primary", 17, "0.75", "flat", [6, 5, 6]),
        ])
    ]
    with engine.begin() as connection:
        connection.execute(failure_clusters.insert(), rows)


def exact_turn_total(engine: Engine, start: datetime | None = None, end: datetime | None = None) -> Decimal:
    """The sum of the turns' own costs, in Python Decimal (the reference the exports must equal)."""
    query = select(turns.c.cost_usd)
    if start is not None:
        query = query.where(turns.c.started_at >= start)
    if end is not None:
        query = query.where(turns.c.started_at < end)
    with engine.connect() as connection:
        return sum((Decimal(v).quantize(NANO) for v in connection.execute(query).scalars()), Decimal(0))
