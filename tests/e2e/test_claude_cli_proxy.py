"""The real Claude Code CLI through switchyard: CLI → proxy → the project's fake upstream, with the
proxy's spans going to an OTLP receiver. A complete agentic loop must work byte for byte."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sim.agent_script import FINAL_TEXT
from sim.assemble import assemble_content
from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from tests.e2e.claude_cli import require_claude, run_claude
from tests.gateway import PROVIDER_KEY, make_gateway

pytestmark = pytest.mark.e2e


class _Event:
    """An SSE event as the CLI's stream-json reports it (``stream_event.event`` is the raw payload)."""

    def __init__(self, payload: dict[str, Any]) -> None:
        import orjson

        self.event = payload["type"]
        self.data = orjson.dumps(payload).decode()


@pytest.mark.parametrize("auth", ["bearer", "x-api-key"])
def test_agentic_loop_through_the_proxy(tmp_path: Path, receiver, auth: str) -> None:
    require_claude()
    work = tmp_path / "work"
    work.mkdir()
    target = work / "hello.txt"
    config = UpstreamConfig(expected_api_key=PROVIDER_KEY, event_interval_s=0.03, text_deltas=8)
    with FakeUpstream(config) as fake:
        for gateway in make_gateway(tmp_path, fake, receiver):
            run = run_claude(f"Please create the file. [[sim:write {target} héllo-wörld-✓]]", gateway.url,
                             gateway.key, work, auth=auth,  # type: ignore[arg-type]
                             extra_env={"CLAUDE_CODE_GATEWAY_HINT_HEADERS": "1",
                                        "ANTHROPIC_CUSTOM_HEADERS": "x-switchyard-repo: demo-repo"})
            assert run.returncode == 0, run.describe()
            assert target.read_text(encoding="utf-8") == "héllo-wörld-✓"  # the tool really ran

            main_calls = [r for r in fake.requests if r.path == "/v1/messages" and b"sim:write" in r.body]
            first, second = main_calls[0], main_calls[-1]
            assert first.header("x-api-key") == PROVIDER_KEY and gateway.key not in str(first.headers)
            assert first.query_string == "beta=true"
            assert first.header("x-switchyard-repo") is None

            # What the CLI received (via the proxy) is what it echoes back: thinking with its
            # signature and the tool_use, identical; the tool_result carries the same id.
            streamed = [_Event(line.event["event"]) for line in run.stream_events()]
            first_answer = assemble_content(streamed[: _index_of_first_stop(streamed) + 1])
            kinds = [b["type"] for b in first_answer]
            assert "thinking" in kinds and "tool_use" in kinds
            second_body = second.json()
            echoed = [m for m in second_body["messages"] if m["role"] == "assistant"][-1]["content"]
            assert [b for b in echoed if b["type"] in ("thinking", "tool_use")] == [
                b for b in first_answer if b["type"] in ("thinking", "tool_use")]
            tool_use = next(b for b in first_answer if b["type"] == "tool_use")
            results = [b for m in second_body["messages"] if m["role"] == "user" and isinstance(m["content"], list)
                       for b in m["content"] if b.get("type") == "tool_result"]
            assert [r["tool_use_id"] for r in results] == [tool_use["id"]]

            # The final multi-byte text is intact, and it arrived delta by delta, not in one piece.
            assert run.final_text is not None and FINAL_TEXT in run.final_text
            deltas = run.text_deltas()
            last_answer_deltas = [d for d in deltas if d.at >= deltas[-1].at - 2]
            assert len(last_answer_deltas) >= 4
            assert last_answer_deltas[-1].at - last_answer_deltas[0].at >= 0.03 * 3

            # Spans reached the receiver with the tokens the upstream reported.
            turns = gateway.receiver.wait_for_turns(2)
            by_response = {t.response_id: t for t in turns}
            message_starts = [e for e in streamed if e.event == "message_start"]
            import orjson

            for start in message_starts:
                message = orjson.loads(start.data)["message"]
                turn = by_response[message["id"]]
                assert turn.input_tokens == message["usage"]["input_tokens"]
                assert turn.cache_read_tokens == message["usage"].get("cache_read_input_tokens", 0)
                assert turn.developer == "alice" and turn.repo == "demo-repo"
                assert turn.session_id == run.session_id
                assert turn.cli_version == "2.1.330"
                assert turn.request_class == "main"
            assert by_response[orjson.loads(message_starts[0].data)["message"]["id"]].tool_use_ids == (tool_use["id"],)
            assert len({t.trace_id for t in turns}) == 1  # one session, one trace


def _index_of_first_stop(events: list[_Event]) -> int:
    return next(i for i, e in enumerate(events) if e.event == "message_stop")


def test_a_wrong_key_stops_the_real_cli_at_once(tmp_path: Path, receiver) -> None:
    """The proxy's own 401 carries ``x-should-retry: false``: the CLI gives up at once and tells the
    developer, instead of retrying about ten times with back-off (two minutes that look like a hang)."""
    require_claude()
    work = tmp_path / "work"
    work.mkdir()
    with FakeUpstream(UpstreamConfig(expected_api_key=PROVIDER_KEY)) as fake:
        for gateway in make_gateway(tmp_path, fake, receiver):
            run = run_claude("hello", gateway.url, "sk-sy-000000000000.not-a-real-secret", work, timeout=60)
            assert run.returncode != 0
            assert run.duration < 20, run.describe()
            assert not [r for r in fake.requests if r.path == "/v1/messages"]  # nothing reached the upstream
