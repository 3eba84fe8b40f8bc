"""``switchyard eval`` and ``switchyard cluster`` as the lead mounts them, on a small FAST fleet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import typer
from sqlalchemy import Engine
from typer.testing import CliRunner

from core.pricing import builtin_price_table
from evals.cli import cluster_command, eval_command
from evals.runner import session_outcome_frame
from sim.fleet import run_fast
from sim.fleet_config import FleetConfig
from store.cluster_runs import clusters_frame
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
