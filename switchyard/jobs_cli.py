"""`switchyard jobs`: the loop's scheduled jobs (evals, clustering, the rollback guard, the optimizer)
as a process of their own — what `switchyard up` runs in a background thread — for deployments that
run each role in its own container (docs/deploy.md). Mount with ``app.command("jobs")(jobs)``."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from .loop_jobs import LoopJobs


def jobs(
    every: Annotated[float, typer.Option(min=1.0, help="Seconds between rounds.")] = 300.0,
    first_after: Annotated[float | None, typer.Option(help="Seconds before the first round (default: one "
                                                           "interval).")] = None,
    once: Annotated[bool, typer.Option("--once", help="Run one round now and exit (for a scheduler such as a "
                                                      "Kubernetes CronJob).")] = False,
    data_dir: Annotated[Path, typer.Option(envvar="SWITCHYARD_DATA_DIR", help="SQLite's directory when "
                                                                              "DATABASE_URL is unset.")] = Path("data"),
    metrics_port: Annotated[int | None, typer.Option(envvar="SWITCHYARD_JOBS_METRICS_PORT", min=0, max=65535,
                                                     help="Serve the alert counters on /metrics at this port "
                                                          "(Prometheus text; none by default).")] = None,
    metrics_host: Annotated[str, typer.Option(envvar="SWITCHYARD_JOBS_METRICS_HOST",
                                              help="Listen address of --metrics-port.")] = "127.0.0.1",
) -> None:
    """Score new turns, cluster failures, guard the active policy and propose, every --every seconds."""
    from store.engine import make_engine

    from .alert_delivery import AlertMetrics
    from .alerts_cli import build_alerts, load_settings
    from .loop_jobs import LoopJobs, LoopSettings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    alert_settings = load_settings()
    metrics = AlertMetrics.create()
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr=metrics_host, registry=metrics.registry)
    engine = make_engine(os.environ.get("DATABASE_URL"), data_dir=data_dir)
    loop = LoopJobs(engine, LoopSettings(interval_s=every, first_after_s=first_after),
                    alerts=build_alerts(engine, alert_settings, metrics))
    try:
        if once:
            loop.run_once()
            if loop.alerts is not None:
                loop.alerts.close()  # send what this round queued before the process ends
            _report(loop)
            raise typer.Exit(1 if loop.status.errors else 0)
        stopped = threading.Event()
        # SIGTERM (docker stop, a pod's termination) ends the loop between rounds, like Ctrl-C
        signal.signal(signal.SIGTERM, lambda signum, frame: stopped.set())
        loop.start()
        print(f"jobs: a round every {every:g} s; SIGTERM or Ctrl-C ends the loop between rounds", file=sys.stderr,
              flush=True)
        try:
            while not stopped.wait(every):
                _report(loop)
        except KeyboardInterrupt:
            pass
        loop.stop()
    finally:
        engine.dispose()


def _report(loop: LoopJobs) -> None:
    status = loop.status
    print(f"jobs: {status.scored} turns scored; clusters {status.clusters}; guard: {status.guard}; "
          f"proposal: {status.proposal}; alerts: {status.alerts}"
          + (f"; errors: {status.errors}" if status.errors else ""),
          file=sys.stderr, flush=True)
