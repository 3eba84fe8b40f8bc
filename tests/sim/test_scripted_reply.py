"""``x-sim-script``: the fleet tells the fake upstream what the model does on a turn."""

from __future__ import annotations

import httpx
import orjson
import pytest

from core.pricing import Usage
from core.sse import SSEParser, StreamTap
from sim.assemble import assemble_content
from sim.claude_shapes import build_request_body, encode_body
from sim.fleet_client import script_header
from sim.fleet_config import Outcome
from sim.fleet_plan import PlannedTurn
from sim.scripted_reply import SCRIPT_HEADER, Script, parse_script
from sim.upstream import FakeUpstream


def post(upstream: FakeUpstream, script: str, **body_options: object) -> httpx.Response:
    body = build_request_body(1, history_chars=2_000, tool_count=8, **body_options)  # type: ignore[arg-type]
    return httpx.post(upstream.base_url + "/v1/messages", content=encode_body(body),
                      headers={"content-type": "application/json", SCRIPT_HEADER: script}, timeout=10)


def content(response: httpx.Response) -> tuple[list[dict], str | None, int]:  # type: ignore[type-arg]
    tap = StreamTap()
    tap.feed(response.content)
    summary = tap.summary()
    return assemble_content(SSEParser().feed(response.content)), summary.stop_reason, summary.output_tokens


@pytest.mark.parametrize(("value", "script"), [
    ("tools=Edit,Read;output=420", Script(("Edit", "Read"), "ok", 420)),
    ("outcome=truncate", Script((), "truncate")),
    ("tools=Bash,Edit;outcome=bad-tool-input;malformed=1", Script(("Bash", "Edit"), "bad-tool-input", None, (1,))),
    ("", Script()),
])
def test_scripts_parse(value: str, script: Script) -> None:
    assert parse_script(value) == script


@pytest.mark.parametrize("value", ["tools", "outcome=explode", "colour=red", "output=0", "tools=Read;malformed=3"])
def test_bad_scripts_are_refused(value: str) -> None:
    with pytest.raises(ValueError):
        parse_script(value)


def test_the_fake_answers_the_scripted_tool_calls(upstream: FakeUpstream) -> None:
    blocks, stop_reason, output_tokens = content(post(upstream, "tools=Edit,Grep;output=777"))
    calls = [block for block in blocks if block["type"] == "tool_use"]
    assert [call["name"] for call in calls] == ["Edit", "Grep"] and stop_reason == "tool_use"
    assert set(calls[0]["input"]) == {"file_path", "old_string", "new_string"} and output_tokens == 777
    assert blocks[0]["type"] == "thinking"  # the request enabled thinking


def test_malformed_input_truncation_and_errors(upstream: FakeUpstream) -> None:
    blocks, _, _ = content(post(upstream, "tools=Read,Edit;outcome=bad-tool-input;malformed=1"))
    calls = [block for block in blocks if block["type"] == "tool_use"]
    assert "file_path" in calls[0]["input"] and "old_string" not in calls[1]["input"]
    blocks, stop_reason, output_tokens = content(post(upstream, "tools=Edit;outcome=truncate", max_tokens=32_000))
    assert stop_reason == "max_tokens" and output_tokens == 32_000
    assert not [block for block in blocks if block["type"] == "tool_use"]
    timeout = post(upstream, "outcome=timeout")
    assert timeout.status_code == 504 and orjson.loads(timeout.content)["error"]["type"] == "timeout_error"
    assert post(upstream, "outcome=overloaded").status_code == 529
    refused = post(upstream, "outcome=sideways")
    assert refused.status_code == 400 and SCRIPT_HEADER in refused.text


def test_the_prompt_cache_is_per_model(upstream: FakeUpstream) -> None:
    def usage(model: str) -> tuple[int, int]:
        tap = StreamTap()
        tap.feed(post(upstream, "tools=Read", model=model).content)
        summary = tap.summary()
        return summary.cache_read_tokens, summary.cache_creation_tokens

    first = usage("claude-sonnet-4-5-20250929")
    assert first[0] == 0 and first[1] > 0
    assert usage("claude-sonnet-4-5-20250929")[0] > 0  # the same prompt again: read from the cache
    assert usage("claude-opus-4-5-20251101")[0] == 0  # another model: written again


def test_the_fleet_scripts_each_outcome() -> None:
    def planned(outcome: Outcome, tools: tuple[str, ...] = ("Bash",), malformed: tuple[int, ...] = ()) -> PlannedTurn:
        return PlannedTurn(0, 0.0, "sonnet", "m", 9_000, True, tools, (), malformed, 350, 0.2, 0.9, outcome, None,
                           Usage(), 0.0, 1.0, None, 1.0, 200, False)

    assert script_header(planned(Outcome.OK)) == "tools=Bash;outcome=ok;output=350"
    assert script_header(planned(Outcome.TOOL_FAIL)) == "tools=Bash;outcome=ok;output=350"  # the client fails it
    assert script_header(planned(Outcome.BAD_TOOL_INPUT, malformed=(0,))).endswith("outcome=bad-tool-input;"
                                                                                   "output=350;malformed=0")
    assert "outcome=timeout" in script_header(planned(Outcome.TIMEOUT, ()))
