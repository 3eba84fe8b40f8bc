"""A group's pool and a daily budget held by two proxies sharing Redis: one member's turn on one
proxy uses up the pool for another member on the other proxy; the counters are keyed by period
bucket, so the next period (UTC) starts from zero on both."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
import redis

from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from tests.conftest import require_or_skip
from tests.gateway import PROVIDER_KEY
from tests.loopback import wait_until

from .group_gateway import group_gateway, policy

REDIS_URL = "redis://127.0.0.1:6379/0"
pytestmark = pytest.mark.redis
SUNDAY_NIGHT = datetime(2026, 11, 22, 23, 59, 59, tzinfo=UTC)  # the last second of ISO week 2026-W47


def _redis() -> redis.Redis | None:
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        client.ping()
        return client
    except redis.RedisError:
        return None


def test_a_group_pool_and_a_daily_budget_hold_across_two_proxies(tmp_path, receiver) -> None:
    client = _redis()
    require_or_skip(client is not None, f"Redis is not reachable at {REDIS_URL}")
    assert client is not None
    group, solo = "eng-" + secrets.token_hex(4), "solo-" + secrets.token_hex(4)  # fresh counters for this run
    try:
        with FakeUpstream(UpstreamConfig(expected_api_key=PROVIDER_KEY)) as upstream:
            document = policy(upstream, budgets=[
                {"scope": "group", "name": group, "period": "week", "limit_usd": "0.0001", "hard": 1.0},
                {"scope": "developer", "name": solo, "period": "day", "limit_usd": "0.0001", "hard": 1.0}])
            with group_gateway(tmp_path / "a", upstream, receiver, document, now=SUNDAY_NIGHT,
                               redis_url=REDIS_URL, redis_timeout_s=2.0) as a, \
                    group_gateway(tmp_path / "b", upstream, receiver, document, now=SUNDAY_NIGHT, keyset=a.keyset,
                                  redis_url=REDIS_URL, redis_timeout_s=2.0) as b:
                assert a.turn(a.token("alice", group)).status_code == 200
                # settled after the client has its last byte: wait for it (bounded)
                wait_until(lambda: int(client.get(f"switchyard:spend:2026-W47:group:{group}") or 0) > 0,
                           what="alice's turn settled into the group's weekly pool")
                refused = b.turn(b.token("bob", group))  # proxy b saw none of alice's turn itself
                assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
                assert refused.headers["anthropic-ratelimit-unified-overage-scope"] == "group_pool"
                assert a.turn(a.token(solo)).status_code == 200
                wait_until(lambda: int(client.get(f"switchyard:spend:2026-11-22:developer:{solo}") or 0) > 0,
                           what="the turn settled into the day's spend")
                assert b.turn(b.token(solo)).status_code == 429  # the day's spend, from the other proxy
                for gateway in (a, b):
                    gateway.clock.now = SUNDAY_NIGHT + timedelta(seconds=1)  # Monday 00:00 UTC
                assert b.turn(b.token("bob", group)).status_code == 200  # 2026-W48: a new pool
                assert b.turn(b.token(solo)).status_code == 200  # 2026-11-23: a new day
                assert a.gateway.app.budgets.failures == 0 and b.gateway.app.budgets.failures == 0
    finally:
        for pattern in (f"switchyard:*:group:{group}", f"switchyard:*:developer:{solo}"):
            for name in client.scan_iter(pattern):
                client.delete(name)
        client.close()
