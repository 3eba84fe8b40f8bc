"""Access over real HTTP on loopback: nothing but /healthz and the sign-in form without a session;
roles decide who may change the active policy (checked on the server, not just by greying out a
button); sign-ins, activations and exports are recorded with who and when."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import Engine

from dashboard.app import create_app
from dashboard.settings import DashboardSettings
from store.audit import list_audit
from store.policies import active_state
from store.proposals import get_proposal
from tests.dashboard.client import call_callback, decide_proposal, sign_in
from tests.dashboard.conftest import PASSWORDS, utc_now
from tests.dashboard.fleet import seed_policies, seed_proposal, seed_turns
from tests.dashboard.serving import serve_wsgi

PAGES = ["/", "/routes", "/attribution", "/sessions", "/failures", "/findings", "/policies", "/proposals",
         "/chargeback"]
ACTIVATE = {"outputs": ["policies-state.children", "policies-status.children"],
            "changed": "policies-activate-confirm.submit_n_clicks"}


def _activate(client: httpx.Client, version: str) -> httpx.Response:
    return call_callback(client, ACTIVATE["outputs"],
                         {"policies-version.value": version, "policies-activate-confirm.submit_n_clicks": 1,
                          "policies-rollback-confirm.submit_n_clicks": None},
                         {"policies-version.value": version}, ACTIVATE["changed"])


def _month() -> str:
    return f"{utc_now():%Y-%m}"


def test_a_logged_out_client_reaches_nothing_but_health_and_the_sign_in_form(served: str) -> None:
    with httpx.Client(base_url=served) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/login").status_code == 200
        for path in PAGES:
            response = client.get(path, headers={"accept": "text/html"})
            assert response.status_code == 302 and response.headers["location"].startswith("/login?next="), path
        icon = client.get("/favicon.ico")  # asked for by every browser tab, the sign-in form's too
        assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
        assert icon.content.startswith(b"<svg") and len(icon.content) < 1024
        for path in [*PAGES, "/_favicon.ico", "/_dash-layout", "/_dash-dependencies",
                     f"/export/chargeback.csv?month={_month()}&by=team",
                     "/assets/dashboard.css", "/_dash-component-suites/dash/dcc/dash_core_components.js"]:
            assert client.get(path).status_code == 401, path
        assert call_callback(client, ["page.children"], {"url.pathname": "/"}, {"url.search": ""},
                             "url.pathname").status_code == 401
        assert client.post("/logout").status_code == 401


def test_signing_in_opens_every_page_and_signing_out_closes_them(served: str, db_engine: Engine) -> None:
    seed_turns(db_engine, utc_now(), count=120)
    with httpx.Client(base_url=served) as client:
        response = sign_in(client, "victor", PASSWORDS["victor"], next_path="/routes")
        assert response.status_code == 302 and response.headers["location"] == "/routes"
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        assert response.headers["x-frame-options"] == "DENY"
        assert client.get("/_dash-layout").status_code == 200
        for path in PAGES:
            page = call_callback(client, ["page.children"], {"url.pathname": path}, {"url.search": ""},
                                 "url.pathname")
            assert page.status_code == 200 and "page-error" not in page.text, path
        assert client.post("/logout").status_code == 302
        assert client.get("/_dash-layout").status_code == 401


@pytest.mark.parametrize(("password", "status"), [("wrong", 401), ("", 401)])
def test_a_wrong_password_or_unknown_user_gets_no_session(served: str, password: str, status: int) -> None:
    with httpx.Client(base_url=served) as client:
        assert sign_in(client, "victor", password).status_code == status
        assert sign_in(client, "mallory", "victor-views").status_code == 401
        assert client.get("/_dash-layout").status_code == 401


def test_the_sign_in_form_needs_its_own_token_and_never_redirects_off_site(served: str) -> None:
    with httpx.Client(base_url=served) as client:
        forged = client.post("/login", data={"username": "victor", "password": PASSWORDS["victor"], "csrf": "x"})
        assert forged.status_code == 400
        for target in ["//evil.example/", "https://evil.example/", "/\\evil.example"]:
            response = sign_in(client, "victor", PASSWORDS["victor"], next_path=target)
            assert response.headers["location"] == "/", target


def test_a_removed_user_loses_access_at_once(settings: DashboardSettings, db_engine: Engine) -> None:
    fewer = settings.model_copy(update={"users": {k: v for k, v in settings.users.items() if k != "victor"}})
    with httpx.Client() as client:
        with serve_wsgi(create_app(settings, db_engine).server) as url:
            client.base_url = httpx.URL(url)
            sign_in(client, "victor", PASSWORDS["victor"])
            assert client.get("/_dash-layout").status_code == 200
        with serve_wsgi(create_app(fewer, db_engine).server) as url:  # same secret: the cookie still verifies
            client.base_url = httpx.URL(url)
            assert client.get("/_dash-layout").status_code == 401


def test_only_approvers_change_the_active_policy_and_it_is_audited(served: str, db_engine: Engine) -> None:
    seed_policies(db_engine)
    with httpx.Client(base_url=served) as viewer:
        sign_in(viewer, "victor", PASSWORDS["victor"])
        refused = _activate(viewer, "v2")
        assert refused.status_code == 200 and "Refused" in refused.text
    state = active_state(db_engine)
    assert state is not None and state.version == "v1"
    with httpx.Client(base_url=served) as approver:
        sign_in(approver, "alice", PASSWORDS["alice"])
        assert "v2 is now active" in _activate(approver, "v2").text
    state = active_state(db_engine)
    assert state is not None and (state.version, state.activated_by) == ("v2", "alice")
    [entry] = list_audit(db_engine, action="policy.activate", limit=1)
    assert (entry.actor, entry.subject, entry.detail["previous"]) == ("alice", "v2", "v1")


def test_a_csv_export_is_audited_with_who_and_what(served: str, db_engine: Engine) -> None:
    seed_turns(db_engine, utc_now(), count=60)
    with httpx.Client(base_url=served) as client:
        sign_in(client, "victor", PASSWORDS["victor"])
        response = client.get("/export/chargeback.csv", params={"month": _month(), "by": "repo"})
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        assert client.get("/export/chargeback.csv", params={"month": "2026-13", "by": "repo"}).status_code == 400
    [entry] = list_audit(db_engine, action="chargeback.export")
    assert entry.actor == "victor" and entry.detail["by"] == "repo" and entry.detail["channel"] == "dashboard"
    assert entry.detail["rows"] == response.text.count("\n") - 1


def test_approving_a_proposal_activates_its_policy_for_approvers_only(served: str, db_engine: Engine) -> None:
    seed_policies(db_engine)
    proposal = seed_proposal(db_engine)
    with httpx.Client(base_url=served) as viewer:
        sign_in(viewer, "victor", PASSWORDS["victor"])
        assert "Refused" in decide_proposal(viewer, proposal.id, "approve").text
    assert get_proposal(db_engine, proposal.id).status == "proposed"
    with httpx.Client(base_url=served) as approver:
        sign_in(approver, "alice", PASSWORDS["alice"])
        assert "v3 is now active (was v1)" in decide_proposal(approver, proposal.id, "approve").text
        assert "already approved" in decide_proposal(approver, proposal.id, "reject").text
    decided = get_proposal(db_engine, proposal.id)
    assert (decided.status, decided.decided_by) == ("approved", "alice")
    state = active_state(db_engine)
    assert state is not None and (state.version, state.activated_by) == ("v3", "alice")
    assert [e.actor for e in list_audit(db_engine, action="proposal.approve")] == ["alice"]


def test_a_stale_proposal_is_refused_and_can_be_rejected(served: str, db_engine: Engine) -> None:
    seed_policies(db_engine)
    proposal = seed_proposal(db_engine, parent="v2", candidate="v4")  # v1 is active, not its parent v2
    with httpx.Client(base_url=served) as approver:
        sign_in(approver, "ada", PASSWORDS["ada"])
        assert "was made against v2 but v1 is active" in decide_proposal(approver, proposal.id, "approve").text
        assert "Rejected the proposal for v4, by ada" in decide_proposal(approver, proposal.id, "reject").text
    assert get_proposal(db_engine, proposal.id).status == "rejected"
    state = active_state(db_engine)
    assert state is not None and state.version == "v1"


CLOSE = {"outputs": ["chargeback-status.children"],
         "changed": "chargeback-close-confirm.submit_n_clicks"}


def _close(client: httpx.Client, month: str) -> httpx.Response:
    return call_callback(client, CLOSE["outputs"], {"chargeback-close-confirm.submit_n_clicks": 1},
                         {"chargeback-period.data": month}, CLOSE["changed"])


def test_only_approvers_close_a_past_month_and_it_is_audited(served: str, db_engine: Engine) -> None:
    from store.months import closed_month_names

    now = utc_now()
    last_month = f"{(now.replace(day=1) - timedelta(days=1)):%Y-%m}"
    with httpx.Client(base_url=served) as viewer:
        sign_in(viewer, "victor", PASSWORDS["victor"])
        refused = _close(viewer, last_month)
        assert refused.status_code == 200 and "Refused" in refused.text
    assert closed_month_names(db_engine) == frozenset()
    with httpx.Client(base_url=served) as approver:
        sign_in(approver, "alice", PASSWORDS["alice"])
        assert "has not ended yet" in _close(approver, _month()).text
        closed = _close(approver, last_month)
        assert f"{last_month} is closed by alice" in closed.text and "closed: final" in closed.text
        assert "already closed" in _close(approver, last_month).text
    assert closed_month_names(db_engine) == {last_month}
    [entry] = list_audit(db_engine, action="month.close", limit=1)
    assert (entry.actor, entry.subject) == ("alice", last_month)
