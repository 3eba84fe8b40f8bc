"""The admin API over real HTTP (uvicorn on loopback), on SQLite and PostgreSQL: bearer auth,
policies (422 with every problem, immutability, activate/rollback, diff), keys, audit."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
import yaml
from sqlalchemy import Engine

from core.keys import KeyRing
from store.keys import key_records
from tests.control.policies import document
from tests.control.server import ADMIN_TOKEN, OTHER_ADMIN_TOKEN, SNAPSHOT_TOKEN

ALICE = {"authorization": f"Bearer {ADMIN_TOKEN}"}
BOB = {"authorization": f"Bearer {OTHER_ADMIN_TOKEN}"}


@pytest.fixture
def http(base_url: str, db_engine: Engine) -> Iterator[httpx.Client]:
    """A client of the module's server; depending on db_engine empties the tables first."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        yield client


def _post_policy(http: httpx.Client, doc: dict | str, headers: dict[str, str] = ALICE, **params: str) -> httpx.Response:
    body = doc if isinstance(doc, str) else yaml.safe_dump(doc)
    return http.post("/admin/policies", content=body.encode(), params=params,
                     headers={**headers, "content-type": "application/yaml"})


ADMIN_CALLS = [
    ("GET", "/admin/policies"), ("POST", "/admin/policies"), ("GET", "/admin/policies/v1"),
    ("POST", "/admin/policies/v1/activate"), ("POST", "/admin/policies/rollback"),
    ("GET", "/admin/policies/v1/diff/v2"), ("GET", "/admin/audit"), ("GET", "/admin/audit/verify"),
    ("POST", "/admin/keys"), ("GET", "/admin/keys"), ("POST", "/admin/keys/abc/revoke"),
    ("GET", "/admin/proposals"), ("GET", "/admin/proposals/abc"), ("POST", "/admin/proposals/abc/approve"),
    ("POST", "/admin/proposals/abc/reject"),
    ("GET", "/admin/months"), ("POST", "/admin/months/2026-10/close"), ("POST", "/admin/months/2026-10/reopen"),
]


@pytest.mark.parametrize(("method", "path"), ADMIN_CALLS)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token-0123456789", f"Bearer {SNAPSHOT_TOKEN}",
                                           f"Basic {ADMIN_TOKEN}", f"Bearer {ADMIN_TOKEN}x"])
def test_admin_endpoints_refuse_a_missing_or_wrong_token(http: httpx.Client, method: str, path: str,
                                                          authorization: str | None) -> None:
    headers = {} if authorization is None else {"authorization": authorization}
    response = http.request(method, path, headers=headers, content=b"{}")
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert "token" in response.json()["detail"]


def test_an_invalid_policy_is_422_with_every_problem(http: httpx.Client) -> None:
    bad = document("v1", rules=[
        {"name": "a", "when": {"input_tokens": {"gte": 5, "lt": 5}}, "route": ["nowhere"]},
        {"name": "a", "route": ["haiku", "haiku"]},
    ])
    bad["default"] = {"route": ["missing"]}
    response = _post_policy(http, bad)
    assert response.status_code == 422
    paths = {p["path"] for p in response.json()["problems"]}
    assert {"rules[0].name", "rules[0].when.input_tokens", "rules[0].route[0]", "rules[1].route[1]",
            "default.route[0]"} <= paths
    assert response.json()["detail"].startswith("the policy has")
    # shape problems (loading) are all listed too, with where they are
    shape = _post_policy(http, {"version": "v1", "targets": [{"name": "x"}], "default": {}})
    assert shape.status_code == 422
    assert {"targets[0].base_url", "default.route"} <= {p["path"] for p in shape.json()["problems"]}
    assert _post_policy(http, "version: [unclosed").status_code == 422
    assert _post_policy(http, document("a/b")).json()["problems"][0]["path"] == "version"
    not_text = http.post("/admin/policies", content=b"\xff\xfe", headers=ALICE)
    assert not_text.status_code == 400
    too_big = http.post("/admin/policies", content=b"#" * (64 * 1024 + 1), headers=ALICE)
    assert too_big.status_code == 413
    assert http.get("/admin/policies", headers=ALICE).json()["versions"] == []


def test_versions_are_immutable_and_creation_is_idempotent(http: httpx.Client) -> None:
    created = _post_policy(http, document("v1"), note="first cut")
    assert created.status_code == 201
    assert created.json() | {"created_at": None} == {
        "version": "v1", "parent": None, "created_at": None, "created_by": "alice", "note": "first cut",
        "active": False, "created": True, "problems": []}
    as_json = http.post("/admin/policies", content=json.dumps(document("v1")), headers=BOB)
    assert as_json.status_code == 200 and as_json.json()["created"] is False
    assert as_json.json()["created_by"] == "alice"
    changed = _post_policy(http, document("v1", small_model="claude-haiku-9"))
    assert changed.status_code == 409 and "immutable" in changed.json()["detail"]


