"""Both proxies pick up a new policy version. Two ingest processes on one PostgreSQL, two proxy
processes, each polling the snapshot of "its" ingest (every 0.2 s) and exporting its spans there. A
version activated through one ingest's admin API reaches both proxies, including the one whose
ingest did not take the change, within a bounded time; from then on every turn on both is routed by
it (the fake upstream sees the new model), and the stored spans carry the new version."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import select

from sim.claude_shapes import build_headers, build_request_body, encode_body, make_session
from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from store.engine import make_engine
from store.schema import turns
from switchyard.processes import Supervisor, free_port
from tests.control.policies import document
from tests.gateway import INGEST_TOKEN
from tests.loopback import wait_until
from tests.scale.services import postgres_schema, start_ingests, start_together

pytestmark = pytest.mark.postgres

PROVIDER_KEY = "sk-ant-scale-rollout-provider"
ADMIN_TOKEN = "admin-token-scale-0123456789"
SNAPSHOT_TOKEN = "snapshot-token-scale-0123456789"
INTERVAL_S = 0.2
# Activation → every proxy routes by the new version: a few snapshot polls. A bound, not a benchmark.
PROPAGATION_S = 5.0


def _proxy_env(tmp: Path, upstream: str, port: int, ingest: str) -> dict[str, str]:
    return {
        "SWITCHYARD_PROXY_HOST": "127.0.0.1", "SWITCHYARD_PROXY_PORT": str(port),
        "SWITCHYARD_UPSTREAM_URL": upstream, "SWITCHYARD_UPSTREAM_API_KEY": PROVIDER_KEY,
        "SWITCHYARD_KEYS_FILE": str(tmp / "keys.json"), "SWITCHYARD_SPOOL_DIR": str(tmp / "spool"),
        "SWITCHYARD_OTLP_ENDPOINT": ingest + "/v1/traces", "SWITCHYARD_EXPORT_INTERVAL_S": "0.1",
        "SWITCHYARD_OTLP_TOKEN": INGEST_TOKEN,
        "SWITCHYARD_SNAPSHOT_URL": ingest + "/v1/snapshot", "SWITCHYARD_SNAPSHOT_TOKEN": SNAPSHOT_TOKEN,
        "SWITCHYARD_SNAPSHOT_INTERVAL_S": str(INTERVAL_S), "SWITCHYARD_LOG_LEVEL": "warning",
    }


class Fleet:
    """Sends turns, each with a fresh session, and reads which model the upstream was asked for."""

    def __init__(self, upstream: FakeUpstream, key: str) -> None:
        self.upstream, self.key, self.seed = upstream, key, 0
        self.sessions: dict[str, list[str]] = {}  # proxy URL → session ids it served

    def turn(self, proxy: str) -> str | None:
        """The model the upstream saw for a new turn through ``proxy`` (None: not served)."""
        self.seed += 1
        session = make_session(self.seed)
        body = encode_body(build_request_body(self.seed, session=session, history_chars=0,
                                              model="claude-opus-4-5"))
        response = httpx.post(proxy + "/v1/messages", headers=build_headers(session, api_key=self.key),
                              content=body, timeout=30)
        if response.status_code != 200:
            return None
        self.sessions.setdefault(proxy, []).append(session.session_id)
        seen = [r for r in self.upstream.requests if r.header("x-claude-code-session-id") == session.session_id]
        assert len(seen) == 1, f"{len(seen)} upstream requests for one turn"
        model: str = seen[0].json()["model"]
        return model


def _activate(admin: httpx.Client, version: str, parent: str | None, upstream: str, small_model: str) -> None:
    doc = document(version, parent, base_url=upstream, small_model=small_model)
    assert admin.post("/admin/policies", content=yaml.safe_dump(doc)).status_code == 201
    assert admin.post(f"/admin/policies/{version}/activate").json()["version"] == version


def test_both_proxies_pick_up_a_new_policy_version(tmp_path: Path) -> None:
    tokens = {"SWITCHYARD_ADMIN_TOKENS": json.dumps({ADMIN_TOKEN: "alice"}),
              "SWITCHYARD_SNAPSHOT_TOKENS": json.dumps([SNAPSHOT_TOKEN])}
    admin_headers = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    with postgres_schema() as database_url, FakeUpstream(UpstreamConfig(expected_api_key=PROVIDER_KEY)) as upstream, \
            Supervisor(tmp_path / "logs") as supervisor:
        # the operator allows the fake upstream (loopback), so the admin API stores policies routing to it
        ingests = start_ingests(supervisor, database_url, tmp_path, 2, **tokens,
                                SWITCHYARD_ALLOWED_UPSTREAMS=json.dumps([upstream.base_url]))
        proxies, specs = [], []
        for index, ingest in enumerate(ingests):
            port = free_port()
            proxies.append(f"http://127.0.0.1:{port}")
            env = _proxy_env(tmp_path / f"proxy{index}", upstream.base_url, port, ingest)
            specs.append((f"proxy{index}", ["-m", "switchyard", "proxy"], env, proxies[-1] + "/healthz"))
        start_together(supervisor, specs)

        with httpx.Client(base_url=ingests[0], headers=admin_headers, timeout=30) as admin_a, \
                httpx.Client(base_url=ingests[1], headers=admin_headers, timeout=30) as admin_b:
            key = admin_a.post("/admin/keys", json={"developer": "dana", "team": "payments"}).json()["key"]
            fleet = Fleet(upstream, key)
            _activate(admin_a, "v1", None, upstream.base_url, "claude-haiku-4-5")
            for proxy in proxies:  # the key and v1 reached both (the first snapshot poll)
                wait_until(lambda p=proxy: fleet.turn(p) == "claude-haiku-4-5", timeout=PROPAGATION_S,
                           what=f"{proxy} to route by v1")

            # v2 through the *other* ingest: the proxies learn it from the shared database
            started = time.monotonic()
            _activate(admin_b, "v2", "v1", upstream.base_url, "claude-haiku-5")
            picked_up: dict[str, float] = {}
            for proxy in proxies:
                wait_until(lambda p=proxy: fleet.turn(p) == "claude-haiku-5", timeout=PROPAGATION_S,
                           what=f"{proxy} to route by v2")
                picked_up[proxy] = time.monotonic() - started
            assert max(picked_up.values()) < PROPAGATION_S
            v2_sessions = {proxy: fleet.sessions[proxy][-1:] for proxy in proxies}
            for _ in range(3):  # and it sticks: no proxy falls back to v1
                for proxy in proxies:
                    assert fleet.turn(proxy) == "claude-haiku-5"
                    v2_sessions[proxy] += fleet.sessions[proxy][-1:]
            for proxy in proxies:
                health = httpx.get(proxy + "/healthz", timeout=5).json()
                assert health["policy"] == "v2"

        # the spans of those turns, exported by each proxy to its own ingest, carry v2
        wanted = {session for sessions in v2_sessions.values() for session in sessions}
        engine = make_engine(database_url)
        try:
            def stored() -> dict[str, tuple[str | None, str | None, str | None]]:
                with engine.connect() as connection:
                    rows = connection.execute(select(turns.c.session_id, turns.c.policy_version, turns.c.rule,
                                                     turns.c.developer).where(turns.c.session_id.in_(wanted)))
                    return {row[0]: (row[1], row[2], row[3]) for row in rows}

            wait_until(lambda: len(stored()) == len(wanted), timeout=10, what="the v2 turns to be stored")
            assert set(stored().values()) == {("v2", "small", "dana")}
        finally:
            engine.dispose()
        assert not supervisor.dead()
