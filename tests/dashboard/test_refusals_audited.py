"""Refused dashboard actions are audited (issue 15, item 7): a signed-in user refused for their role
(activate, roll back, approve, reject, close a month, end sessions), and sign-in posts without the
form's token (at most one entry a minute, with the count). Over real HTTP on loopback."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import Engine

from store.audit import list_audit, verify_audit
from tests.dashboard.client import call_callback, decide_proposal, sign_in
from tests.dashboard.conftest import PASSWORDS, utc_now
from tests.dashboard.fleet import seed_policies, seed_proposal


def _activate(client: httpx.Client, version: str) -> httpx.Response:
    return call_callback(client, ["policies-state.children", "policies-status.children"],
                         {"policies-version.value": version, "policies-activate-confirm.submit_n_clicks": 1,
                          "policies-rollback-confirm.submit_n_clicks": None},
                         {"policies-version.value": version}, "policies-activate-confirm.submit_n_clicks")


def _roll_back(client: httpx.Client) -> httpx.Response:
    return call_callback(client, ["policies-state.children", "policies-status.children"],
                         {"policies-version.value": None, "policies-activate-confirm.submit_n_clicks": None,
                          "policies-rollback-confirm.submit_n_clicks": 1},
                         {"policies-version.value": None}, "policies-rollback-confirm.submit_n_clicks")


def _close(client: httpx.Client, month: str) -> httpx.Response:
    return call_callback(client, ["chargeback-status.children"], {"chargeback-close-confirm.submit_n_clicks": 1},
                         {"chargeback-period.data": month}, "chargeback-close-confirm.submit_n_clicks")


def test_actions_refused_for_the_role_are_audited_with_who_and_what(served: str, db_engine: Engine) -> None:
    seed_policies(db_engine)
    proposal = seed_proposal(db_engine)
    last_month = f"{(utc_now().replace(day=1) - timedelta(days=1)):%Y-%m}"
    with httpx.Client(base_url=served) as viewer, httpx.Client(base_url=served) as approver:
        sign_in(viewer, "victor", PASSWORDS["victor"])
        sign_in(approver, "alice", PASSWORDS["alice"])
        for response in (_activate(viewer, "v2"), _roll_back(viewer), decide_proposal(viewer, proposal.id, "approve"),
                         decide_proposal(viewer, proposal.id, "reject"), _close(viewer, last_month)):
            assert response.status_code == 200 and "Refused" in response.text
        assert viewer.post("/admin/sessions/end", data={"user": "alice"}).status_code == 403
        assert approver.post("/admin/sessions/end", data={"user": "victor"}).status_code == 403
    entries = list_audit(db_engine, action="dashboard.refused")
    seen = [(e.actor, e.detail["action"], e.detail["role"]) for e in reversed(entries)]
    assert seen == [("victor", "policy.activate", "viewer"), ("victor", "policy.rollback", "viewer"),
                    ("victor", "proposal.approve", "viewer"), ("victor", "proposal.reject", "viewer"),
                    ("victor", "month.close", "viewer"), ("victor", "sessions.end", "viewer"),
                    ("alice", "sessions.end", "approver")]
    by_action = {e.detail["action"]: e.detail for e in entries if e.actor == "victor"}
    assert by_action["policy.activate"]["version"] == "v2"
    assert by_action["proposal.approve"]["proposal"] == proposal.id
    assert by_action["month.close"]["month"] == last_month
    assert by_action["sessions.end"]["target"] == "alice"
    assert "needs approver" in by_action["policy.activate"]["reason"]
    assert verify_audit(db_engine) == []


def test_sign_in_posts_without_the_forms_token_are_audited_once_a_minute(served: str, db_engine: Engine) -> None:
    with httpx.Client(base_url=served) as client:
        for _ in range(25):
            forged = client.post("/login", data={"username": "victor", "password": "x", "csrf": "forged"})
            assert forged.status_code == 400
    (entry,) = list_audit(db_engine, action="dashboard.form_refused")  # the first; the rest ride on the next
    assert (entry.actor, entry.subject, entry.detail["refused"]) == ("anonymous", "sign-in form", 1)
    assert entry.detail["addresses"] == {"127.0.0.1": 1}
    assert list_audit(db_engine, action="dashboard.sign_in_failed") == []  # refused before any password check
