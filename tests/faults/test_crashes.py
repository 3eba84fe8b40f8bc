"""Crashes lose nothing: ``kill -9`` of the proxy (its spool is replayed after the restart) and of
ingest in the middle of writing (no partial rows; redelivery stores each turn exactly once).
Real processes on loopback, bounded in count and time."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select

from sim.claude_shapes import build_headers, build_request_body, encode_body, make_session
from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from store.engine import make_engine
from store.schema import rollup_hourly, turns
from switchyard.keys_cli import create_key
from switchyard.processes import Supervisor, free_port

PROVIDER_KEY = "sk-ant-faults-provider"


def _proxy_env(tmp: Path, upstream: str, proxy_port: int, ingest_port: int) -> dict[str, str]:
    return {
        "SWITCHYARD_PROXY_HOST": "127.0.0.1", "SWITCHYARD_PROXY_PORT": str(proxy_port),
        "SWITCHYARD_UPSTREAM_URL": upstream, "SWITCHYARD_UPSTREAM_API_KEY": PROVIDER_KEY,
        "SWITCHYARD_KEYS_FILE": str(tmp / "keys.json"), "SWITCHYARD_SPOOL_DIR": str(tmp / "spool"),
        "SWITCHYARD_OTLP_ENDPOINT": f"http://127.0.0.1:{ingest_port}/v1/traces",
        "SWITCHYARD_EXPORT_INTERVAL_S": "0.1", "SWITCHYARD_EXPORT_BATCH_SIZE": "4", "SWITCHYARD_LOG_LEVEL": "warning",
    }


def _ingest_env(database_url: str, port: int) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "SWITCHYARD_INGEST_HOST": "127.0.0.1", "SWITCHYARD_INGEST_PORT": str(port)}


def _turn(proxy: str, key: str, seed: int) -> int:
    session = make_session(seed)
    body = encode_body(build_request_body(seed, session=session, history_chars=2_000))
    return httpx.post(proxy + "/v1/messages", headers=build_headers(session, api_key=key), content=body,
                      timeout=30).status_code


def _stored(database_url: str) -> tuple[int, int, int]:
    """(rows, distinct span ids, requests counted by the rollups)."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(func.count()).select_from(turns)).scalar_one()
            distinct = connection.execute(select(func.count(func.distinct(turns.c.span_id)))).scalar_one()
            rolled = connection.execute(select(func.coalesce(func.sum(rollup_hourly.c.requests), 0))).scalar_one()
    finally:
        engine.dispose()
    return int(rows), int(distinct), int(rolled)


def _wait(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_kill_9_of_the_proxy_then_its_spool_is_replayed(tmp_path: Path) -> None:
    key = create_key(tmp_path / "keys.json", "alice", "payments")
    database_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    proxy_port, ingest_port = free_port(), free_port()
    with FakeUpstream(UpstreamConfig(expected_api_key=PROVIDER_KEY)) as upstream, \
            Supervisor(tmp_path / "logs") as supervisor:
        env = _proxy_env(tmp_path, upstream.base_url, proxy_port, ingest_port)
        proxy_url = f"http://127.0.0.1:{proxy_port}"
        proxy = supervisor.start("proxy", ["-m", "proxy"], env, proxy_url + "/healthz")
        # ingest is down: every turn is served, and its span waits in the spool
        assert [_turn(proxy_url, key, seed) for seed in range(10)] == [200] * 10
        spool = tmp_path / "spool"
        _wait(lambda: sum(int(p.stem.split("-")[2]) for p in spool.glob("*.otlp")) == 10, 10, "spans not spooled")
        os.kill(proxy.process.pid, signal.SIGKILL)
        proxy.process.wait()
        try:
            _turn(proxy_url, key, 99)
            raise AssertionError("the killed proxy still answered")
        except httpx.ConnectError:
            pass  # clients see a connection error, nothing else
        supervisor.start("ingest", ["-m", "ingest.main"], _ingest_env(database_url, ingest_port),
                         f"http://127.0.0.1:{ingest_port}/readyz", timeout_s=60)
        supervisor.start("proxy-again", ["-m", "proxy"], env, proxy_url + "/healthz")
        _wait(lambda: _stored(database_url)[0] == 10, 20, "the spool was not replayed")
        assert not list(spool.glob("*.otlp"))
    assert _stored(database_url) == (10, 10, 10)


def test_kill_9_of_ingest_mid_write_stores_every_turn_exactly_once(tmp_path: Path) -> None:
    key = create_key(tmp_path / "keys.json", "bob", "search")
    database_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    proxy_port, ingest_port = free_port(), free_port()
    ingest_health = f"http://127.0.0.1:{ingest_port}/readyz"
    with FakeUpstream(UpstreamConfig(expected_api_key=PROVIDER_KEY)) as upstream, \
            Supervisor(tmp_path / "logs") as supervisor:
        ingest = supervisor.start("ingest", ["-m", "ingest.main"], _ingest_env(database_url, ingest_port),
                                  ingest_health, timeout_s=60)
        proxy_url = f"http://127.0.0.1:{proxy_port}"
        supervisor.start("proxy", ["-m", "proxy"], _proxy_env(tmp_path, upstream.base_url, proxy_port, ingest_port),
                         proxy_url + "/healthz")
        statuses: list[int] = []

        def load() -> None:  # steady traffic, bounded: 120 turns
            for seed in range(120):
                statuses.append(_turn(proxy_url, key, seed))

        driver = threading.Thread(target=load)
        driver.start()
        _wait(lambda: _stored(database_url)[0] >= 8, 30, "ingest never stored anything")
        os.kill(ingest.process.pid, signal.SIGKILL)  # while batches keep arriving
        ingest.process.wait()
        time.sleep(1.0)
        supervisor.start("ingest-again", ["-m", "ingest.main"], _ingest_env(database_url, ingest_port),
                         ingest_health, timeout_s=60)
        driver.join(timeout=120)
        assert statuses == [200] * 120  # the proxy served every turn through the crash
        _wait(lambda: _stored(database_url)[0] == 120, 60, "turns missing after ingest came back")
    rows, distinct, rolled = _stored(database_url)
    assert rows == distinct == rolled == 120  # no duplicates, no partial batches, rollups agree
