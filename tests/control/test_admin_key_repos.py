"""The repos a key may tag, through the admin API (issue 15, item 8): set at creation or later,
validated with a 422 naming the field, audited, and handed to the proxies in the snapshot."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine

from proxy.snapshot import parse_snapshot
from store.audit import verify_audit
from tests.control.server import ADMIN_TOKEN, SNAPSHOT_TOKEN

ALICE = {"authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def http(base_url: str, db_engine: Engine) -> Iterator[httpx.Client]:
    """A client of the module's server; depending on db_engine empties the tables first."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        yield client


def _snapshot_repos(http: httpx.Client) -> dict[str, tuple[str, ...] | None]:
    response = http.get("/v1/snapshot", headers={"authorization": f"Bearer {SNAPSHOT_TOKEN}"})
    return {k.key_id: k.repos for k in parse_snapshot(response.json()).keys}


def test_repos_at_creation_and_later_reach_the_snapshot_and_the_audit_log(http: httpx.Client,
                                                                           db_engine: Engine) -> None:
    created = http.post("/admin/keys", json={"developer": "dana", "repos": ["payments-api", "billing"]}, headers=ALICE)
    assert created.status_code == 201 and created.json()["repos"] == ["payments-api", "billing"]
    old = http.post("/admin/keys", json={"developer": "erin"}, headers=ALICE).json()
    assert old["repos"] is None
    dana, erin = created.json()["key_id"], old["key_id"]
    assert _snapshot_repos(http) == {dana: ("payments-api", "billing"), erin: None}

    changed = http.put(f"/admin/keys/{erin}/repos", json={"repos": ["search"]}, headers=ALICE)
    assert changed.status_code == 200 and changed.json()["repos"] == ["search"]
    assert http.put(f"/admin/keys/{erin}/repos", json={"repos": ["search"]}, headers=ALICE).status_code == 200
    assert http.put(f"/admin/keys/{dana}/repos", json={"repos": None}, headers=ALICE).json()["repos"] is None
    assert _snapshot_repos(http) == {dana: None, erin: ("search",)}
    assert http.put("/admin/keys/nope/repos", json={"repos": ["x"]}, headers=ALICE).status_code == 404
    assert http.put(f"/admin/keys/{erin}/repos", json={"repos": ["x"]}).status_code == 401

    entries = http.get("/admin/audit", headers=ALICE).json()["entries"]
    assert [(e["action"], e["subject"]) for e in entries] == [
        ("key.set_repos", dana), ("key.set_repos", erin), ("key.create", erin), ("key.create", dana)]
    assert entries[0]["detail"]["before"] == ["payments-api", "billing"] and entries[0]["detail"]["after"] is None
    assert entries[3]["detail"]["repos"] == ["payments-api", "billing"]  # the unchanged PUT recorded nothing
    assert verify_audit(db_engine) == []


@pytest.mark.parametrize(("repos", "words"), [
    ([], "at least 1"),
    ([""], "non-empty"),
    (["=HYPERLINK(1)"], "not a repo name"),
    (["pay ments"], "not a repo name"),
    (["*", "billing"], "cannot be combined"),
    (["x" * 257], "longer than 256"),
    ([f"r{i}" for i in range(101)], "at most 100"),
    ("billing", "valid list"),
    ([3], "valid string"),
])
def test_bad_repo_lists_are_422_naming_the_field(http: httpx.Client, repos: object, words: str) -> None:
    for response in (http.post("/admin/keys", json={"developer": "dana", "repos": repos}, headers=ALICE),
                     http.put("/admin/keys/whatever/repos", json={"repos": repos}, headers=ALICE)):
        assert response.status_code == 422, response.text
        assert "repos" in response.text and words in response.text, response.text
    assert http.get("/admin/keys", headers=ALICE).json()["keys"] == []


def test_groups_at_creation_reach_the_snapshot_and_are_validated(http: httpx.Client, db_engine: Engine) -> None:
    """Issue 18: a virtual key's policy groups are an admin's statement, stored with the key (0012)."""
    created = http.post("/admin/keys", json={"developer": "ci", "groups": ["sre", "ci", "sre"]}, headers=ALICE)
    assert created.status_code == 201 and created.json()["groups"] == ["sre", "ci"]
    plain = http.post("/admin/keys", json={"developer": "frank"}, headers=ALICE).json()
    assert plain["groups"] == []
    response = http.get("/v1/snapshot", headers={"authorization": f"Bearer {SNAPSHOT_TOKEN}"})
    groups = {k.key_id: k.groups for k in parse_snapshot(response.json()).keys}
    assert groups == {created.json()["key_id"]: ("sre", "ci"), plain["key_id"]: ()}
    for bad in (["  "], [1], ["x" * 300], ["g"] * 101):
        refused = http.post("/admin/keys", json={"developer": "gina", "groups": bad}, headers=ALICE)
        assert refused.status_code == 422, (bad, refused.text)
    entries = http.get("/admin/audit", headers=ALICE).json()["entries"]
    assert entries[-1]["detail"]["groups"] == ["sre", "ci"]
    assert verify_audit(db_engine) == []
