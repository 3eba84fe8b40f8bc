"""Attribution that can be trusted (issue 15, item 8): a key that lists its repos may tag only those;
a header outside the list gets a clear 403 before anything reaches the upstream, and every turn
says whether its repo was verified. Through the real proxy, its keys file and its spans."""

from __future__ import annotations

import httpx

from sim.claude_shapes import build_headers, build_request_body, encode_body, make_session
from switchyard.keys_cli import create_key
from tests.gateway import Gateway, wait_for_key


def _turn_request(gateway: Gateway, key: str, repo: str | None, seed: int = 11) -> httpx.Response:
    session = make_session(seed)
    headers = build_headers(session, api_key=key)
    if repo is not None:
        headers["x-switchyard-repo"] = repo
    body = encode_body(build_request_body(seed, session=session, history_chars=500))
    return httpx.post(gateway.url + "/v1/messages", headers=headers, content=body, timeout=30)


def test_a_repo_outside_the_keys_list_is_refused_before_the_upstream(gateway: Gateway) -> None:
    key = create_key(gateway.keys_file, "dana", "payments", repos=("payments-api", "billing"))
    wait_for_key(gateway, key)
    gateway.upstream.clear()
    refused = _turn_request(gateway, key, "search-infra")
    assert refused.status_code == 403
    assert refused.headers["x-should-retry"] == "false"  # Claude Code stops at once instead of retrying
    error = refused.json()["error"]
    assert error["type"] == "permission_error"
    key_id = key.removeprefix("sk-sy-").split(".", 1)[0]
    assert "'search-infra'" in error["message"] and f"key {key_id}" in error["message"]
    assert "payments-api, billing" in error["message"]
    assert key.split(".", 1)[1] not in refused.text  # the key's id, never its secret
    # side endpoints too: the key cannot be used under another repo's name at all
    models = httpx.get(gateway.url + "/v1/models", headers={"x-api-key": key, "x-switchyard-repo": "search-infra"},
                       timeout=10)
    assert models.status_code == 403
    assert gateway.upstream.requests == []
    # a key with several repos must say which
    unnamed = _turn_request(gateway, key, None)
    assert unnamed.status_code == 403 and "must name its repo" in unnamed.json()["error"]["message"]
    turns = gateway.receiver.wait_for_turns(2)
    assert [(t.status_code, t.repo, t.repo_verified) for t in turns] == [(403, None, False)] * 2


def test_turns_say_whether_their_repo_was_verified(gateway: Gateway) -> None:
    listed = create_key(gateway.keys_file, "dana", "payments", repos=("payments-api", "billing"))
    single = create_key(gateway.keys_file, "erin", "payments", repos=("payments-api",))
    anyrepo = create_key(gateway.keys_file, "finn", "search", repos=("*",))
    for key in (listed, single, anyrepo):
        wait_for_key(gateway, key)
    assert _turn_request(gateway, listed, "billing", seed=1).status_code == 200
    assert _turn_request(gateway, single, None, seed=2).status_code == 200  # no header: its one repo
    assert _turn_request(gateway, anyrepo, "whatever-i-say", seed=3).status_code == 200
    assert _turn_request(gateway, gateway.key, "billing", seed=4).status_code == 200  # a key without a list
    turns = {t.developer + ":" + str(t.repo): t.repo_verified for t in gateway.receiver.wait_for_turns(4)}
    assert turns == {"dana:billing": True, "erin:payments-api": True, "finn:whatever-i-say": False,
                     "alice:billing": False}
