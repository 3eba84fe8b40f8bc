"""Every turn is attributed and becomes one span with the right tokens; keys work both ways."""

from __future__ import annotations

import time

import httpx
import pytest

from core.sse import StreamTap
from proxy.keyfile import load_keyring
from sim.claude_shapes import build_headers, build_request_body, encode_body, make_session
from switchyard.keys_cli import create_key
from tests.gateway import PROVIDER_KEY, Gateway, make_gateway
from tests.loopback import wait_until


def test_a_turn_becomes_a_span_with_attribution_and_exact_usage(gateway: Gateway) -> None:
    session = make_session(7)
    headers = build_headers(session, auth_token=gateway.key, hint_headers=True, request_class="subagent")
    headers["x-claude-code-agent-id"] = "agent-b"
    headers["x-claude-code-parent-agent-id"] = "agent-a"
    headers["x-switchyard-repo"] = "payments-api"
    body = encode_body(build_request_body(7, session=session, history_chars=20_000))
    response = httpx.post(gateway.url + "/v1/messages?beta=true", headers=headers, content=body, timeout=30)
    tap = StreamTap()
    tap.feed(response.content)
    usage = tap.summary()
    (turn,) = gateway.receiver.wait_for_turns(1)
    assert (turn.developer, turn.team, turn.repo) == ("alice", "payments", "payments-api")
    assert turn.session_id == session.session_id
    assert (turn.agent_id, turn.parent_agent_id, turn.request_class, turn.agent_type) == (
        "agent-b", "agent-a", "subagent", "general-purpose")
    assert turn.cli_version == session.cli_version
    assert (turn.input_tokens, turn.output_tokens, turn.cache_creation_tokens, turn.cache_read_tokens) == (
        usage.input_tokens, usage.output_tokens, usage.cache_creation_tokens, usage.cache_read_tokens)
    assert turn.output_tokens > 0 and turn.input_tokens + turn.cache_creation_tokens + turn.cache_read_tokens > 0
    assert turn.tool_use_ids == usage.tool_use_ids
    assert turn.stop_reason == usage.stop_reason
    assert turn.status_code == 200 and turn.error_type is None
    assert turn.requested_model == turn.served_model
    assert turn.stream is True and turn.thinking is True and turn.tool_count == 17
    assert turn.ttfb_ms is not None and 0 < turn.ttfb_ms <= turn.duration_ms
    assert turn.path == "/v1/messages"


def test_turns_of_one_session_share_a_trace_and_side_calls_make_no_span(gateway: Gateway) -> None:
    session = make_session(8)
    headers = build_headers(session, api_key=gateway.key)
    for seed in (1, 2):
        body = encode_body(build_request_body(seed, session=session, history_chars=1_000))
        assert httpx.post(gateway.url + "/v1/messages", headers=headers, content=body, timeout=30).status_code == 200
    assert httpx.get(gateway.url + "/v1/models", headers=headers, timeout=10).status_code == 200
    other = build_headers(make_session(9), api_key=gateway.key)
    httpx.post(gateway.url + "/v1/messages", headers=other, content=encode_body(build_request_body(9)), timeout=30)
    turns = gateway.receiver.wait_for_turns(3)
    time.sleep(0.2)
    assert len(gateway.receiver.turns()) == 3  # GET /v1/models is counted in metrics, not a turn
    traces = {t.session_id: t.trace_id for t in turns}
    assert turns[0].trace_id == turns[1].trace_id == traces[session.session_id]
    assert turns[2].trace_id != turns[0].trace_id
    assert len({t.span_id for t in turns}) == 3


