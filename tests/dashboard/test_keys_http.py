"""The Keys page over real HTTP on loopback: only admins see it (in the navigation and on the page)
and only admins' clicks create or revoke (checked on the server, refusals audited); the answer that
carries a new key's plaintext is never cached; and a cross-site page cannot make an admin's browser
create a key (the callback takes JSON only, which a form cannot send and a script from another
origin cannot send without a CORS preflight the dashboard never grants; the session cookie is
SameSite=Lax as well)."""

from __future__ import annotations

import json

import httpx
from sqlalchemy import Engine

from store.audit import list_audit
from store.keys import list_keys
from tests.dashboard.client import call_callback, sign_in
from tests.dashboard.conftest import PASSWORDS

OUTPUTS = ["keys-created.children", "keys-status.children", "keys-list.rowData"]
FIELDS = ("developer", "team", "repos", "rate_limit_rpm")


def _create(client: httpx.Client, developer: str) -> httpx.Response:
    state = {f"keys-{name}.value": value for name, value in zip(FIELDS, (developer, "payments", "", ""), strict=True)}
    return call_callback(client, OUTPUTS, {"keys-create.n_clicks": 1, "keys-revoke-confirm.submit_n_clicks": None},
                         {**state, "keys-picked.data": None}, "keys-create.n_clicks")


def _revoke(client: httpx.Client, key_id: str) -> httpx.Response:
    state = {f"keys-{name}.value": "" for name in FIELDS}
    return call_callback(client, OUTPUTS, {"keys-create.n_clicks": None, "keys-revoke-confirm.submit_n_clicks": 1},
                         {**state, "keys-picked.data": key_id}, "keys-revoke-confirm.submit_n_clicks")


def _page(client: httpx.Client) -> str:
    return call_callback(client, ["page.children"], {"url.pathname": "/keys"}, {"url.search": ""}, "url.pathname").text


def test_only_admins_see_the_page_and_its_link(served: str) -> None:
    with httpx.Client(base_url=served) as admin, httpx.Client(base_url=served) as approver:
        sign_in(admin, "ada", PASSWORDS["ada"])
        sign_in(approver, "alice", PASSWORDS["alice"])
        assert '"nav-keys"' in admin.get("/_dash-layout").text
        assert '"nav-keys"' not in approver.get("/_dash-layout").text
        assert "keys-create" in _page(admin)
        page = _page(approver)
        assert "Only admins manage keys" in page and "keys-create" not in page


def test_an_admin_creates_and_revokes_others_are_refused_and_audited(served: str, db_engine: Engine) -> None:
    with httpx.Client(base_url=served) as admin, httpx.Client(base_url=served) as approver:
        sign_in(admin, "ada", PASSWORDS["ada"])
        sign_in(approver, "alice", PASSWORDS["alice"])
        refused = _create(approver, "mallory")
        assert refused.status_code == 200 and "Refused: alice is a approver" in refused.text
        assert list_keys(db_engine) == []
        created = _create(admin, "dana")
        assert created.status_code == 200 and created.headers["cache-control"] == "no-store"
        [key] = list_keys(db_engine)
        plaintext = json.loads(created.text)["response"]["keys-created"]["children"]
        assert key.record.key_id in json.dumps(plaintext) and "sk-sy-" + key.record.key_id in json.dumps(plaintext)
        assert "Refused" in _revoke(approver, key.record.key_id).text
        assert not list_keys(db_engine)[0].record.revoked
        assert f"Revoked key {key.record.key_id} of dana, by ada" in _revoke(admin, key.record.key_id).text
        assert list_keys(db_engine)[0].record.revoked
    assert [e.actor for e in list_audit(db_engine, action="key.create")] == ["ada"]
    assert [e.actor for e in list_audit(db_engine, action="key.revoke")] == ["ada"]
    refusals = list_audit(db_engine, action="dashboard.refused")
    assert sorted(e.detail["action"] for e in refusals) == ["key.create", "key.revoke"]


def test_a_cross_site_form_cannot_create_a_key_with_an_admins_cookie(served: str, db_engine: Engine) -> None:
    body = {"output": "..keys-created.children...keys-status.children...keys-list.rowData..",
            "outputs": [{"id": "keys-created", "property": "children"}, {"id": "keys-status", "property": "children"},
                        {"id": "keys-list", "property": "rowData"}],
            "inputs": [{"id": "keys-create", "property": "n_clicks", "value": 1},
                       {"id": "keys-revoke-confirm", "property": "submit_n_clicks", "value": None}],
            "state": [{"id": f"keys-{name}", "property": "value", "value": "mallory" if name == "developer" else ""}
                      for name in FIELDS] + [{"id": "keys-picked", "property": "data", "value": None}],
            "changedPropIds": ["keys-create.n_clicks"]}
    with httpx.Client(base_url=served) as admin:
        sign_in(admin, "ada", PASSWORDS["ada"])
        # what an HTML form on another site can send: text/plain, urlencoded or multipart, never JSON
        for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
            response = admin.post("/_dash-update-component", content=json.dumps(body),
                                  headers={"content-type": content_type, "origin": "https://evil.example"})
            assert response.status_code == 415, (content_type, response.status_code)
    assert list_keys(db_engine) == []
