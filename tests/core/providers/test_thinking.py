"""The retry without earlier turns' thinking: only earlier turns lose it, never the running tool loop."""

from __future__ import annotations

from core.providers.thinking import is_signature_rejection, without_earlier_thinking

THINK = {"type": "thinking", "thinking": "hmm", "signature": "anthropic-sig"}


def _conversation() -> dict:
    return {"model": "m", "messages": [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": [THINK, {"type": "text", "text": "answer 1"}]},
        {"role": "user", "content": [{"type": "text", "text": "second question"}]},
        {"role": "assistant", "content": [THINK, {"type": "tool_use", "id": "t1", "name": "Read", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "x"}]},
    ]}


def test_earlier_turns_lose_their_thinking_and_the_running_loop_keeps_its_own() -> None:
    request = _conversation()
    stripped = without_earlier_thinking(request)
    assert stripped is not None
    messages = stripped["messages"]
    assert messages[1]["content"] == [{"type": "text", "text": "answer 1"}]
    assert messages[3]["content"][0] == THINK  # the tool loop still running keeps its signed block
    assert request["messages"][1]["content"][0] == THINK  # the caller's document is not changed


def test_nothing_to_leave_out_means_no_retry() -> None:
    assert without_earlier_thinking({"messages": [{"role": "user", "content": "hi"}]}) is None
    only_loop = _conversation()
    only_loop["messages"] = only_loop["messages"][2:]
    assert without_earlier_thinking(only_loop) is None


def test_a_signature_refusal_is_recognised_and_other_400s_are_not() -> None:
    assert is_signature_rejection(400, b'{"type":"error","error":{"type":"invalid_request_error",'
                                       b'"message":"messages.1.content.0: Invalid `signature` in `thinking` block"}}')
    assert not is_signature_rejection(400, b'{"message":"prompt is too long"}')
    assert not is_signature_rejection(529, b"signature thinking")
