"""``switchyard eval``, ``cluster`` and ``cluster-members`` as the lead mounts them, on a small FAST fleet."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import typer
from sqlalchemy import Engine
from typer.testing import CliRunner

from core.pricing import builtin_price_table
from evals.cli import cluster_command, cluster_members_command, eval_command
from evals.runner import session_outcome_frame
from sim.fleet import run_fast
from sim.fleet_config import FleetConfig
from store.cluster_runs import cluster_members, clusters_frame
from tests.evals.harness import store_sink


def test_eval_then_cluster_from_the_command_line(db_engine: Engine, db_url: str) -> None:
    prices = builtin_price_table()
    # a fleet ending now-ish, so the commands' default windows (the last 7 days) cover it
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    config = FleetConfig(seed=77, sessions=40, start=start, days=2)
    run_fast(config, prices, store_sink(db_engine, prices, config))
    app = typer.Typer()
    app.command("eval")(eval_command)
    app.command("cluster")(cluster_command)
    app.command("cluster-members")(cluster_members_command)
    runner = CliRunner()

    scored = runner.invoke(app, ["eval", "--database-url", db_url, "--settle-s", "0"], terminal_width=200)
    assert scored.exit_code == 0, scored.output
    assert "scored" in scored.output and "tool_failure" in scored.output
    again = runner.invoke(app, ["eval", "--database-url", db_url], terminal_width=200)
    assert "(0 new scores" in again.output

    outcomes = session_outcome_frame(db_engine)
    assert outcomes.height == 40 and set(outcomes["label"]) <= {"succeeded", "struggled", "failed"}

    clustered = runner.invoke(app, ["cluster", "--database-url", db_url, "--seed", "3"], terminal_width=200)
    assert clustered.exit_code == 0, clustered.output
    stored = clusters_frame(db_engine)
    assert stored.height > 1 and f"run {stored['run_id'][0]}" in clustered.output
    assert f"{stored['size'].sum()} failing turns" in clustered.output
    # the header names both ends of the window with their dates (the end's date was dropped)
    window_end = stored["window_end"][0]
    assert f"→ {window_end:%Y-%m-%d %H:%M}" in clustered.output

    # membership: every member of the largest cluster, as JSON lines, with the turn it is
    run_id, largest = stored["run_id"][0], int(stored["cluster"][0])
    listed = runner.invoke(app, ["cluster-members", "--database-url", db_url, "--cluster", str(largest), "--json",
                                 "--limit", "100000"])
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.output.splitlines()]
    members = cluster_members(db_engine, run_id).filter(cluster=largest)
    assert sorted((r["trace_id"], r["span_id"]) for r in rows) == sorted(members.select("trace_id", "span_id").rows())
    assert {r["name"] for r in rows} == {stored["name"][0]} and all(r["started_at"] and r["session_id"] for r in rows)
    table = runner.invoke(app, ["cluster-members", "--database-url", db_url, "--limit", "5"], terminal_width=200)
    assert table.exit_code == 0 and f"run {run_id}: 5 member turn(s)" in table.output
    missing = runner.invoke(app, ["cluster-members", "--database-url", db_url, "--run", "nope"])
    assert missing.exit_code == 1 and "no clustering run 'nope'" in missing.output
