"""`switchyard jobs --metrics-port`: the jobs process finds a waiting proposal, posts it (signed) to a
failing channel, and counts the dead letter on its /metrics."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from store.engine import default_database_url, make_engine
from store.policies import active_state
from store.proposals import create_proposal
from switchyard.demo import prepare_store
from tests.alerts.receiver import WebhookReceiver
from tests.control.policies import document
from tests.loopback import serve_in_thread, wait_until

SECRET = "loopback-secret-0123456789"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def dead_letters(url: str) -> float:
    try:
        text = httpx.get(url, timeout=2).text
    except httpx.HTTPError:
        return -1.0
    for line in text.splitlines():
        if line.startswith('switchyard_alert_dead_letters_total{channel="ops",reason="failed"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_the_jobs_process_posts_and_counts_dead_letters_on_its_metrics(tmp_path: Path) -> None:
    url = default_database_url(tmp_path)
    prepare_store(url, "http://127.0.0.1:9")
    engine = make_engine(url, data_dir=tmp_path)
    state = active_state(engine)
    assert state is not None
    create_proposal(engine, parent_version=state.version, candidate_version="next", document=document("next"),
                    diff={}, evidence={}, actor="optimizer")
    engine.dispose()
    failing = WebhookReceiver(secret=SECRET, status=500)
    port = free_port()
    with serve_in_thread(failing, lifespan="off") as hook:
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env.update({"SWITCHYARD_ALERT_WEBHOOKS": json.dumps([{"url": hook, "secret": SECRET, "name": "ops"}]),
                    "SWITCHYARD_ALERT_RETRIES": "1", "SWITCHYARD_ALERT_BACKOFF_S": "0.1"})
        process = subprocess.Popen([sys.executable, "-m", "switchyard", "jobs", "--every", "1000", "--first-after",
                                    "0.5", "--data-dir", str(tmp_path), "--metrics-port", str(port)],
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            metrics = f"http://127.0.0.1:{port}/metrics"
            wait_until(lambda: dead_letters(metrics) == 1.0, timeout=60, what="a dead letter on /metrics")
            assert [r.json()["kind"] for r in failing.received] == ["proposal.pending"] * 2  # tried, retried
            assert all(r.signature_ok for r in failing.received)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            output = process.stdout.read().decode()  # type: ignore[union-attr]
            process.stdout.close()  # type: ignore[union-attr]
    assert SECRET not in output and "dead letter" in output
