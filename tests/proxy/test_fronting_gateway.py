"""Behind Anthropic's gateway: a key marked as a fronting gateway may name each request's developer in
x-claude-gateway-user-id / -email, and that developer is who routing, budgets and spans see; no other
caller can (a 400, the upstream never called), and the headers never reach the provider."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sim.upstream import FakeUpstream
from switchyard.keys_cli import create_key
from tests.gateway import Gateway, make_gateway, wait_for_key
from tests.otlp_receiver import OtlpReceiver
from tests.proxy.protocol import ALICE, Signer, policy_file

USER_ID, USER_EMAIL = "x-claude-gateway-user-id", "x-claude-gateway-user-email"
POLICY = {
    "rules": [{"name": "dana-to-haiku", "when": {"developer": ["dana@example.com"]}, "route": ["sonnet"],
               "model": "claude-haiku-4-5"}],
    "budgets": [{"scope": "developer", "name": "dana@example.com", "monthly_usd": "0.000001", "hard": 1.0,
                 "action": "block"}],
}


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    return Signer(tmp_path)


@pytest.fixture
def gateway(tmp_path: Path, upstream: FakeUpstream, receiver: tuple[OtlpReceiver, str],
            signer: Signer) -> Iterator[Gateway]:
    path = policy_file(tmp_path / "policy.yaml", upstream.base_url, **POLICY)
    yield from make_gateway(tmp_path, upstream, receiver, bearer=signer.verifier(), policy_file=path,
                            allowed_upstreams=[upstream.base_url])


@pytest.fixture
def fronting_key(gateway: Gateway) -> str:
    key = create_key(gateway.keys_file, "claude-gateway", "platform", fronting_gateway=True)
    wait_for_key(gateway, key)
    return key


def _turn(gateway: Gateway, credential: str, **headers: str) -> httpx.Response:
    return httpx.post(gateway.url + "/v1/messages", timeout=10, headers={"x-api-key": credential, **headers}, json={
        "model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]})


def test_the_asserted_developer_is_who_routing_and_spans_see(gateway: Gateway, fronting_key: str) -> None:
    answer = _turn(gateway, fronting_key, **{USER_ID: "u-erin", USER_EMAIL: "erin@example.com"})
    assert answer.status_code == 200, answer.text
    answer = _turn(gateway, fronting_key, **{USER_ID: "u-dana", USER_EMAIL: "dana%40example.com"})
    assert answer.status_code == 200, answer.text
    turns = gateway.receiver.wait_for_turns(2)
    assert [(t.developer, t.team) for t in turns] == [("erin@example.com", "platform"),
                                                      ("dana@example.com", "platform")]
    assert [t.rule for t in turns] == ["default", "dana-to-haiku"]  # the policy saw dana
    for request in gateway.upstream.recorder.snapshot():  # who the developer is stays here
        assert request.header(USER_ID) is None and request.header(USER_EMAIL) is None


def test_budgets_see_the_asserted_developer(gateway: Gateway, fronting_key: str) -> None:
    dana = {USER_ID: "u-dana", USER_EMAIL: "dana@example.com"}
    statuses = [_turn(gateway, fronting_key, **dana).status_code for _ in range(3)]
    assert statuses[-1] in (402, 403, 429), statuses  # dana's tiny budget is spent
    assert _turn(gateway, fronting_key, **{USER_ID: "u-erin"}).status_code == 200  # erin's is not
    assert _turn(gateway, fronting_key).status_code == 200  # the gateway's own calls: the key's developer


def test_without_an_email_the_user_id_names_the_developer_and_utf8_is_decoded(gateway: Gateway,
                                                                             fronting_key: str) -> None:
    assert _turn(gateway, fronting_key, **{USER_ID: "00u1abc"}).status_code == 200
    assert _turn(gateway, fronting_key, **{USER_EMAIL: "j%C3%B6rg@example.com"}).status_code == 200
    assert [t.developer for t in gateway.receiver.wait_for_turns(2)] == ["00u1abc", "jörg@example.com"]


@pytest.mark.parametrize("header", [USER_ID, USER_EMAIL])
def test_an_ordinary_key_cannot_name_a_developer(gateway: Gateway, header: str) -> None:
    before = len(gateway.upstream.recorder)
    answer = _turn(gateway, gateway.key, **{header: "ceo@example.com"})
    assert answer.status_code == 400 and answer.headers["x-should-retry"] == "false"
    assert "fronting gateway" in answer.json()["error"]["message"]
    assert len(gateway.upstream.recorder) == before


def test_a_signed_in_developer_cannot_name_another(gateway: Gateway, signer: Signer) -> None:
    before = len(gateway.upstream.recorder)
    answer = httpx.post(gateway.url + "/v1/messages", timeout=10, json={"model": "claude-sonnet-4-5"}, headers={
        "authorization": f"Bearer {signer.token(ALICE)}", USER_EMAIL: "ceo@example.com"})
    assert answer.status_code == 400
    assert len(gateway.upstream.recorder) == before


@pytest.mark.parametrize("value", ["%0Aceo@example.com", "%FF%FE", "x" * 300, "%20%20"])
def test_an_unusable_assertion_is_refused(gateway: Gateway, fronting_key: str, value: str) -> None:
    answer = _turn(gateway, fronting_key, **{USER_EMAIL: value})
    assert answer.status_code == 400, answer.text
