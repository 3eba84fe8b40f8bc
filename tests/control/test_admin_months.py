"""Closing and reopening months over the admin API (real HTTP, SQLite and PostgreSQL): only a past
month closes, only a closed month reopens, a reason is required, both are in the audit chain."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine

from store.audit import list_audit, verify_audit
from store.months import closed_month_names
from tests.control.server import ADMIN_TOKEN, OTHER_ADMIN_TOKEN

ALICE = {"authorization": f"Bearer {ADMIN_TOKEN}"}
BOB = {"authorization": f"Bearer {OTHER_ADMIN_TOKEN}"}


@pytest.fixture
def http(base_url: str, db_engine: Engine) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        yield client


def test_close_list_and_reopen_a_month_audited(http: httpx.Client, db_engine: Engine) -> None:
    # the app's clock is 2026-11-15: October has ended, November has not
    assert http.post("/admin/months/2026-11/close", headers=ALICE).status_code == 409
    closed = http.post("/admin/months/2026-10/close", headers=ALICE)
    assert closed.status_code == 200 and closed.json()["closed_by"] == "alice"
    assert http.get("/admin/months", headers=BOB).json()["closed"][0]["month"] == "2026-10"
    assert closed_month_names(db_engine) == {"2026-10"}
    assert http.post("/admin/months/2026-10/reopen", headers=BOB, json={}).status_code == 422  # no reason
    reopened = http.post("/admin/months/2026-10/reopen", headers=BOB, json={"reason": "late spans restored"})
    assert reopened.status_code == 200
    assert closed_month_names(db_engine) == frozenset()
    assert http.post("/admin/months/2026-10/reopen", headers=BOB, json={"reason": "again"}).status_code == 404
    entries = list_audit(db_engine, subject="2026-10")
    assert [(e.action, e.actor) for e in reversed(entries)] == [("month.close", "alice"), ("month.reopen", "bob")]
    assert entries[0].detail == {"reason": "late spans restored", "closed_by": "alice"}
    assert verify_audit(db_engine) == []


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "26-10", "2026-10-01", "latest"])
def test_a_malformed_month_is_422(http: httpx.Client, month: str) -> None:
    assert http.post(f"/admin/months/{month}/close", headers=ALICE).status_code == 422


@pytest.mark.parametrize("developer", ["alice\x1fbob", "tab\there"])
def test_a_key_for_a_name_with_control_characters_is_422(http: httpx.Client, developer: str) -> None:
    response = http.post("/admin/keys", headers=ALICE, json={"developer": developer})
    assert response.status_code == 422 and "control character" in response.json()["detail"]
