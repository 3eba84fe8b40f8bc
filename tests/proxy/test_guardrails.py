"""The egress secret guardrail through a real proxy on loopback: flag forwards byte for byte and records
the finding (never the secret) on the turn's span and /metrics; block answers Claude Code a 400 that
names what and where, with nothing sent upstream; off, the per developer/team/repo overrides, the
allow-lists, fail open and fail closed, and the size cap."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from sim.claude_shapes import build_headers, encode_body, make_session, with_tool_results
from sim.upstream import FakeUpstream
from switchyard.keys_cli import create_key
from tests.gateway import Gateway, make_gateway, wait_for_key
from tests.otlp_receiver import OtlpReceiver
from tests.secret_requests import KEY, leaky_body

SALT = "guardrail-test-salt-0123456789"


def _policy(upstream: FakeUpstream, guardrails: dict[str, Any] | None) -> str:
    document: dict[str, Any] = {"version": "g1", "targets": [{"name": "up", "base_url": upstream.base_url}],
                                "default": {"route": ["up"]}}
    if guardrails is not None:
        document["guardrails"] = guardrails
    return yaml.safe_dump(document)


@contextmanager
def _gateway(tmp_path: Path, upstream: FakeUpstream, receiver: tuple[OtlpReceiver, str],
             guardrails: dict[str, Any] | None = None, **settings: object) -> Iterator[Gateway]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(_policy(upstream, guardrails))
    yield from make_gateway(tmp_path, upstream, receiver, policy_file=policy_file, guardrail_salt=SALT, **settings)


def _post(gateway: Gateway, body: dict[str, Any], *, key: str | None = None,
          path: str = "/v1/messages?beta=true") -> tuple[httpx.Response, bytes]:
    session = make_session(3)
    headers = build_headers(session, auth_token=key or gateway.key)
    raw = encode_body(body)
    return httpx.post(gateway.url + path, headers=headers, content=raw, timeout=30), raw


def _messages(upstream: FakeUpstream) -> list[Any]:
    return [r for r in upstream.requests if r.path.startswith("/v1/messages")]


def _metric(gateway: Gateway, line_start: str) -> float:
    text = httpx.get(gateway.url + "/metrics", timeout=10).text
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start)]
    return sum(values)


def _leak_message_index(body: dict[str, Any]) -> int:
    return len(body["messages"]) - 1


def test_flag_forwards_byte_for_byte_and_records_the_finding_without_the_secret(
        tmp_path: Path, upstream: FakeUpstream, receiver: tuple[OtlpReceiver, str]) -> None:
    with _gateway(tmp_path, upstream, receiver) as gateway:  # no guardrails block: flag is the default
        body = leaky_body()
        response, raw = _post(gateway, body)
        assert response.status_code == 200
        assert _messages(upstream)[-1].body == raw  # untouched
        (turn,) = gateway.receiver.wait_for_turns(1)
        assert turn.guardrail == "flagged"
        (finding,) = [json.loads(text) for text in turn.secret_findings]
        assert finding["rule"] == "github_token" and finding["kind"] == "tool_result"
        assert (finding["message"], finding["block"], finding["line"]) == (_leak_message_index(body), 0, 4)
        assert len(finding["fingerprint"]) == 24 and "repeat" not in finding
        assert KEY not in repr(turn) and KEY[4:20] not in repr(turn)
        assert _metric(gateway, 'switchyard_guardrail_findings_total{action="flag",rule="github_token"}') == 1

        # the next turn carries the same tool result again: a repeat, neither recorded nor counted again
        follow = with_tool_results(body, [{"type": "text", "text": "Done."}], "")
        follow["messages"] = [*follow["messages"][:-1], {"role": "user", "content": "thanks"}]
        assert _post(gateway, follow)[0].status_code == 200
        second = next(t for t in gateway.receiver.wait_for_turns(2) if t.span_id != turn.span_id)
        assert second.guardrail is None and second.secret_findings == ()
        assert _metric(gateway, 'switchyard_guardrail_findings_total{action="flag",rule="github_token"}') == 1


def test_block_answers_a_400_naming_what_and_where_and_sends_nothing_upstream(
        tmp_path: Path, upstream: FakeUpstream, receiver: tuple[OtlpReceiver, str]) -> None:
    with _gateway(tmp_path, upstream, receiver, {"secrets": "block"}) as gateway:
        body = leaky_body()
        response, _ = _post(gateway, body)
        assert response.status_code == 400
        assert response.headers["x-should-retry"] == "false"
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error"
        where = f"messages[{_leak_message_index(body)}].content[0]"
        assert "a GitHub token in a tool result" in error["message"] and where in error["message"]
        assert "line 4" in error["message"] and KEY not in response.text and KEY[4:20] not in response.text
        assert _messages(upstream) == []
        (turn,) = gateway.receiver.wait_for_turns(1)
        assert (turn.guardrail, turn.status_code, turn.error_type) == ("blocked", 400, "invalid_request_error")
        assert [json.loads(t)["rule"] for t in turn.secret_findings] == ["github_token"]
        # count_tokens would send the same text to the provider: it is blocked too
        counted, _ = _post(gateway, body, path="/v1/messages/count_tokens?beta=true")
        assert counted.status_code == 400 and _messages(upstream) == []
        # the same request without the secret passes, untouched
        clean, raw = _post(gateway, leaky_body(leak=None))
        assert clean.status_code == 200 and _messages(upstream)[-1].body == raw
        assert _metric(gateway, 'switchyard_guardrail_requests_total{outcome="blocked"}') == 2


def test_off_scans_nothing(tmp_path: Path, upstream: FakeUpstream, receiver: tuple[OtlpReceiver, str]) -> None:
    with _gateway(tmp_path, upstream, receiver, {"secrets": "off"}) as gateway:
        assert _post(gateway, leaky_body())[0].status_code == 200
        (turn,) = gateway.receiver.wait_for_turns(1)
        assert (turn.guardrail, turn.secret_findings) == (None, ())
        assert _metric(gateway, 'switchyard_guardrail_requests_total{outcome="off"}') == 1
        assert _metric(gateway, "switchyard_guardrail_scanned_chars_total") == 0


# The gateway's key is alice's, of team payments; a repo is named by the x-switchyard-repo header.
@pytest.mark.parametrize(("guardrails", "repo", "status"), [
    ({"secrets": "flag", "overrides": [{"scope": "team", "name": "payments", "secrets": "block"}]}, None, 400),
    ({"secrets": "flag", "overrides": [{"scope": "team", "name": "other", "secrets": "block"}]}, None, 200),
    ({"secrets": "block", "overrides": [{"scope": "developer", "name": "alice", "secrets": "flag"}]}, None, 200),
    ({"secrets": "flag", "overrides": [{"scope": "repo", "name": "infra", "secrets": "block"}]}, "infra", 400),
    # a repo named by the client (its key lists no repos) may tighten, never relax: "off" does not undo a block
    ({"secrets": "block", "overrides": [{"scope": "repo", "name": "sandbox", "secrets": "off"}]}, "sandbox", 400),
    ({"secrets": "block", "overrides": [{"scope": "developer", "name": "alice", "secrets": "off"}]}, "sandbox", 200),
], ids=["team-block", "other-team", "developer-relaxes", "repo-tightens", "unverified-repo-cannot-relax",
        "developer-off"])
def test_overrides_by_developer_team_and_repo(tmp_path: Path, upstream: FakeUpstream,
                                             receiver: tuple[OtlpReceiver, str], guardrails: dict[str, Any],
                                             repo: str | None, status: int) -> None:
    with _gateway(tmp_path, upstream, receiver, guardrails) as gateway:
        headers = build_headers(make_session(3), auth_token=gateway.key)
        if repo is not None:
            headers["x-switchyard-repo"] = repo
        response = httpx.post(gateway.url + "/v1/messages", headers=headers, content=encode_body(leaky_body()),
                              timeout=30)
        assert response.status_code == status, response.text


def test_a_verified_repo_may_relax(tmp_path: Path, upstream: FakeUpstream,
                                   receiver: tuple[OtlpReceiver, str]) -> None:
    guardrails = {"secrets": "block", "overrides": [{"scope": "repo", "name": "sandbox", "secrets": "flag"}]}
    with _gateway(tmp_path, upstream, receiver, guardrails) as gateway:
        key = create_key(gateway.keys_file, "bob", "payments", repos=("sandbox",))
        wait_for_key(gateway, key)
        response, _ = _post(gateway, leaky_body(), key=key)  # the key's one repo is the request's, verified
        assert response.status_code == 200, response.text


def test_allow_list_by_fingerprint_and_by_fixture_path(tmp_path: Path, upstream: FakeUpstream,
                                                       receiver: tuple[OtlpReceiver, str]) -> None:
    with _gateway(tmp_path / "flag", upstream, receiver) as gateway:  # learn the finding's fingerprint
        _post(gateway, leaky_body())
        fingerprint = json.loads(gateway.receiver.wait_for_turns(1)[0].secret_findings[0])["fingerprint"]
    guardrails = {"secrets": "block", "allow": {"fingerprints": [fingerprint], "paths": ["*/tests/fixtures/*"]}}
    with _gateway(tmp_path / "block", upstream, receiver, guardrails) as gateway:
        assert _post(gateway, leaky_body())[0].status_code == 200  # the same secret, same salt: allowed
        other = leaky_body(leak="ghp_" + "Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0PpOoNn", path="/repo/tests/fixtures/github.env")
        assert _post(gateway, other)[0].status_code == 200  # another secret, but in a fixture file
        elsewhere = leaky_body(leak="ghp_" + "Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0PpOoNn", path="/repo/src/github.env")
        assert _post(gateway, elsewhere)[0].status_code == 400
        bash = leaky_body(leak="ghp_" + "Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0PpOoNn", tool="Bash")
        assert _post(gateway, bash)[0].status_code == 400  # a command's output has no path to allow
        # (the receiver also holds the first gateway's turn)
        allowed = [t for t in gateway.receiver.wait_for_turns(5) if t.guardrail == "allowed"]
        assert sorted(json.loads(t.secret_findings[0])["allowed"] for t in allowed) == ["fingerprint", "path"]


@pytest.mark.parametrize("on_failure", ["open", "closed"])
def test_a_failing_scanner_fails_open_or_closed_as_set(tmp_path: Path, upstream: FakeUpstream,
                                                      receiver: tuple[OtlpReceiver, str], on_failure: str) -> None:
    # every request is scanned on the worker thread (threshold 0); with the thread pool shut down
    # the scan cannot run: a real failure of the guardrail, not a stand-in
    with _gateway(tmp_path, upstream, receiver, {"secrets": "block"}, guardrail_thread_chars=0,
                  guardrail_on_failure=on_failure) as gateway:
        gateway.app.guard.close()
        response, raw = _post(gateway, leaky_body())
        (turn,) = gateway.receiver.wait_for_turns(1)
        assert turn.guardrail == f"failed_{on_failure}"
        assert _metric(gateway, f'switchyard_guardrail_requests_total{{outcome="failed_{on_failure}"}}') == 1
        if on_failure == "open":
            assert response.status_code == 200 and _messages(upstream)[-1].body == raw
        else:
            assert response.status_code == 500 and response.headers["x-should-retry"] == "false"
            assert _messages(upstream) == []


@pytest.mark.parametrize("on_failure", ["open", "closed"])
def test_blocks_over_the_size_cap_are_counted_not_scanned(tmp_path: Path, upstream: FakeUpstream,
                                                         receiver: tuple[OtlpReceiver, str], on_failure: str) -> None:
    with _gateway(tmp_path, upstream, receiver, {"secrets": "block"}, guardrail_max_block_chars=4096,
                  guardrail_on_failure=on_failure) as gateway:
        body = leaky_body(leak=None)
        body["messages"][-1]["content"][0]["content"] = "x = 1\n" * 2000  # 12 000 characters
        response, _ = _post(gateway, body)
        assert _metric(gateway, 'switchyard_guardrail_unscanned_blocks_total{reason="too_large"}') >= 1
        (turn,) = gateway.receiver.wait_for_turns(1)
        if on_failure == "open":
            assert response.status_code == 200 and turn.guardrail == "unscanned"
        else:
            assert response.status_code == 413 and response.headers["x-should-retry"] == "false"
            assert turn.guardrail == "failed_closed" and _messages(upstream) == []


def test_a_big_request_is_scanned_off_the_event_loop_with_the_same_verdict(
        tmp_path: Path, upstream: FakeUpstream, receiver: tuple[OtlpReceiver, str]) -> None:
    with _gateway(tmp_path, upstream, receiver, {"secrets": "block"}, guardrail_thread_chars=0) as gateway:
        response, _ = _post(gateway, leaky_body())
        assert response.status_code == 400 and "a GitHub token" in response.json()["error"]["message"]
        assert _post(gateway, leaky_body(leak=None))[0].status_code == 200


def test_the_session_memory_is_per_key(tmp_path: Path, upstream: FakeUpstream,
                                       receiver: tuple[OtlpReceiver, str]) -> None:
    """Another developer sending the same session id gets their own memory: their first request
    with the leak is a new finding of theirs, recorded on their turn."""
    with _gateway(tmp_path, upstream, receiver) as gateway:
        other = create_key(gateway.keys_file, "bob", "web")
        wait_for_key(gateway, other)
        _post(gateway, leaky_body())
        _post(gateway, leaky_body(), key=other)
        turns = gateway.receiver.wait_for_turns(2)
        assert sorted((t.developer, t.guardrail) for t in turns) == [("alice", "flagged"), ("bob", "flagged")]


def test_the_salt_setting_is_checked() -> None:
    from proxy.settings import ProxySettings

    with pytest.raises(ValueError, match="at least 16 bytes"):
        ProxySettings(guardrail_salt="short")


def test_a_policy_file_that_changes_the_allow_list_is_logged_on_the_audit_logger(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    import logging
    import os

    from proxy.app import ProxyApp
    from proxy.settings import ProxySettings

    upstream = "https://api.anthropic.com"
    policy_file = tmp_path / "policy.yaml"

    def write(version: str, allow: dict[str, Any], stamp: int) -> None:
        policy_file.write_text(yaml.safe_dump({"version": version, "targets": [{"name": "a", "base_url": upstream}],
                                               "default": {"route": ["a"]}, "guardrails": {"allow": allow}}))
        os.utime(policy_file, (1_800_000_000 + stamp, 1_800_000_000 + stamp))

    write("v1", {}, 0)
    app = ProxyApp(ProxySettings(upstream_url=upstream, upstream_api_key="sk-ant-test-0123456789",
                                 keys_file=tmp_path / "keys.json", policy_file=policy_file, spool_dir=tmp_path / "s"))
    caplog.set_level(logging.INFO, logger="switchyard.audit")
    write("v2", {"fingerprints": ["ab" * 12], "paths": ["*/fixtures/*"]}, 1)
    assert app.control.reload_policy()
    write("v3", {"fingerprints": ["ab" * 12], "paths": ["*/fixtures/*"]}, 2)
    assert app.control.reload_policy()  # the same allow-list: no line for it
    write("v4", {}, 3)
    assert app.control.reload_policy()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("guardrail allow-list")]
    assert lines == [f"guardrail allow-list changed: version=v2 previous=v1 added_fingerprints={'ab' * 12} "
                     "added_paths=*/fixtures/*",
                     f"guardrail allow-list changed: version=v4 previous=v3 removed_fingerprints={'ab' * 12} "
                     "removed_paths=*/fixtures/*"]
    app.guard.close()
