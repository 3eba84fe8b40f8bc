"""GET /v1/snapshot over real HTTP, on SQLite and PostgreSQL: auth, the content in the proxy's
wire format (read back with the proxy's own parser), a strong ETag and 304."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
import yaml
from sqlalchemy import Engine

from core.keys import KeyRing
from proxy.snapshot import parse_snapshot
from store.schema import rollup_hourly
from tests.control.policies import document, policy
from tests.control.server import ADMIN_TOKEN, SNAPSHOT_TOKEN, SettableClock

ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}
PROXY = {"authorization": f"Bearer {SNAPSHOT_TOKEN}"}


@pytest.fixture
def http(base_url: str, db_engine: Engine, clock: SettableClock) -> Iterator[httpx.Client]:
    clock.now = datetime(2026, 11, 15, 12, 0)
    with httpx.Client(base_url=base_url, timeout=30) as client:
        yield client


def _rollup(hour: datetime, developer: str, usd: str) -> dict[str, object]:
    return {"hour": hour, "developer": developer, "team": "payments", "repo": "api", "model": "m", "target": "t",
            "rule": "r", "requests": 1, "errors": 0, "unpriced": 0, "input_tokens": 1, "output_tokens": 1,
            "cache_write_tokens": 0, "cache_read_tokens": 0, "cost_usd": Decimal(usd)}


def test_the_snapshot_needs_a_snapshot_or_admin_token(http: httpx.Client) -> None:
    assert http.get("/v1/snapshot").status_code == 401
    assert http.get("/v1/snapshot", headers={"authorization": "Bearer not-a-configured-token"}).status_code == 401
    assert http.get("/v1/snapshot", headers=PROXY).status_code == 200
    assert http.get("/v1/snapshot", headers=ADMIN).status_code == 200
    # a snapshot token is not an admin token
    assert http.get("/admin/policies", headers=PROXY).status_code == 401


def test_an_empty_control_plane(http: httpx.Client) -> None:
    body = http.get("/v1/snapshot", headers=PROXY).json()
    assert body == {"generated_at": datetime(2026, 11, 15, 12, tzinfo=UTC).timestamp(), "policy": None,
                    "keys": [], "spend": {"month": "2026-11", "balances": []}}


def test_the_content_is_what_the_proxy_reads(http: httpx.Client, db_engine: Engine) -> None:
    key = http.post("/admin/keys", json={"developer": "dana", "team": "payments", "rate_limit_rpm": 120},
                    headers=ADMIN).json()["key"]
    http.post("/admin/policies", content=yaml.safe_dump(document("v1")), headers=ADMIN)
    http.post("/admin/policies/v1/activate", headers=ADMIN)
    with db_engine.begin() as connection:
        connection.execute(rollup_hourly.insert(), [
            _rollup(datetime(2026, 11, 1, 0), "dana", "1.25"), _rollup(datetime(2026, 11, 15, 11), "dana", "0.5"),
            _rollup(datetime(2026, 10, 31, 23), "dana", "99")])
    response = http.get("/v1/snapshot", headers=PROXY)
    assert response.headers["content-type"] == "application/json"
    snapshot = parse_snapshot(response.json())
    assert snapshot.policy == policy("v1")
    record = KeyRing(snapshot.keys).authenticate(key)
    assert record is not None and record.rate_limit_rpm == 120
    assert snapshot.month == "2026-11"
    assert snapshot.balances == {("developer", "dana"): Decimal("1.75"), ("team", "payments"): Decimal("1.75"),
                                 ("repo", "api"): Decimal("1.75")}
    assert snapshot.generated_at == datetime(2026, 11, 15, 12, tzinfo=UTC).timestamp()


def test_etag_and_304(http: httpx.Client, clock: SettableClock) -> None:
    first = http.get("/v1/snapshot", headers=PROXY)
    etag = first.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/") and len(etag) == 66
    for if_none_match in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        unchanged = http.get("/v1/snapshot", headers={**PROXY, "if-none-match": if_none_match})
        assert unchanged.status_code == 304 and unchanged.content == b"" and unchanged.headers["etag"] == etag
    assert http.get("/v1/snapshot", headers={**PROXY, "if-none-match": '"other"'}).status_code == 200

    clock.now = datetime(2026, 11, 15, 12, 30)  # time passes, nothing changes: still 304
    assert http.get("/v1/snapshot", headers={**PROXY, "if-none-match": etag}).status_code == 304

    http.post("/admin/keys", json={"developer": "erin"}, headers=ADMIN)  # a change: a new body, a new tag
    changed = http.get("/v1/snapshot", headers={**PROXY, "if-none-match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert changed.json()["generated_at"] == datetime(2026, 11, 15, 12, 30, tzinfo=UTC).timestamp()

    clock.now = datetime(2026, 12, 1, 0, 0)  # a new month is new content
    december = http.get("/v1/snapshot", headers={**PROXY, "if-none-match": changed.headers["etag"]})
    assert december.status_code == 200 and december.json()["spend"]["month"] == "2026-12"
