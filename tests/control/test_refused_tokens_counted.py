"""Wrong admin and snapshot tokens are counted on ingest's /metrics (issue 15, item 7), and the
audit entry that sums them up says from which addresses, in bounded memory."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
from sqlalchemy import Engine

from store.audit import list_audit, verify_audit
from store.refusal_audit import AggregatedRefusals
from tests.control.server import SettableClock, serve_ingest

WRONG = {"authorization": "Bearer not-an-admin-token-at-all"}


def _counted(metrics: str, kind: str) -> float:
    prefix = f'switchyard_ingest_tokens_refused_total{{kind="{kind}"}} '
    lines = [line for line in metrics.splitlines() if line.startswith(prefix)]
    return float(lines[0].removeprefix(prefix)) if lines else 0.0


def test_wrong_tokens_are_counted_on_metrics_by_kind(db_url: str, db_engine: Engine) -> None:
    with serve_ingest(db_url, db_engine, SettableClock()) as base, httpx.Client(base_url=base) as http:
        for _ in range(7):
            assert http.get("/admin/keys", headers=WRONG).status_code == 401
        assert http.get("/v1/snapshot", headers=WRONG).status_code == 401
        assert http.get("/admin/keys").status_code == 401  # no token: not a guess, not counted
        metrics = http.get("/metrics").text
    assert (_counted(metrics, "admin"), _counted(metrics, "snapshot")) == (7, 1)
    (entry,) = list_audit(db_engine, action="admin.token_refused")  # one entry for the whole burst
    assert entry.detail["addresses"] == {"127.0.0.1": 1}


def test_a_flood_from_many_addresses_writes_one_entry_a_minute_with_bounded_detail(db_engine: Engine) -> None:
    clock = SettableClock()
    refusals = AggregatedRefusals(db_engine, clock, timedelta(seconds=60), action="test.refused", max_addresses=3)
    refusals.refused("form", "10.0.0.1", {"reason": "csrf"})  # the first one is written at once
    for i in range(5000):
        refusals.refused("form", f"10.0.{i % 50}.{i % 7}", {"reason": "csrf"})
    clock.now += timedelta(seconds=61)
    refusals.refused("form", "10.0.0.0", {"reason": "csrf"})
    entries = list_audit(db_engine, action="test.refused")
    assert [e.detail["refused"] for e in entries] == [5001, 1]
    newest = entries[0].detail
    assert len(newest["addresses"]) == 3 and sum(newest["addresses"].values()) + newest["other_addresses"] == 5001
    assert newest["reason"] == "csrf" and entries[0].actor == "anonymous"
    assert isinstance(datetime.fromisoformat(newest["since"]), datetime)
    assert verify_audit(db_engine) == []
