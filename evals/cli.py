"""``switchyard eval``, ``switchyard cluster`` and ``switchyard cluster-members``. Mounted in
switchyard/cli.py::

    from evals.cli import cluster_command, cluster_members_command, eval_command
    app.command("eval")(eval_command)
    app.command("cluster")(cluster_command)
    app.command("cluster-members")(cluster_members_command)

The database comes from ``--database-url`` / ``DATABASE_URL`` (default: the SQLite file).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from evals.latency import DEFAULT_BASE_MS, DEFAULT_PER_1K_INPUT_MS, DEFAULT_PER_OUTPUT_TOKEN_MS, LatencySLO
from evals.protocol import FAILING_BELOW, Evaluator
from store.engine import DEFAULT_DATA_DIR, make_engine

# The runners (polars, scikit-learn) are imported inside the commands: this module is loaded by
# every `switchyard` invocation, and scikit-learn alone takes seconds to import.

DatabaseUrl = Annotated[str | None, typer.Option("--database-url", envvar="DATABASE_URL",
                                                 help="SQLAlchemy URL; default: SQLite in --data-dir")]
DataDir = Annotated[Path, typer.Option("--data-dir", envvar="SWITCHYARD_DATA_DIR")]


def eval_command(
    database_url: DatabaseUrl = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    batch_size: Annotated[int, typer.Option(min=1, help="Turns per batch.")] = 5_000,
    settle_s: Annotated[float, typer.Option(help="Quiet time after which a thread's last turn is final.")] = 1_800.0,
    slo_base_ms: Annotated[float, typer.Option(help="Latency SLO: fixed allowance.")] = DEFAULT_BASE_MS,
    slo_per_1k_input_ms: Annotated[float, typer.Option(help="Latency SLO: per 1K input tokens.")] =
        DEFAULT_PER_1K_INPUT_MS,
    slo_per_output_token_ms: Annotated[float, typer.Option(help="Latency SLO: per output token.")] =
        DEFAULT_PER_OUTPUT_TOKEN_MS,
    judge: Annotated[bool, typer.Option(help="Also grade turns with an LLM judge (costs tokens).")] = False,
    judge_url: Annotated[str, typer.Option(envvar="SWITCHYARD_JUDGE_URL", help="Anthropic-compatible base URL.")] =
        "https://api.anthropic.com",
    judge_model: Annotated[str, typer.Option(help="Model the judge uses.")] = "claude-haiku-4-5",
) -> None:
    """Score every new turn with the built-in evaluators (incremental and idempotent)."""
    engine = make_engine(database_url, data_dir=data_dir)
    import polars as pl

    from core.pricing import builtin_price_table
    from evals.judge import LLMJudgeEvaluator
    from evals.judge_client import anthropic_completer
    from evals.registry import builtin_evaluators
    from evals.runner import EvalSettings, run_evals
    from store.eval_queries import scores_frame

    prices = builtin_price_table()
    slo = LatencySLO(slo_base_ms, slo_per_1k_input_ms, slo_per_output_token_ms)
    extra: tuple[Evaluator, ...] = ()
    client = None
    if judge:
        complete, client = anthropic_completer(judge_url, os.environ.get("SWITCHYARD_JUDGE_API_KEY"))
        extra = (LLMJudgeEvaluator(complete, model=judge_model),)
    try:
        started = datetime.now(UTC).replace(tzinfo=None)
        report = run_evals(engine, builtin_evaluators(prices, slo=slo, extra=extra),
                           EvalSettings(batch_size=batch_size, settle_s=settle_s))
        recent = scores_frame(engine, started - timedelta(days=7))
    finally:
        if client is not None:
            client.close()
        engine.dispose()
    console = Console()
    console.print(f"scored {report.scored_turns} of {report.examined} turns ({report.inserted} new scores, "
                  f"{report.deferred} waiting for their thread to settle); watermark {report.watermark}")
    for name, count in sorted(report.unavailable.items()):
        console.print(f"[yellow]{name} could not score {count} turns (will not retry them)[/yellow]")
    table = Table("evaluator", "turns scored", "failing", "failing %", title="last 7 days")
    summary = (recent.group_by("evaluator")
               .agg(pl.len().alias("n"), (pl.col("value") < FAILING_BELOW).sum().alias("failing"))
               .sort("evaluator"))
    for row in summary.iter_rows(named=True):
        table.add_row(row["evaluator"], str(row["n"]), str(row["failing"]), f"{100 * row['failing'] / row['n']:.1f}")
    console.print(table)


def cluster_command(
    database_url: DatabaseUrl = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    days: Annotated[float, typer.Option(min=0.01, help="Cluster the failures of this many days back.")] = 7.0,
    windows: Annotated[int, typer.Option(min=2, help="Time windows for the trend.")] = 4,
    seed: Annotated[int, typer.Option(help="random_state for scikit-learn.")] = 0,
    max_clusters: Annotated[int, typer.Option(min=2)] = 16,
) -> None:
    """Cluster low-scoring turns into named failure modes and store the run."""
    from core.pricing import builtin_price_table
    from evals.cluster_runner import run_clustering
    from evals.clusters import ClusterSettings

    engine = make_engine(database_url, data_dir=data_dir)
    end = datetime.now(UTC).replace(tzinfo=None)
    try:
        run = run_clustering(engine, builtin_price_table(), start=end - timedelta(days=days), end=end,
                             windows=windows, settings=ClusterSettings(random_state=seed, max_clusters=max_clusters))
    finally:
        engine.dispose()
    table = Table("failure mode", "turns", "cost $", "trend", "sessions per window", "example turn",
                  title=f"{len(run.rows)} failing turns, {run.window_start:%Y-%m-%d %H:%M} → "
                        f"{run.window_end:%Y-%m-%d %H:%M}")
    for cluster in run.clusters:
        table.add_row(cluster.name, str(cluster.size), f"{cluster.cost_usd:.2f}", cluster.trend,
                      " ".join(map(str, cluster.window_counts)), cluster.examples[0] if cluster.examples else "")
    Console().print(table)
    typer.echo(f"run {run.run_id}")


def cluster_members_command(
    run: Annotated[str | None, typer.Option(help="A run id (printed by `switchyard cluster`); default: the latest.")]
    = None,
    cluster: Annotated[int | None, typer.Option(min=0, help="Only this cluster's members (its number).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many turns.")] = 100,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many first.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line instead of a table.")] = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """List the turns a stored clustering run put in each failure cluster."""
    import json

    from store.cluster_runs import latest_run_id, member_turns, run_exists

    engine = make_engine(database_url, data_dir=data_dir)
    try:
        run_id = run or latest_run_id(engine)
        if run_id is None or not run_exists(engine, run_id):
            typer.echo(f"no clustering run {run_id!r}" if run else "no clustering run yet: run `switchyard cluster`",
                       err=True)
            raise typer.Exit(1)
        rows = member_turns(engine, run_id, cluster=cluster, limit=limit, offset=offset)
    finally:
        engine.dispose()
    if as_json:
        for row in rows:
            typer.echo(json.dumps({"run_id": run_id, **row}, default=str, sort_keys=True))
        return
    table = Table("cluster", "name", "turn (trace/span)", "started", "session", "model", "input tokens", "error",
                  title=f"run {run_id}: {len(rows)} member turn(s) from #{offset}")
    for row in rows:
        started = row["started_at"]
        table.add_row(str(row["cluster"]), row["name"], f"{row['trace_id']}/{row['span_id']}",
                      f"{started:%Y-%m-%d %H:%M:%S}" if started else "(deleted)", row["session_id"] or "",
                      row["served_model"] or "", str(row["estimated_input_tokens"] or ""), row["error_type"] or "")
    Console().print(table)
