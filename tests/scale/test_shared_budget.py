"""Two proxies, one Redis: a hard budget holds across both within one request."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import httpx
import pytest
import redis
import yaml

from sim.claude_shapes import build_headers, build_request_body, encode_body, make_session
from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from switchyard.keys_cli import create_key
from tests.conftest import require_or_skip
from tests.gateway import PROVIDER_KEY, running_gateways

REDIS_URL = "redis://127.0.0.1:6379/0"
pytestmark = pytest.mark.redis


def _redis_available() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def test_hard_budget_holds_across_tworunning_gateways(tmp_path: Path, receiver) -> None:
    require_or_skip(_redis_available(), f"Redis is not reachable at {REDIS_URL}")
    developer = "dev-" + secrets.token_hex(4)  # fresh counters for this run
    policy = tmp_path / "policy.yaml"
    with FakeUpstream(UpstreamConfig(expected_api_key=PROVIDER_KEY)) as upstream:
        policy.write_text(yaml.safe_dump({
            "version": "budgeted",
            "targets": [{"name": "up", "base_url": upstream.base_url}],
            "default": {"route": ["up"]},
            "budgets": [{"scope": "developer", "name": developer, "monthly_usd": "0.4", "hard": 1.0}],
        }))
        try:
            with running_gateways(tmp_path, upstream, receiver, 2, policy_file=policy, redis_url=REDIS_URL) as (a, b):
                keys = {g.url: create_key(g.keys_file, developer, "growth") for g in (a, b)}
                for gateway in (a, b):  # a key added to the file is picked up within one reload interval
                    deadline = time.monotonic() + 5
                    while httpx.get(gateway.url + "/v1/models", headers={"x-api-key": keys[gateway.url]},
                                    timeout=5).status_code == 401:
                        assert time.monotonic() < deadline, "the new key was not picked up"
                        time.sleep(0.05)

                def turn(gateway, seed: int) -> httpx.Response:
                    session = make_session(seed)
                    body = encode_body(build_request_body(seed, session=session, history_chars=60_000))
                    return httpx.post(gateway.url + "/v1/messages", content=body, timeout=30,
                                      headers=build_headers(session, api_key=keys[gateway.url]))

                served_by_a = 0
                for seed in range(50):
                    response = turn(a, seed)
                    if response.status_code == 429:
                        break
                    assert response.status_code == 200
                    served_by_a += 1
                else:
                    pytest.fail("proxy A never reached the hard budget")
                assert served_by_a >= 2
                # proxy B has served nobody: its own ledger is empty, yet the shared spend blocks it
                blocked = turn(b, 999)
                assert blocked.status_code == 429, blocked.text
                assert blocked.json()["error"]["type"] == "billing_error"
                assert developer in blocked.headers["x-switchyard-budget"]
                assert b.app.budgets.failures == 0
        finally:
            client = redis.Redis.from_url(REDIS_URL)
            for name in client.scan_iter(f"switchyard:spend:*:developer:{developer}"):
                client.delete(name)
            client.close()


def test_redis_down_fails_open(tmp_path: Path, receiver) -> None:
    with FakeUpstream(UpstreamConfig(expected_api_key=PROVIDER_KEY)) as upstream:
        policy = tmp_path / "policy.yaml"
        policy.write_text(yaml.safe_dump({
            "version": "v", "targets": [{"name": "up", "base_url": upstream.base_url}], "default": {"route": ["up"]},
            "budgets": [{"scope": "developer", "name": "*", "monthly_usd": "100"}]}))
        with running_gateways(tmp_path, upstream, receiver, 1, policy_file=policy,
                      redis_url="redis://127.0.0.1:1/0") as (gateway,):
            session = make_session(1)
            response = httpx.post(gateway.url + "/v1/messages", timeout=30,
                                  content=encode_body(build_request_body(1, session=session, history_chars=1000)),
                                  headers=build_headers(session, api_key=gateway.key))
            assert response.status_code == 200
            assert gateway.app.budgets.failures >= 1
