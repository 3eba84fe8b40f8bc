"""GET /managed/settings on a real gateway (loopback): the caller's group's document from the policy,
the checksum Claude Code computes itself, ETag and 304 exactly as the CLI uses them, hot reload."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.policy.managed_settings import HINT_HEADERS, checksum
from sim.upstream import FakeUpstream
from tests.claude_checksum import node_checksum
from tests.gateway import Gateway, make_gateway
from tests.otlp_receiver import OtlpReceiver
from tests.proxy.protocol import ALICE, CAROL, Signer, policy_file

ENG = {"env": {"ANTHROPIC_DEFAULT_SONNET_MODEL": "claude-sonnet-4-5"}, "permissions": {"deny": ["Bash(curl:*)"]},
       "model": "sonnet"}
MANAGED = {"groups": [{"group": "eng", "settings": ENG}, {"group": "payments", "settings": {"model": "haiku"}}]}


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    return Signer(tmp_path)


@pytest.fixture
def gateway(tmp_path: Path, upstream: FakeUpstream, receiver: tuple[OtlpReceiver, str],
            signer: Signer) -> Iterator[Gateway]:
    path = policy_file(tmp_path / "policy.yaml", upstream.base_url, managed_settings=MANAGED)
    yield from make_gateway(tmp_path, upstream, receiver, bearer=signer.verifier(), policy_file=path,
                            allowed_upstreams=[upstream.base_url])


def _get(gateway: Gateway, credential: str | None, **headers: str) -> httpx.Response:
    sent = dict(headers)
    if credential is not None:
        sent["authorization"] = f"Bearer {credential}"
    return httpx.get(gateway.url + "/managed/settings", headers=sent, timeout=10)


def test_a_group_member_gets_the_group_document_over_the_default(gateway: Gateway, signer: Signer) -> None:
    answer = _get(gateway, signer.token(ALICE))  # groups eng, platform: the eng entry
    assert answer.status_code == 200
    body = answer.json()
    expected = {**ENG, "env": {HINT_HEADERS: "1", **ENG["env"]}}  # env merged, the hint headers kept on
    assert body["settings"] == expected
    assert body["checksum"] == body["uuid"] == checksum(expected)
    assert answer.headers["etag"] == f'"{body["checksum"]}"'


def test_the_checksum_is_the_one_claude_code_computes(gateway: Gateway, signer: Signer) -> None:
    body = _get(gateway, signer.token(ALICE)).json()
    assert body["checksum"] == node_checksum(body["settings"])


def test_no_matching_group_gets_the_default_which_turns_on_the_hint_headers(gateway: Gateway,
                                                                            signer: Signer) -> None:
    body = _get(gateway, signer.token(CAROL)).json()
    assert body["settings"] == {"env": {HINT_HEADERS: "1"}}


def test_304_only_for_the_current_etag(gateway: Gateway, signer: Signer) -> None:
    token = signer.token(ALICE)
    etag = _get(gateway, token).headers["etag"]
    not_modified = _get(gateway, token, **{"if-none-match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b"" and not_modified.headers["etag"] == etag
    # another group's (or a stale) checksum, a bare *, or no If-None-Match at all: the document
    other = _get(gateway, signer.token(CAROL)).headers["etag"]
    for header in ({"if-none-match": other}, {"if-none-match": "*"}, {}):
        answer = _get(gateway, token, **header)
        assert answer.status_code == 200 and answer.headers["etag"] == etag


def test_a_virtual_key_gets_its_teams_document(gateway: Gateway) -> None:
    # the gateway's key belongs to alice, team payments: the payments entry
    body = httpx.get(gateway.url + "/managed/settings", headers={"x-api-key": gateway.key}, timeout=10).json()
    assert body["settings"] == {"env": {HINT_HEADERS: "1"}, "model": "haiku"}


@pytest.mark.parametrize("credential", [None, "not-a-key", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."])
def test_without_a_valid_credential_it_is_401_and_not_retried(gateway: Gateway, credential: str | None) -> None:
    answer = _get(gateway, credential)
    assert answer.status_code == 401 and answer.headers["x-should-retry"] == "false"
    assert "settings" not in answer.text


def test_an_expired_bearer_is_refused(gateway: Gateway, signer: Signer) -> None:
    answer = _get(gateway, signer.token(ALICE, ttl_s=-120))
    assert answer.status_code == 401 and "expired" in answer.json()["error"]["message"]


def test_only_get(gateway: Gateway, signer: Signer) -> None:
    answer = httpx.post(gateway.url + "/managed/settings", headers={"authorization": f"Bearer {signer.token(ALICE)}"})
    assert answer.status_code == 405 and answer.headers["allow"] == "GET"


def test_a_new_policy_changes_the_etag_and_the_old_one_no_longer_gets_304(
        tmp_path: Path, gateway: Gateway, signer: Signer, upstream: FakeUpstream) -> None:
    token = signer.token(ALICE)
    old = _get(gateway, token).headers["etag"]
    changed = {"groups": [{"group": "eng", "settings": {"model": "opus"}}]}
    policy_file(tmp_path / "policy.yaml", upstream.base_url, version="v2", managed_settings=changed)
    deadline = time.monotonic() + 10
    while gateway.app.routing.version != "v2":
        assert time.monotonic() < deadline, "the proxy did not reload the policy file"
        time.sleep(0.05)
    answer = _get(gateway, token, **{"if-none-match": old})
    assert answer.status_code == 200
    assert answer.json()["settings"] == {"env": {HINT_HEADERS: "1"}, "model": "opus"}
    assert answer.headers["etag"] != old


def test_no_default_means_404_for_callers_no_group_matches(
        tmp_path: Path, upstream: FakeUpstream, receiver: tuple[OtlpReceiver, str], signer: Signer) -> None:
    path = policy_file(tmp_path / "policy.yaml", upstream.base_url,
                       managed_settings={"default": None, "groups": [{"group": "eng", "settings": {"model": "opus"}}]})
    for gateway in make_gateway(tmp_path, upstream, receiver, bearer=signer.verifier(), policy_file=path,
                                allowed_upstreams=[upstream.base_url]):
        assert _get(gateway, signer.token(CAROL)).status_code == 404
        assert _get(gateway, signer.token(ALICE)).json()["settings"] == {"model": "opus"}


def test_pass_through_serves_no_settings_without_a_switchyard_credential(
        tmp_path: Path, upstream: FakeUpstream, receiver: tuple[OtlpReceiver, str], signer: Signer) -> None:
    for gateway in make_gateway(tmp_path, upstream, receiver, bearer=signer.verifier(), passthrough=True):
        assert _get(gateway, None).status_code == 401
        theirs = {"x-api-key": "sk-ant-api03-theirs"}  # the developer's own Anthropic key, not ours to judge
        assert httpx.get(gateway.url + "/managed/settings", headers=theirs, timeout=10).status_code == 401
        assert _get(gateway, signer.token(CAROL)).status_code == 200
