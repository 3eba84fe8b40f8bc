"""The `switchyard` command line: one entry point, one sub-command per part."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from evals.cli import cluster_command, cluster_members_command, eval_command
from store.cli import store_app

from .alerts_cli import alerts_app
from .audit_cli import audit_app
from .chargeback_cli import export_app
from .dashboard_cli import dashboard_app
from .deploy_cli import deploy_app
from .jobs_cli import jobs
from .keys_cli import keys_app
from .optimize_cli import optimize
from .policy_cli import policy_app
from .settings_cli import settings_app

app = typer.Typer(help="switchyard: a self-hosted gateway for teams that run Claude Code.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(store_app, name="store", help="The database: migrations and retention.")
app.add_typer(policy_app, name="policy", help="Routing policies: validate, diff, apply, roll back.")
app.add_typer(settings_app, name="settings", help="Claude Code's managed settings per group (in the policy).")
app.add_typer(audit_app, name="audit")
app.add_typer(dashboard_app, name="dashboard")
app.add_typer(export_app, name="export")
app.add_typer(deploy_app, name="deploy")
app.add_typer(alerts_app, name="alerts")
app.command("eval", help="Score every new turn (incremental, idempotent).")(eval_command)
app.command("cluster", help="Group recent failures into named failure modes.")(cluster_command)
app.command("cluster-members", help="List the turns in each failure cluster of a stored run.")(
    cluster_members_command)
app.command("optimize", help="Search routing thresholds on a replay of stored turns; propose a policy diff.")(
    optimize)
app.command("jobs", help="The loop's scheduled jobs (evals, clusters, rollback guard, optimizer) on their own.")(jobs)


@app.command()
def proxy(
    host: Annotated[str | None, typer.Option(help="Listen address (SWITCHYARD_PROXY_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (SWITCHYARD_PROXY_PORT).")] = None,
) -> None:
    """Run the proxy alone (settings from SWITCHYARD_* environment variables; with
    SWITCHYARD_OIDC_ISSUER, developers sign in with /login: docs/identity.md)."""
    from proxy.settings import ProxySettings

    from .proxy_process import main as run_proxy

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    run_proxy(ProxySettings(**overrides))  # type: ignore[arg-type]


@app.command()
def ingest(
    host: Annotated[str | None, typer.Option(help="Listen address (SWITCHYARD_INGEST_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (SWITCHYARD_INGEST_PORT).")] = None,
) -> None:
    """Run ingest alone: OTLP/HTTP receiver, store, admin API and snapshot (DATABASE_URL or SQLite)."""
    from ingest.main import main as run_ingest
    from ingest.settings import IngestSettings

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    run_ingest(IngestSettings(**overrides))  # type: ignore[arg-type]


@app.command()
def upstream(
    host: str = "127.0.0.1",
    port: int = 8787,
    event_interval_ms: Annotated[float, typer.Option(help="Pause between SSE events.")] = 0.0,
) -> None:
    """Run the fake Anthropic upstream (for demos, tests and benchmarks; no key needed)."""
    from sim.upstream import run
    from sim.upstream_config import UpstreamConfig

    run(host, port, UpstreamConfig(event_interval_s=event_interval_ms / 1000))


@app.command()
def up(
    data_dir: Annotated[Path, typer.Option(help="Database (SQLite unless DATABASE_URL), spool, logs.")] = Path("data"),
    port: Annotated[int, typer.Option(help="The proxy's port.")] = 4000,
    ingest_port: Annotated[int, typer.Option(help="Ingest's port (loopback).")] = 4318,
    dashboard_port: Annotated[int, typer.Option(help="The dashboard's port (loopback).")] = 8050,
    jobs_every: Annotated[float, typer.Option(help="Seconds between evals/clusters/optimizer runs (0: off).")] = 300,
) -> None:
    """Run the real service: ingest, the proxy, the dashboard, and scheduled evals and optimizer
    (upstream key from SWITCHYARD_UPSTREAM_API_KEY)."""
    from .up import UpOptions, run_up

    raise typer.Exit(run_up(UpOptions(data_dir=data_dir, proxy_port=port, ingest_port=ingest_port,
                                      dashboard_port=dashboard_port, jobs_interval_s=jobs_every)))


@app.command()
def doctor() -> None:
    """Check the configuration and connectivity (the same SWITCHYARD_* settings the services read)."""
    from rich.console import Console
    from rich.table import Table

    from proxy.settings import ProxySettings

    from .doctor import run_checks
    from .doctor_signin import signin_check

    checks = run_checks(ProxySettings())
    signin = signin_check()
    if signin is not None:
        checks.append(signin)
    table = Table("check", "", "detail", title="switchyard doctor")
    for check in checks:
        table.add_row(check.name, "[green]ok[/green]" if check.ok else "[red]problem[/red]", check.detail)
    Console().print(table)
    raise typer.Exit(0 if all(c.ok for c in checks) else 1)


@app.command()
def demo(
    developers: Annotated[int, typer.Option(min=1, max=12, help="Simulated developers sending live traffic.")] = 4,
    turns: Annotated[int | None, typer.Option(help="Stop after this many live turns.")] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    burstiness: Annotated[float, typer.Option(min=0.0, max=1.0, help="0: steady traffic; towards 1: developers "
                                                                     "often pause, so turns come in bursts.")] = 0.0,
    history_days: Annotated[float, typer.Option(min=0.0, max=30.0, help="Days of simulated fleet history written "
                                                                        "to the store first (0: none).")] = 7.0,
    jobs_every: Annotated[float, typer.Option(min=1.0, help="Seconds between evals/clusters/guard/optimizer "
                                                            "rounds.")] = 20.0,
    data_dir: Annotated[Path, typer.Option(help="Where the demo keeps its data (wiped at start).")] = Path(
        "data/demo"),
    live: Annotated[bool, typer.Option(help="Live per-turn display.")] = True,
    pace: Annotated[Literal["human", "fast"], typer.Option(
        help="human: developers run tools between turns and think between sessions (spend grows like a day of "
             "the history); fast: back to back, for load.")] = "human",
    anthropic_overloaded: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="The fake Anthropic answers this share of turns 529 overloaded_error, and every "
                               "route falls back to a fake Amazon Bedrock: a cross-provider fallback to watch.")] = 0.0,
) -> None:
    """Run the whole thing locally: fake upstream, proxy and a simulated Claude Code fleet."""
    from .demo import DemoOptions, run_demo

    code = run_demo(DemoOptions(data_dir=data_dir, developers=developers, turns=turns, duration_s=duration,
                                live=live, burstiness=burstiness, history_days=history_days,
                                jobs_interval_s=jobs_every, anthropic_overloaded=anthropic_overloaded,
                                pace=pace))
    raise typer.Exit(code)


def main() -> None:
    app()