def test_warnings_are_returned_but_do_not_refuse(http: httpx.Client) -> None:
    response = _post_policy(http, document("v1", rules=[{"name": "none", "when": {"team": []}, "route": ["haiku"]}]))
    assert response.status_code == 201
    assert [p["severity"] for p in response.json()["problems"]] == ["warning"]


def test_activate_diff_rollback_and_the_audit_trail(http: httpx.Client, db_engine: Engine) -> None:
    assert _post_policy(http, document("v1")).status_code == 201
    assert _post_policy(http, document("v2", "v1", small_model="claude-haiku-5")).status_code == 201
    assert http.post("/admin/policies/v1/activate", headers=ALICE).json() == {
        "version": "v1", "previous": None, "changed": True}
    assert http.post("/admin/policies/v2/activate", headers=BOB).json()["previous"] == "v1"
    listing = http.get("/admin/policies", headers=ALICE).json()
    assert (listing["active"], listing["activated_by"]) == ("v2", "bob")
    assert [(v["version"], v["active"]) for v in listing["versions"]] == [("v1", False), ("v2", True)]

    shown = http.get("/admin/policies/v2", headers=ALICE).json()
    assert shown["document"]["targets"][0]["model"] == "claude-haiku-5" and "version: v2" in shown["yaml"]
    changes = http.get("/admin/policies/v1/diff/v2", headers=ALICE).json()
    assert changes["diff"]["targets"]["changed"][0]["name"] == "haiku"
    assert "~ target haiku: model claude-haiku-4-5 → claude-haiku-5" in changes["text"]
    assert changes["text"].startswith("policy v1 → v2\nrules (first match wins):")  # the rule-level review

    back = http.post("/admin/policies/rollback", headers=ALICE)
    assert back.json() == {"version": "v1", "previous": "v2", "changed": True}
    assert http.post("/admin/policies/rollback", headers=ALICE).status_code == 409
    assert http.post("/admin/policies/nope/activate", headers=ALICE).status_code == 404
    assert http.get("/admin/policies/nope", headers=ALICE).status_code == 404
    assert http.get("/admin/policies/v1/diff/nope", headers=ALICE).status_code == 404

    audit = http.get("/admin/audit", headers=ALICE).json()
    assert [(e["action"], e["subject"], e["actor"]) for e in audit["entries"]] == [
        ("policy.rollback", "v1", "alice"), ("policy.activate", "v2", "bob"), ("policy.activate", "v1", "alice"),
        ("policy.create", "v2", "alice"), ("policy.create", "v1", "alice")]
    assert audit["head"]["seq"] == 5 and audit["head"]["hash"] == audit["entries"][0]["hash"]
    assert http.get("/admin/audit", headers=ALICE, params={"limit": 2, "before": 3}).json()["entries"][0]["seq"] == 2
    assert http.get("/admin/audit/verify", headers=ALICE).json() == {"ok": True, "problems": [], "head": audit["head"]}
    assert http.get("/admin/audit", headers=ALICE, params={"limit": 0}).status_code == 422


def test_keys_plaintext_once_listing_without_secrets_and_revocation(http: httpx.Client, db_engine: Engine) -> None:
    created = http.post("/admin/keys", json={"developer": "dana", "team": "payments", "rate_limit_rpm": 60},
                        headers=ALICE)
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    key, key_id = created.json()["key"], created.json()["key_id"]
    assert KeyRing(key_records(db_engine)).authenticate(key) is not None
    listed = http.get("/admin/keys", headers=ALICE)
    assert key.split(".")[1] not in listed.text and "secret_hash" not in listed.text and "salt" not in listed.text
    assert listed.json()["keys"][0] | {"created_at": None} == {
        "key_id": key_id, "developer": "dana", "team": "payments", "rate_limit_rpm": 60, "created_at": None,
        "repos": None, "fronting_gateway": False, "groups": [],
        "created_by": "alice",
        "revoked": False, "revoked_at": None, "revoked_by": None}
    revoked = http.post(f"/admin/keys/{key_id}/revoke", headers=BOB).json()
    assert revoked["revoked"] and revoked["revoked_by"] == "bob"
    assert KeyRing(key_records(db_engine)).authenticate(key) is None
    assert http.post("/admin/keys/nope/revoke", headers=ALICE).status_code == 404
    for bad in ({}, {"developer": ""}, {"developer": " padded"}, {"developer": "x", "extra": 1}, {"developer": 3},
                {"developer": "x", "rate_limit_rpm": 0}, {"developer": "x", "rate_limit_rpm": True},
                {"developer": "x", "rate_limit_rpm": "60"}):
        assert http.post("/admin/keys", json=bad, headers=ALICE).status_code == 422, bad
    actions = [(e["action"], e["actor"]) for e in http.get("/admin/audit", headers=ALICE).json()["entries"]]
    assert actions == [("key.revoke", "bob"), ("key.create", "alice")]
