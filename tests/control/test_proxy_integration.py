"""The control plane drives a real proxy: ingest on loopback serves the snapshot, the proxy polls
it (every 0.2 s). A key created through the admin API is accepted, a policy applied through it
routes new turns (their spans carry its version), a balance in the rollup reaches the proxy's
budget ledger, and a revoked key is refused. On SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import Engine

from sim.claude_shapes import build_headers, build_request_body, encode_body, make_session
from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from store.engine import make_engine
from store.schema import rollup_hourly
from tests.control.policies import document
from tests.control.server import ADMIN_TOKEN, SNAPSHOT_TOKEN, serve_ingest
from tests.gateway import PROVIDER_KEY, Gateway, make_gateway
from tests.otlp_receiver import OtlpReceiver

ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}
INTERVAL_S = 0.2
# A change must reach the proxy within a few polls; this bounds the wait, it is not a benchmark.
PROPAGATION_S = 3.0


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(UpstreamConfig(expected_api_key=PROVIDER_KEY)) as fake:
        yield fake


@pytest.fixture
def ingest_url(db_url: str, db_engine: Engine, upstream: FakeUpstream) -> Iterator[str]:
    engine = make_engine(db_url)
    # the operator's allowlist names the fake upstream (loopback), so policies may route to it
    with serve_ingest(db_url, engine, _utc_now, allowed_upstreams=[upstream.base_url]) as url:
        yield url
    engine.dispose()


@pytest.fixture
def gateway(tmp_path: Path, ingest_url: str, upstream: FakeUpstream,
            receiver: tuple[OtlpReceiver, str]) -> Iterator[Gateway]:
    yield from make_gateway(tmp_path, upstream, receiver, snapshot_url=ingest_url + "/v1/snapshot",
                            snapshot_token=SNAPSHOT_TOKEN, snapshot_interval_s=INTERVAL_S)


def _turn(gateway: Gateway, key: str, seed: int) -> httpx.Response:
    session = make_session(seed)
    body = encode_body(build_request_body(seed, session=session, history_chars=0, model="claude-opus-4-5"))
    return httpx.post(gateway.url + "/v1/messages", headers=build_headers(session, api_key=key), content=body,
                      timeout=30)


def _within(seconds: float, condition: Callable[[], bool]) -> float:
    """How long ``condition`` took to hold; fails when it did not within ``seconds``."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if condition():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s")


def _apply(admin: httpx.Client, version: str, parent: str | None, base_url: str, small_model: str) -> None:
    doc = document(version, parent, base_url=base_url, small_model=small_model)
    assert admin.post("/admin/policies", content=yaml.safe_dump(doc)).status_code == 201
    assert admin.post(f"/admin/policies/{version}/activate").json()["version"] == version


def test_keys_policies_and_balances_reach_the_proxy(gateway: Gateway, ingest_url: str, db_engine: Engine) -> None:
    upstream = gateway.upstream
    with httpx.Client(base_url=ingest_url, headers=ADMIN, timeout=30) as admin:
        created = admin.post("/admin/keys", json={"developer": "dana", "team": "payments"}).json()
        key = created["key"]
        _within(PROPAGATION_S, lambda: _turn(gateway, key, 1).status_code == 200)

        _apply(admin, "v1", None, upstream.base_url, "claude-haiku-4-5")
        _within(PROPAGATION_S, lambda: gateway.app.routing.version == "v1")
        _apply(admin, "v2", "v1", upstream.base_url, "claude-haiku-5")
        seeds = iter(range(100, 200))

        def next_turn_is_v2() -> bool:
            assert _turn(gateway, key, next(seeds)).status_code == 200
            count = len(gateway.receiver.turns()) + 1
            return gateway.receiver.wait_for_turns(count)[-1].policy_version == "v2"

        _within(PROPAGATION_S, next_turn_is_v2)
        last = gateway.receiver.turns()[-1]
        assert (last.developer, last.team, last.rule) == ("dana", "payments", "small")
        assert upstream.requests[-1].json()["model"] == "claude-haiku-5"

        hour = _utc_now().replace(minute=0, second=0, microsecond=0)
        with db_engine.begin() as connection:
            connection.execute(rollup_hourly.insert(), [{
                "hour": hour, "developer": "dana", "team": "payments", "repo": "", "model": "m", "target": "t",
                "rule": "r", "requests": 1, "errors": 0, "unpriced": 0, "input_tokens": 1, "output_tokens": 1,
                "cache_write_tokens": 0, "cache_read_tokens": 0, "cost_usd": Decimal("42.5")}])
        ledger = gateway.app.ledger  # spend keys carry their period: (this month, scope, name)
        _within(PROPAGATION_S, lambda: ledger.current().get((ledger.month, "developer", "dana"), 0) >= Decimal("42.5"))

        assert admin.post(f"/admin/keys/{created['key_id']}/revoke").json()["revoked"]
        _within(PROPAGATION_S, lambda: _turn(gateway, key, 2).status_code == 401)
        assert _turn(gateway, gateway.key, 3).status_code == 200  # the keys file's key is unaffected
