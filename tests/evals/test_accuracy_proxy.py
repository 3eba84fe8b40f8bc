"""Accuracy against the ground truth, proxy mode: the same kind of fleet driven through the REAL
proxy (uvicorn on loopback) against the fake upstream, the proxy's exported spans stored through
ingest's pipeline, the simulated CLIs' telemetry events stored alongside, then scored on
SQLite and PostgreSQL. What the evaluators see here is what the gateway really recorded."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine

from core.pricing import builtin_price_table
from core.spans import Turn
from evals.latency import LatencySLO
from evals.registry import builtin_evaluators
from evals.runner import EvalSettings, run_evals
from ingest.local import LocalIngest
from sim.fleet_config import FailureMode, FleetConfig, Outcome
from sim.fleet_plan import plan_sessions
from tests.evals.harness import accuracy, keyed_scores, read_truth
from tests.gateway import fleet_through_gateway

SEED = 4242
SESSIONS = 32
# Denser failure modes than the defaults, so a fleet small enough for a test has plenty of each.
MODES = (
    FailureMode("haiku-edit", Outcome.TOOL_FAIL, 0.9, tier="haiku", tool="Edit"),
    FailureMode("opus-timeout", Outcome.TIMEOUT, 0.5, tier="opus", min_tokens=80_000),
    FailureMode("sonnet-bash-malformed", Outcome.BAD_TOOL_INPUT, 0.8, tier="sonnet", tool="Bash"),
    FailureMode("haiku-truncate", Outcome.TRUNCATE, 0.3, tier="haiku", min_tokens=20_000),
    FailureMode("grep-loop", Outcome.LOOP, 0.4, tool="Grep"),
    FailureMode("cache-bust", Outcome.COST_SPIKE, 0.08, min_tokens=30_000),
    FailureMode("sonnet-slow", Outcome.SLOW, 0.12, tier="sonnet", min_tokens=30_000),
)
SLOW_FIRST_BYTE_S = 2.0
# The fake answers in milliseconds (p99 ~150 ms here, up to ~1 s when the machine is busy): an SLO
# of 1.2 s (plus a little per token) separates the turns the fleet slowed down by 2 s from the rest.
SLO = LatencySLO(base_ms=1_200.0, per_1k_input_ms=0.5, per_output_token_ms=0.0)


@dataclass(frozen=True)
class ProxyFleet:
    turns: list[Turn]
    events: list[dict[str, Any]]
    truth: pl.DataFrame
    statuses: dict[int, int]


@pytest.fixture(scope="module")
def proxy_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyFleet]:
    directory = tmp_path_factory.mktemp("proxy-fleet")
    config = FleetConfig(seed=SEED, sessions=SESSIONS, modes=MODES)
    plans = list(plan_sessions(config, builtin_price_table()))
    run, turns = fleet_through_gateway(directory, config, plans, slow_first_byte_s=SLOW_FIRST_BYTE_S,
                                       truth_path=directory / "truth.csv")
    yield ProxyFleet(turns, run.events, read_truth(directory / "truth.csv"), dict(run.statuses))


def test_the_proxy_recorded_every_planned_turn_attributed(proxy_fleet: ProxyFleet) -> None:
    turns, truth = proxy_fleet.turns, proxy_fleet.truth
    assert len(turns) == truth.height == sum(proxy_fleet.statuses.values())
    assert {turn.request_class for turn in turns} == {"main"}
    assert all(turn.developer and turn.team and turn.repo and turn.session_id for turn in turns)
    planned = truth.group_by("session_id").agg(pl.col("developer").first(), pl.col("repo").first())
    seen = {(turn.session_id, turn.developer, turn.repo) for turn in turns}
    assert seen == set(planned.iter_rows())
    # model switches (escalations) are visible as the requested model changing within a session
    models = pl.DataFrame({"session_id": [t.session_id for t in turns], "start": [t.start_ns for t in turns],
                           "model": [t.requested_model for t in turns]}).sort("session_id", "start")
    switches = models.with_columns(pl.col("model").shift().over("session_id").alias("before")).filter(
        pl.col("before").is_not_null() & (pl.col("before") != pl.col("model"))).height
    assert switches == truth.filter(pl.col("escalated_after")).height > 0


def test_evaluators_match_the_truth_on_what_the_proxy_recorded(db_engine: Engine, proxy_fleet: ProxyFleet) -> None:
    prices = builtin_price_table()
    LocalIngest(db_engine, prices=prices).write(proxy_fleet.turns, proxy_fleet.events)
    report = run_evals(db_engine, builtin_evaluators(prices, slo=SLO), EvalSettings(settle_s=0))
    assert report.scored_turns == len(proxy_fleet.turns)
    results = accuracy(proxy_fleet.truth, keyed_scores(db_engine))
    table = {name: (r.true_positives, r.false_positives, r.false_negatives) for name, r in results.items()}
    durations = sorted(turn.duration_ms for turn in proxy_fleet.turns)
    for name, result in results.items():
        assert result.true_positives >= 3, (name, table)
        if name == "latency_slo":  # if this fails, say how busy the machine was
            assert result.precision >= 0.9 and result.recall >= 0.9, (table, durations[-20:])
        assert result.precision >= 0.9 and result.recall >= 0.9, (name, table)
