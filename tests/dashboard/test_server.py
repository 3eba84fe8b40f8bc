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
from tests.faults.front_door import exchange, status_of, trickle


def _start(settings: DashboardSettings, db_url: str, **env: str) -> tuple[subprocess.Popen[str], str]:
    """`switchyard dashboard` as a process, answering; (the process, its base URL)."""
    users = {name: {"password_hash": user.password_hash, "role": user.role.value}
             for name, user in settings.users.items()}
    port = free_port()
    environment = {**os.environ, "DATABASE_URL": db_url, "SWITCHYARD_DASHBOARD_USERS": json.dumps(users),
                   "SWITCHYARD_DASHBOARD_SECRET_KEY": "server-test-secret-0123456789", **env}
    process = subprocess.Popen([sys.executable, "-m", "switchyard", "dashboard", "--port", str(port)],
                               env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        alive = process.poll() is None and time.monotonic() < deadline
        if not alive:
            process.kill()
            raise AssertionError(process.communicate()[0])
        try:
            httpx.get(base + "/healthz", timeout=1)
            return process, base
        except httpx.HTTPError:
            time.sleep(0.2)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
        process.communicate()


def test_the_dashboard_command_serves_through_waitress_and_stops_on_sigterm(
        settings: DashboardSettings, db_url: str, db_engine: Engine) -> None:
    process, base = _start(settings, db_url)
    try:
        health = httpx.get(base + "/healthz", timeout=5)
        assert health.status_code == 200 and health.headers["server"] == "switchyard-dashboard"
        with httpx.Client(base_url=base, timeout=30) as client:
            assert sign_in(client, "victor", PASSWORDS["victor"]).status_code == 302
            assert client.get("/_dash-layout").status_code == 200
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        _stop(process)
    assert process.returncode == 0, output
    assert "waitress" in output and "dashboard stopped" in output
    assert "development server" not in output



def test_slow_or_oversized_headers_do_not_hold_a_dashboard_connection(
        settings: DashboardSettings, db_url: str, db_engine: Engine) -> None:
    """waitress alone closes only connections silent for 120 s: one sending a header byte every few
    seconds held its connection forever (issue 15, item 2)."""
    process, base = _start(settings, db_url, SWITCHYARD_DASHBOARD_HEADER_TIMEOUT_S="1.5")
    try:
        head = b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-pad: " + b"p" * 200 + b"\r\n\r\n"
        slow = trickle(base, head, every_s=0.2, give_up_s=10)
        assert slow.closed_after_s < 1.5 + 2.5, slow
        started = time.monotonic()
        assert exchange(base, b"", timeout_s=8) == b""  # closed without an answer…
        assert time.monotonic() - started < 1.5 + 2.5  # …at the deadline, not at the 8 s the client waits
        big = exchange(base, b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 100_000 + b"\r\n\r\n")
        assert status_of(big) == 431
        assert httpx.get(base + "/healthz", timeout=5).status_code == 200
    finally:
        _stop(process)
