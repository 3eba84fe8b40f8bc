"""`switchyard optimize` end to end on a SQLite store: a proposal is printed and stored; --watch
reports on the active version."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from bench.optimizer_world import START, default_policy, generate
from core.pricing import builtin_price_table
from store.engine import make_engine
from store.policies import activate, create_version
from store.proposals import list_proposals
from store.testing import migrated_sqlite_url
from switchyard.optimize_cli import optimize
from tests.optimizer.stored import store_world


def test_optimize_stores_a_proposal_and_watch_reports(tmp_path: Path) -> None:
    url = migrated_sqlite_url(tmp_path)
    engine = make_engine(url)
    prices = builtin_price_table()
    policy = default_policy("v1", explore=30)
    create_version(engine, policy, actor="alice", now=START)
    activate(engine, "v1", actor="alice", now=START)
    store_world(engine, generate(policy, prices, turns=5_000, seed=8), prices)
    app = typer.Typer()
    app.command("optimize")(optimize)
    app.command("noop")(lambda: None)  # two commands: the test names the one it runs, as the CLI will
    runner = CliRunner()
    # the fleet's turns are from November 2026: a long window reaches them whatever today is
    result = runner.invoke(app, ["optimize", "--days", "36500", "--trials", "40", "--z", "0", "--min-ess", "100",
                                 "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "proposal" in result.output and "rule small" in result.output
    assert len(list_proposals(engine, status="proposed")) == 1
    watched = runner.invoke(app, ["optimize", "--watch", "--database-url", url])
    assert watched.exit_code == 0, watched.output
    assert "v1:" in watched.output
    engine.dispose()
