"""Failure clusters and their member turns through the admin API (real HTTP, SQLite and
PostgreSQL): the latest run by default, a named run, one cluster's members a page at a time, and
the refusals (no run, an unknown run, bad paging)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import Engine

from store.cluster_runs import write_cluster_run
from tests.control.server import ADMIN_TOKEN

ALICE = {"authorization": f"Bearer {ADMIN_TOKEN}"}
END = datetime(2026, 11, 14, 18, 30)


@pytest.fixture
def http(base_url: str, db_engine: Engine) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, headers=ALICE, timeout=30) as client:
        yield client


def _run(engine: Engine, run_id: str, created: datetime, sizes: list[int]) -> None:
    clusters = [{"run_id": run_id, "cluster": n, "created_at": created, "window_start": END - timedelta(days=7),
                 "window_end": END, "name": f"mode {n}", "size": size, "cost_usd": Decimal("1.50"), "trend": "flat",
                 "window_counts": [size], "features": {}, "examples": []} for n, size in enumerate(sizes)]
    members = [{"run_id": run_id, "trace_id": f"{n:02d}{i:030d}", "span_id": f"{i:016d}", "cluster": n}
               for n, size in enumerate(sizes) for i in range(size)]
    write_cluster_run(engine, clusters, members)


def test_clusters_and_members_of_the_latest_or_a_named_run(http: httpx.Client, db_engine: Engine) -> None:
    assert http.get("/admin/clusters").status_code == 404  # no run yet
    _run(db_engine, "old-run", END - timedelta(days=1), [2])
    _run(db_engine, "new-run", END, [3, 5])
    latest = http.get("/admin/clusters").json()
    assert latest["run_id"] == "new-run"
    assert [(c["cluster"], c["name"], c["size"]) for c in latest["clusters"]] == [(1, "mode 1", 5), (0, "mode 0", 3)]
    assert latest["clusters"][0]["window_end"] == "2026-11-14T18:30:00Z"
    assert [c["size"] for c in http.get("/admin/clusters", params={"run": "old-run"}).json()["clusters"]] == [2]

    everyone = http.get("/admin/clusters/new-run/members").json()["members"]
    assert [m["cluster"] for m in everyone] == [0] * 3 + [1] * 5
    assert everyone[0]["name"] == "mode 0" and everyone[0]["started_at"] is None  # no turn row stored for it
    page = http.get("/admin/clusters/new-run/members", params={"cluster": 1, "limit": 2, "offset": 2}).json()
    assert [m["span_id"] for m in page["members"]] == [f"{2:016d}", f"{3:016d}"]
    assert page["cluster"] == 1 and page["offset"] == 2

    assert http.get("/admin/clusters/no-such-run/members").status_code == 404
    assert http.get("/admin/clusters", params={"run": "no-such-run"}).status_code == 404
    assert http.get("/admin/clusters/new-run/members", params={"limit": 0}).status_code == 422
    assert http.get("/admin/clusters/new-run/members", params={"cluster": -1}).status_code == 422
    assert http.get("/admin/clusters", headers={"authorization": ""}).status_code == 401  # no token
