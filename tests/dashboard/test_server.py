"""`switchyard dashboard` serves through waitress (a production WSGI server, not werkzeug's
development one), signs users in over it, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
from sqlalchemy import Engine

from dashboard.settings import DashboardSettings
from switchyard.processes import free_port
from tests.dashboard.client import sign_in
from tests.dashboard.conftest import PASSWORDS


def test_the_dashboard_command_serves_through_waitress_and_stops_on_sigterm(
        settings: DashboardSettings, db_url: str, db_engine: Engine) -> None:
    users = {name: {"password_hash": user.password_hash, "role": user.role.value}
             for name, user in settings.users.items()}
    port = free_port()
    env = {**os.environ, "DATABASE_URL": db_url, "SWITCHYARD_DASHBOARD_USERS": json.dumps(users),
           "SWITCHYARD_DASHBOARD_SECRET_KEY": "server-test-secret-0123456789"}
    process = subprocess.Popen([sys.executable, "-m", "switchyard", "dashboard", "--port", str(port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            alive = process.poll() is None and time.monotonic() < deadline
            assert alive, process.stdout.read() if process.stdout else ""
            try:
                health = httpx.get(base + "/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert health.status_code == 200 and health.headers["server"] == "switchyard-dashboard"
        with httpx.Client(base_url=base, timeout=30) as client:
            assert sign_in(client, "victor", PASSWORDS["victor"]).status_code == 302
            assert client.get("/_dash-layout").status_code == 200
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert "waitress" in output and "dashboard stopped" in output
    assert "development server" not in output

