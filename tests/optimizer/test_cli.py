"""`switchyard optimize` end to end on a SQLite store found by --data-dir (like `eval` and
`cluster`): a proposal is printed and stored; --watch reports on the active version."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from store.engine import SQLITE_FILENAME, make_engine
from store.proposals import list_proposals
from switchyard.optimize_cli import optimize
from tests.optimizer.stored import world_store


def test_optimize_stores_a_proposal_and_watch_reports(tmp_path: Path) -> None:
    url, engine, _ = world_store(tmp_path, turns=5_000, seed=8, haiku_below=1_000, opus_from=60_000)
    engine.dispose()  # the store becomes the data dir's own file, found by --data-dir alone
    (tmp_path / "switchyard-test.sqlite3").rename(tmp_path / SQLITE_FILENAME)
    engine = make_engine(data_dir=tmp_path)
    url = engine.url.render_as_string(hide_password=False)
    app = typer.Typer()
    app.command("optimize")(optimize)
    app.command("noop")(lambda: None)  # two commands: the test names the one it runs, as the CLI will
    runner = CliRunner()
    # the fleet's turns are from November 2026: a long window reaches them whatever today is
    # the guards count the held-out half of the sessions (optimizer.split); on it, the picks of a
    # search with less caution (--z 0 or 1) are 0.0385 worse than the active policy
    # 5 000 turns hold too few explored sessions for the default 10 a move (the optimizer would ask
    # for more exploration instead: tests/optimizer/test_explore_more.py); 3 lets the threshold move through
    result = runner.invoke(app, ["optimize", "--days", "36500", "--trials", "40", "--min-ess", "100",
                                 "--min-ess-sessions", "20", "--min-explored-sessions", "3",
                                 "--data-dir", str(tmp_path)], env={"DATABASE_URL": ""})
    assert result.exit_code == 0, result.output
    # v1 sends more to opus than this world needs: the proposal moves the opus threshold (a cheaper
    # move; one buying quality haiku → sonnet is too uncertain on 5 000 turns under the Wilson-bounded
    # floor, optimizer.replay.upgrade_standard_error)
    assert "proposal" in result.output and "~ rule large" in result.output
    assert len(list_proposals(engine, status="proposed")) == 1
    watched = runner.invoke(app, ["optimize", "--watch", "--database-url", url])
    assert watched.exit_code == 0, watched.output
    assert "v1:" in watched.output
    engine.dispose()


def test_min_saving_out_of_range_is_a_usage_error_and_touches_no_store(tmp_path: Path) -> None:
    """Who sends it: whoever runs the CLI. The worst values (negative, a whole saving or more, not a
    number) are refused by the option itself (exit 2, the option named) before any store is opened."""
    app = typer.Typer()
    app.command("optimize")(optimize)
    app.command("noop")(lambda: None)
    runner = CliRunner()
    for value in ("-0.1", "1.0", "5", "nan%"):
        result = runner.invoke(app, ["optimize", "--min-saving", value, "--data-dir", str(tmp_path)],
                               env={"DATABASE_URL": ""})
        assert result.exit_code == 2, (value, result.output)
        assert "--min-saving" in result.output, (value, result.output)
    assert not (tmp_path / SQLITE_FILENAME).exists()
