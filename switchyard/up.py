"""`switchyard up`: the real service on one machine — ingest (with the admin API and the snapshot),
then the proxy, which exports its spans to ingest and takes policy, keys and balances from its
snapshot. Each part can also run alone (`switchyard ingest`, `switchyard proxy`) to scale out."""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.panel import Panel

from store.engine import make_engine

from .alerts_cli import build_alerts, load_settings
from .loop_jobs import LoopJobs, LoopSettings
from .processes import Supervisor


@dataclass
class UpOptions:
    data_dir: Path = Path("data")
    proxy_host: str = "0.0.0.0"  # developers' machines reach the proxy over the network
    proxy_port: int = 4000
    ingest_port: int = 4318
    dashboard_port: int = 8050
    jobs_interval_s: float = 300.0  # evals, clusters and the optimizer (0: not scheduled here)


def run_up(options: UpOptions) -> int:
    console = Console()
    options.data_dir.mkdir(parents=True, exist_ok=True)
    ingest_url = f"http://127.0.0.1:{options.ingest_port}"
    # The proxies' snapshot token: from the environment when several machines share it, else one
    # made for this run (it never leaves the two processes' environments).
    snapshot_token = os.environ.get("SWITCHYARD_SNAPSHOT_TOKEN") or secrets.token_urlsafe(32)
    # The same for the proxy's ingest (OTLP) token; other exporters' tokens (telemetry collectors,
    # proxies on other machines) come from SWITCHYARD_INGEST_TOKENS and are kept.
    otlp_token = os.environ.get("SWITCHYARD_OTLP_TOKEN") or secrets.token_urlsafe(32)
    try:
        ingest_tokens = {**json.loads(os.environ.get("SWITCHYARD_INGEST_TOKENS") or "{}"), otlp_token: "proxy"}
    except (ValueError, TypeError):
        console.print("[red]SWITCHYARD_INGEST_TOKENS must be a JSON object: token → proxy | telemetry[/red]")
        return 2
    keys_file = os.environ.get("SWITCHYARD_KEYS_FILE", str(options.data_dir / "keys.json"))
    alert_settings = load_settings()  # invalid alert settings stop `up` before anything starts (exit 2)
    with Supervisor(options.data_dir / "logs") as supervisor:
        supervisor.start("ingest", ["-m", "ingest.main"], {
            "SWITCHYARD_INGEST_HOST": "127.0.0.1", "SWITCHYARD_INGEST_PORT": str(options.ingest_port),
            "SWITCHYARD_DATA_DIR": str(options.data_dir),
            "SWITCHYARD_SNAPSHOT_TOKENS": json.dumps([snapshot_token]),
            "SWITCHYARD_INGEST_TOKENS": json.dumps(ingest_tokens), "SWITCHYARD_KEYS_FILE": keys_file,
        }, ingest_url + "/readyz", timeout_s=60)
        # The proxy, with /login's sign-in service mounted when SWITCHYARD_OIDC_ISSUER is set.
        supervisor.start("proxy", ["-m", "switchyard.proxy_process"], {
            "SWITCHYARD_PROXY_HOST": options.proxy_host, "SWITCHYARD_PROXY_PORT": str(options.proxy_port),
            "SWITCHYARD_DATA_DIR": str(options.data_dir),
            "SWITCHYARD_OTLP_ENDPOINT": ingest_url + "/v1/traces",
            "SWITCHYARD_SNAPSHOT_URL": ingest_url + "/v1/snapshot",
            "SWITCHYARD_SNAPSHOT_TOKEN": snapshot_token, "SWITCHYARD_OTLP_TOKEN": otlp_token,
            "SWITCHYARD_SPOOL_DIR": str(options.data_dir / "spool"), "SWITCHYARD_KEYS_FILE": keys_file,
        }, f"http://127.0.0.1:{options.proxy_port}/healthz")
        dashboard_url = f"http://127.0.0.1:{options.dashboard_port}"
        supervisor.start("dashboard", ["-m", "switchyard", "dashboard"], {
            "SWITCHYARD_DASHBOARD_PORT": str(options.dashboard_port), "SWITCHYARD_DATA_DIR": str(options.data_dir),
        }, dashboard_url + "/healthz", timeout_s=60)
        console.print(Panel.fit(
            f"proxy      http://{options.proxy_host}:{options.proxy_port}   (ANTHROPIC_BASE_URL for Claude Code)\n"
            f"ingest     {ingest_url}   (OTLP /v1/traces, /v1/logs, /v1/metrics; admin API, /v1/snapshot)\n"
            f"dashboard  {dashboard_url}   (users from SWITCHYARD_DASHBOARD_USERS)\n"
            f"logs       {options.data_dir / 'logs'}\n\nCtrl-C stops everything.", title="switchyard up"))
        jobs = None
        if options.jobs_interval_s > 0:
            engine = make_engine(os.environ.get("DATABASE_URL"), data_dir=options.data_dir)
            jobs = LoopJobs(engine, LoopSettings(interval_s=options.jobs_interval_s),
                            alerts=build_alerts(engine, alert_settings))
            jobs.start()
        try:
            while not (dead := supervisor.dead()):
                time.sleep(0.5)
            console.print(f"[red]{', '.join(c.name for c in dead)} stopped:[/red]\n{supervisor.tail(dead[0])}")
            return 1
        except KeyboardInterrupt:
            console.print("stopping…")
            return 0
        finally:
            if jobs is not None:
                jobs.stop()
                jobs.engine.dispose()