def test_tool_results_of_the_request_are_recorded(gateway: Gateway) -> None:
    session = make_session(4)
    body = build_request_body(4, session=session, history_chars=1_000)
    body["messages"].append({"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_A", "name": "Bash",
                                                               "input": {"command": "false"}}]})
    body["messages"].append({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_A", "is_error": True, "content": "exit 1"}]})
    httpx.post(gateway.url + "/v1/messages", headers=build_headers(session, api_key=gateway.key),
               content=encode_body(body), timeout=30)
    (turn,) = gateway.receiver.wait_for_turns(1)
    assert turn.tool_result_ids == ("toolu_A",) and turn.tool_result_error_ids == ("toolu_A",)


@pytest.mark.parametrize("how", ["x-api-key", "bearer"])
def test_virtual_key_accepted_either_way(gateway: Gateway, how: str) -> None:
    session = make_session(5)
    headers = (build_headers(session, api_key=gateway.key) if how == "x-api-key"
               else build_headers(session, auth_token=gateway.key))
    response = httpx.post(gateway.url + "/v1/messages", headers=headers,
                          content=encode_body(build_request_body(5, history_chars=1_000)), timeout=30)
    assert response.status_code == 200


def test_keys_created_and_revoked_take_effect_without_restart(gateway: Gateway) -> None:
    from typer.testing import CliRunner

    from switchyard.cli import app

    new_key = create_key(gateway.keys_file, "bob", "search")
    assert "sk-sy-" not in gateway.keys_file.read_text()  # hashes only
    assert oct(gateway.keys_file.stat().st_mode & 0o777) == "0o600"
    headers = {"x-api-key": new_key}
    deadline = time.monotonic() + 5
    while httpx.get(gateway.url + "/v1/models", headers=headers, timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "new key not picked up"
        time.sleep(0.05)
    key_id = next(r.key_id for r in load_keyring(gateway.keys_file).records() if r.developer == "bob")
    result = CliRunner().invoke(app, ["keys", "revoke", key_id, "--keys-file", str(gateway.keys_file)])
    assert result.exit_code == 0, result.output
    while httpx.get(gateway.url + "/v1/models", headers=headers, timeout=5).status_code != 401:
        assert time.monotonic() < deadline, "revocation not picked up"
        time.sleep(0.05)


def test_cli_prints_the_key_once_and_stores_only_a_hash(tmp_path) -> None:
    from typer.testing import CliRunner

    from switchyard.cli import app

    keys_file = tmp_path / "k.json"
    result = CliRunner().invoke(app, ["keys", "create", "--developer", "carol", "--team", "infra",
                                      "--keys-file", str(keys_file)])
    assert result.exit_code == 0, result.output
    key = next(line for line in result.stdout.splitlines() if line.startswith("sk-sy-"))
    assert key.split(".", 1)[1] not in keys_file.read_text()
    assert load_keyring(keys_file).authenticate(key).developer == "carol"


def test_passthrough_forwards_the_developers_own_key(tmp_path, receiver) -> None:
    from sim.upstream import FakeUpstream
    from sim.upstream_config import UpstreamConfig

    own_key = "sk-ant-api03-developers-own-key"
    with FakeUpstream(UpstreamConfig(expected_api_key=own_key)) as fake:
        for gateway in make_gateway(tmp_path, fake, receiver, passthrough=True, upstream_api_key=None):
            headers = build_headers(make_session(1), api_key=own_key)
            response = httpx.post(gateway.url + "/v1/messages", headers=headers,
                                  content=encode_body(build_request_body(1, history_chars=1_000)), timeout=30)
            assert response.status_code == 200
            assert fake.requests[-1].header("x-api-key") == own_key
            (turn,) = gateway.receiver.wait_for_turns(1)
            assert turn.developer is None


def test_client_disconnect_cancels_the_upstream_request(tmp_path, receiver) -> None:
    from sim.upstream import FakeUpstream
    from sim.upstream_config import UpstreamConfig

    with FakeUpstream(UpstreamConfig(expected_api_key=PROVIDER_KEY, event_interval_s=0.2, text_deltas=50)) as fake:
        for gateway in make_gateway(tmp_path, fake, receiver):
            headers = build_headers(make_session(2), api_key=gateway.key)
            started = time.monotonic()
            with httpx.stream("POST", gateway.url + "/v1/messages", headers=headers, timeout=30,
                              content=encode_body(build_request_body(2, history_chars=1_000))) as response:
                next(response.iter_raw())  # the first bytes, then hang up (a ~10 s stream)
            (turn,) = gateway.receiver.wait_for_turns(1, timeout=5)
            assert turn.error_type == "client_disconnected"
            assert time.monotonic() - started < 3  # the turn ended with the client, not the stream


def test_ingest_down_turns_wait_in_the_journal_and_are_delivered_later(gateway: Gateway) -> None:
    gateway.receiver.fail_with = 503
    headers = build_headers(make_session(6), api_key=gateway.key)
    for seed in range(3):
        response = httpx.post(gateway.url + "/v1/messages", headers=headers,
                              content=encode_body(build_request_body(seed, history_chars=500)), timeout=30)
        assert response.status_code == 200
    exporter = gateway.app.exporter
    stats = exporter.stats
    wait_until(lambda: stats.journaled >= 3 and stats.failed_batches >= 1, timeout=5, what="3 journaled spans")
    assert exporter.pending == 3 and list((gateway.app.settings.spool_dir).glob("*.journal"))
    metrics = httpx.get(gateway.url + "/metrics", timeout=5).text
    assert "switchyard_spans_journaled_total 3.0" in metrics and "switchyard_spans_pending 3.0" in metrics
    assert 'switchyard_proxy_requests_total{code="200",origin="upstream"} 3.0' in metrics
    assert "switchyard_proxy_ttfb_seconds_count 3.0" in metrics  # every streamed turn's first byte observed
    gateway.receiver.fail_with = None  # ingest is back
    turns = gateway.receiver.wait_for_turns(3, timeout=10)
    assert len({t.span_id for t in turns}) == 3
    # The receiver sees a batch before the exporter has acked it and counted it.
    wait_until(lambda: stats.exported >= 3, timeout=5, what="3 exported spans")
    # at least the first turn's batch failed and was sent again (later ones may have waited unsent)
    assert stats.exported == 3 and 1 <= stats.redelivered <= 3 and stats.dead_lettered == 0
    wait_until(lambda: exporter.pending == 0, timeout=5, what="the acks journaled")


def test_provider_key_never_reaches_spans_or_client(gateway: Gateway) -> None:
    headers = build_headers(make_session(6), api_key=gateway.key)
    headers["x-sim-fault"] = "500"
    response = httpx.post(gateway.url + "/v1/messages", headers=headers,
                          content=encode_body(build_request_body(6, history_chars=500)), timeout=30)
    assert PROVIDER_KEY not in response.text and PROVIDER_KEY not in str(response.headers)
    gateway.receiver.wait_for_turns(1)
    assert all(PROVIDER_KEY.encode() not in r.SerializeToString() for r in gateway.receiver.requests)
    assert gateway.key.encode() not in b"".join(r.SerializeToString() for r in gateway.receiver.requests)


def test_per_key_rate_limit_answers_429_with_retry_after(gateway: Gateway) -> None:
    limited = create_key(gateway.keys_file, "erin", "payments", rate_limit_rpm=2)
    deadline = time.monotonic() + 5
    while httpx.get(gateway.url + "/v1/models", headers={"x-api-key": limited}, timeout=5).status_code == 401:
        assert time.monotonic() < deadline, "new key not picked up"
        time.sleep(0.05)
    # the probe above used one of the two tokens
    assert httpx.get(gateway.url + "/v1/models", headers={"x-api-key": limited}, timeout=5).status_code == 200
    refused = httpx.get(gateway.url + "/v1/models", headers={"x-api-key": limited}, timeout=5)
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert int(refused.headers["retry-after"]) >= 1
    # other keys are not affected
    assert httpx.get(gateway.url + "/v1/models", headers={"x-api-key": gateway.key}, timeout=5).status_code == 200
