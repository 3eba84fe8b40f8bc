"""An admin token is not enough to send provider keys somewhere new (issue 15, item 3): the admin
API refuses to store, activate or approve a policy whose targets are outside
SWITCHYARD_ALLOWED_UPSTREAMS, with a 4xx that names the target; on main each of these was stored."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
import yaml
from sqlalchemy import Engine

from core.policy.diff import diff
from core.upstreams import Allowlist, address_refusal, parse_entry
from ingest.upstreams import resolve, upstream_check
from store.engine import make_engine
from store.policies import activate, active_state, create_version, list_versions
from store.proposals import create_proposal, get_proposal
from tests.control.policies import document, policy
from tests.control.server import ADMIN_TOKEN, serve_ingest

ALICE = {"authorization": f"Bearer {ADMIN_TOKEN}", "content-type": "application/yaml"}
HOSTILE = [
    ("http://169.254.169.254/latest/meta-data", "not in SWITCHYARD_ALLOWED_UPSTREAMS"),
    ("http://metadata.google.internal", "not in SWITCHYARD_ALLOWED_UPSTREAMS"),
    ("https://api.anthropic.com@evil.example", "userinfo"),
    ("http://user:pass@evil.example", "userinfo"),
    ("http://127.0.0.1:6379", "not in SWITCHYARD_ALLOWED_UPSTREAMS"),
    ("http://", "no host"),
    ("https://capture.example", "not in SWITCHYARD_ALLOWED_UPSTREAMS"),
]


@pytest.fixture
def http(base_url: str, db_engine: Engine) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, headers=ALICE, timeout=30) as client:
        yield client


@pytest.mark.parametrize(("target_url", "why"), HOSTILE)
def test_a_policy_aimed_outside_the_allowlist_is_refused_naming_the_target(
        http: httpx.Client, db_engine: Engine, target_url: str, why: str) -> None:
    doc = document("stolen")
    doc["targets"][1]["base_url"] = target_url
    response = http.post("/admin/policies", content=yaml.safe_dump(doc))
    assert response.status_code == 422, response.text
    problems = [p for p in response.json()["problems"] if p["severity"] == "error"]
    assert [p["path"] for p in problems] == ["targets[1].base_url"]
    assert why in problems[0]["message"]
    if why.startswith("not in"):  # refused by the allowlist (the others by the schema): the detail says so
        assert "'sonnet'" in response.json()["detail"] and target_url in response.json()["detail"]
    assert list_versions(db_engine) == []


def test_the_default_allowlist_takes_anthropic(http: httpx.Client) -> None:
    assert http.post("/admin/policies", content=yaml.safe_dump(document("v1"))).status_code == 201


def test_a_stored_version_outside_a_narrower_allowlist_is_not_activated(db_url: str, db_engine: Engine) -> None:
    create_version(db_engine, policy("v1"), actor="setup")
    create_version(db_engine, policy("gw", base_url="https://gateway.example"), actor="setup")
    activate(db_engine, "v1", actor="setup")
    engine = make_engine(db_url)
    try:
        with serve_ingest(db_url, engine, allowed_upstreams=["https://api.anthropic.com"]) as url, \
                httpx.Client(base_url=url, headers=ALICE, timeout=30) as http:
            refused = http.post("/admin/policies/gw/activate")
            assert refused.status_code == 422
            assert "'haiku'" in refused.json()["detail"] and "https://gateway.example" in refused.json()["detail"]
    finally:
        engine.dispose()
    state = active_state(db_engine)
    assert state is not None and state.version == "v1"


def test_no_rollback_to_a_version_outside_the_allowlist(db_url: str, db_engine: Engine) -> None:
    create_version(db_engine, policy("gw", base_url="https://gateway.example"), actor="setup")
    create_version(db_engine, policy("v2", "gw"), actor="setup")
    activate(db_engine, "gw", actor="setup")
    activate(db_engine, "v2", actor="setup")
    engine = make_engine(db_url)
    try:
        with serve_ingest(db_url, engine, allowed_upstreams=["https://api.anthropic.com"]) as url, \
                httpx.Client(base_url=url, headers=ALICE, timeout=30) as http:
            refused = http.post("/admin/policies/rollback")
            assert refused.status_code == 409
            assert "cannot roll back to 'gw'" in refused.json()["detail"]
            assert "https://gateway.example" in refused.json()["detail"]
    finally:
        engine.dispose()
    state = active_state(db_engine)
    assert state is not None and state.version == "v2"


def test_a_proposal_outside_the_allowlist_is_not_approved(http: httpx.Client, db_engine: Engine) -> None:
    create_version(db_engine, policy("v1"), actor="setup")
    activate(db_engine, "v1", actor="setup")
    after = policy("v1.opt", "v1", base_url="http://127.0.0.1:6379")
    proposal = create_proposal(db_engine, parent_version="v1", candidate_version="v1.opt",
                               document=after.model_dump(mode="json"), diff=diff(policy("v1"), after).to_dict(),
                               evidence={}, actor="optimizer")
    refused = http.post(f"/admin/proposals/{proposal.id}/approve", headers={"content-type": "application/json"})
    assert refused.status_code == 409
    assert "target 'haiku'" in refused.json()["detail"] and "SWITCHYARD_ALLOWED_UPSTREAMS" in refused.json()["detail"]
    assert get_proposal(db_engine, proposal.id).status == "proposed"
    state = active_state(db_engine)
    assert state is not None and state.version == "v1"


def _internal_name() -> str | None:
    """A host name (not an address, not "localhost") that resolves to an internal address here."""
    for name in (socket.gethostname(), "localhost.localdomain", "ip6-localhost"):
        try:
            addresses = resolve(name, 443)
        except OSError:
            continue
        if name != "localhost" and addresses and all(address_refusal(a) for a in addresses):
            return name
    return None


def test_a_listed_name_that_resolves_to_an_internal_address_is_refused() -> None:
    name = _internal_name()
    if name is None:
        pytest.skip("no host name here resolves to an internal address")
    check = upstream_check(Allowlist((parse_entry(f"https://{name}"),)))
    [problem] = check(policy("v1", base_url=f"https://{name}"))[:1]
    assert problem.severity == "error" and "'haiku'" in problem.message and "resolves to" in problem.message
    marked = upstream_check(Allowlist((parse_entry(f"https://{name}", private=True),)))
    assert marked(policy("v1", base_url=f"https://{name}")) == []


def test_resolve_returns_addresses() -> None:
    assert any(a.is_loopback for a in resolve("localhost", 443))
