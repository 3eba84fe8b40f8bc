"""The dashboard's own reads, on SQLite and PostgreSQL: bounded turn reads, fallback chains (the
JSON hop lists compare alike on both), sessions, clusters, and per-scope spend matching the store
balances the proxies use."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import Engine

from dashboard.budget_states import spend_by_scope
from dashboard.reads import fallback_chains, latest_clusters, one_turn, recent_sessions, recent_turns, turn_health
from store.balances import month_balances, month_bounds, month_of
from store.queries import rollup_frame
from tests.dashboard.conftest import utc_now
from tests.dashboard.fleet import seed_clusters, seed_turns

CENT_FRACTION = Decimal("0.000001")


def test_turn_health_is_bounded_by_time_and_count(db_engine: Engine) -> None:
    now = utc_now()
    seed_turns(db_engine, now, count=480)  # one turn every 2 hours over 40 days: 12 in the last day
    health = turn_health(db_engine, now - timedelta(hours=24))
    assert health.height == 12
    assert health["fell_back"].sum() == sum(1 for i in range(12) if i % 11 == 0)
    assert health["started_at"].min() >= now - timedelta(hours=24)
    assert turn_health(db_engine, now - timedelta(days=90), limit=50).height == 50


def test_fallback_chains_and_recent_turns(db_engine: Engine) -> None:
    now = utc_now()
    seed_turns(db_engine, now, count=480)
    chains = fallback_chains(db_engine, now - timedelta(days=90))
    assert chains.rows() == [("primary:529 → secondary:200", sum(1 for i in range(480) if i % 11 == 0))]
    newest = recent_turns(db_engine, limit=5)
    assert newest.height == 5 and newest["started_at"].is_sorted(descending=True)
    only = recent_turns(db_engine, only_fallbacks=True)
    assert only.height == chains["turns"][0] and all(len(hops) == 2 for hops in only["fallback_hops"])
    turn = one_turn(db_engine, newest["trace_id"][0], newest["span_id"][0])
    assert turn is not None and turn["fallback_hops"] == ["primary:529", "secondary:200"]
    assert one_turn(db_engine, "0" * 32, "0" * 16) is None


def test_recent_sessions(db_engine: Engine) -> None:
    seed_turns(db_engine, utc_now(), count=120)
    sessions = recent_sessions(db_engine, limit=3)
    assert sessions["session_id"].to_list() == ["session-000", "session-001", "session-002"]
    assert sessions["turns"].to_list() == [12, 12, 12]


def test_clusters_are_empty_before_a_run_then_the_newest_run_shows(db_engine: Engine) -> None:
    assert latest_clusters(db_engine).is_empty()
    seed_clusters(db_engine, utc_now())
    clusters = latest_clusters(db_engine)
    assert clusters["name"].to_list() == ["edit: string to replace not found", "upstream overloaded on primary"]
    assert clusters["window_counts"][0].to_list() == [3, 9, 30]


def test_spend_by_scope_matches_the_store_balances(db_engine: Engine) -> None:
    now = utc_now()
    seed_turns(db_engine, now, count=300)
    month = month_of(now)
    spend = spend_by_scope(rollup_frame(db_engine, *month_bounds(month), by=("developer", "team", "repo")))
    ours = {(row["scope"], row["name"]): Decimal(row["usd"]).quantize(CENT_FRACTION)
            for row in spend.iter_rows(named=True)}
    theirs = {(b.scope, b.name): b.usd.quantize(CENT_FRACTION) for b in month_balances(db_engine, month)}
    assert ours == theirs and ours
