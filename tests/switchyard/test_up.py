"""`switchyard up` runs ingest and the proxy as the real service would, and stops both on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from sim.claude_shapes import build_headers, build_request_body, encode_body, make_session
from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from switchyard.keys_cli import create_key
from switchyard.processes import free_port
from tests.switchyard.test_demo import _processes_using


def test_up_serves_turns_into_the_store_and_stops_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = create_key(data / "keys.json", "alice", "payments")
    proxy_port, ingest_port, dashboard_port = free_port(), free_port(), free_port()
    with FakeUpstream(UpstreamConfig(expected_api_key="sk-ant-up-test")) as upstream:
        env = {**os.environ, "SWITCHYARD_UPSTREAM_URL": upstream.base_url,
               "SWITCHYARD_UPSTREAM_API_KEY": "sk-ant-up-test",
               "SWITCHYARD_ADMIN_TOKENS": '{"admin-token-0123456789abcdef": "ops"}', "COLUMNS": "200"}
        env.pop("DATABASE_URL", None)
        up = subprocess.Popen(
            [sys.executable, "-m", "switchyard", "up", "--data-dir", str(data), "--port", str(proxy_port),
             "--ingest-port", str(ingest_port), "--dashboard-port", str(dashboard_port), "--jobs-every", "1"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            proxy = f"http://127.0.0.1:{proxy_port}"
            deadline = time.monotonic() + 90
            for health in (proxy + "/healthz", f"http://127.0.0.1:{dashboard_port}/healthz"):  # started in order
                while True:
                    assert up.poll() is None and time.monotonic() < deadline, up.stdout.read() if up.stdout else ""
                    try:
                        if httpx.get(health, timeout=1).status_code == 200:
                            break
                    except httpx.HTTPError:
                        time.sleep(0.2)
            session = make_session(1)
            response = httpx.post(proxy + "/v1/messages", headers=build_headers(session, api_key=key), timeout=30,
                                  content=encode_body(build_request_body(1, session=session, history_chars=1000)))
            assert response.status_code == 200
            admin = httpx.Client(base_url=f"http://127.0.0.1:{ingest_port}",
                                 headers={"authorization": "Bearer admin-token-0123456789abcdef"}, timeout=10)
            assert admin.get("/admin/policies").status_code == 200
            admin.close()
            time.sleep(2)  # a scheduled round of evals runs (and must not take anything down)
            up.send_signal(signal.SIGTERM)
            output, _ = up.communicate(timeout=30)
        finally:
            if up.poll() is None:
                up.kill()
                up.communicate()
    assert "switchyard up" in output
    deadline = time.monotonic() + 10
    while _processes_using(str(data)):
        assert time.monotonic() < deadline, "children left behind"
        time.sleep(0.1)
    from store.engine import default_database_url, make_engine
    from store.queries import turns_frame

    engine = make_engine(default_database_url(data))
    try:
        assert turns_frame(engine)["developer"].to_list() == ["alice"]
    finally:
        engine.dispose()
