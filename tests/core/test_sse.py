"""core.sse: the SSE splitter, the usage tap and the non-streaming summary."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.sse import SSEEvent, SSEParser, StreamSummary, StreamTap, summarize_message

FIXTURES = Path(__file__).parent / "fixtures"
TOOL_USE = (FIXTURES / "claude_code_tool_use.sse").read_bytes()
TOOL_USE_CRLF = (FIXTURES / "claude_code_tool_use_crlf.sse").read_bytes()
ERROR_MID_STREAM = (FIXTURES / "error_mid_stream.sse").read_bytes()
RECORDED = {"tool_use": TOOL_USE, "tool_use_crlf": TOOL_USE_CRLF, "error_mid_stream": ERROR_MID_STREAM}

TOOL_USE_SUMMARY = StreamSummary(
    message_id="msg_01XFDUDYJgAACzvnptvVoYEL",
    model="claude-opus-4-5-20251101",
    input_tokens=12,
    output_tokens=187,
    cache_creation_tokens=2048,
    cache_creation_1h_tokens=2048,
    cache_read_tokens=48213,
    stop_reason="tool_use",
    tool_use_ids=("toolu_01A09q90qw90lq917835lq9",),
    tool_use_names=("Bash",),
    event_count=22,
    ping_count=3,
    complete=True,
)
ERROR_SUMMARY = StreamSummary(
    message_id="msg_01Gv5tYXNtZ2bF8TrSqkD9sA",
    model="claude-sonnet-4-5-20250929",
    input_tokens=3071,
    output_tokens=1,
    error_type="overloaded_error",
    error_message="Overloaded",
    event_count=6,
    ping_count=1,
    complete=False,
)


# --- helpers ---------------------------------------------------------------------------------


def parse_all(chunks: list[bytes], max_line_bytes: int | None = None) -> list[SSEEvent]:
    parser = SSEParser() if max_line_bytes is None else SSEParser(max_line_bytes)
    return [event for chunk in chunks for event in parser.feed(chunk)]


def tap_all(chunks: list[bytes]) -> StreamSummary:
    tap = StreamTap()
    for chunk in chunks:
        tap.feed(chunk)
    return tap.summary()


def split_at(data: bytes, points: list[int]) -> list[bytes]:
    cuts = sorted(set(points))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def reference_events(stream: bytes) -> list[SSEEvent]:
    """A deliberately naive whole-stream parser (decode everything, split with a regex) that the
    incremental parser must agree with."""
    text = stream.decode("utf-8", "replace").removeprefix("\ufeff")
    lines = re.split(r"\r\n|\r|\n", text)[:-1]  # the unterminated tail is not a line
    events, event_type, data = [], "", []
    for line in lines:
        if line == "":
            if data:
                events.append(SSEEvent(event_type or "message", "\n".join(data)))
            event_type, data = "", []
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            elif name == "event":
                event_type = value
    return events


def chunkings(data: bytes) -> st.SearchStrategy[list[bytes]]:
    return st.lists(st.integers(0, len(data)), max_size=300).map(lambda points: split_at(data, points))


STREAM_PIECES = [
    b"data:", b"data: ", b"event:", b"event: ping", b"event: message_start", b":", b": comment",
    b"\r", b"\n", b"\r\n", b"\n\n", b"x", b" ", b"id: 7", b"retry: 10", b"data",
    "é".encode(), "日本語".encode(), "🚀".encode(), b"\xff", b"\xe6\x97", b"\xef\xbb\xbf",
]  # fmt: skip
arbitrary_streams = st.one_of(
    st.lists(st.sampled_from(STREAM_PIECES), max_size=60).map(b"".join),
    st.binary(max_size=200),
)


# --- the parser: chunking never changes the result -------------------------------------------


@pytest.mark.parametrize("name", sorted(RECORDED))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_recorded_streams_parse_the_same_however_they_are_chunked(name: str, data: st.DataObject) -> None:
    stream = RECORDED[name]
    chunks = data.draw(chunkings(stream))
    assert b"".join(chunks) == stream
    assert parse_all(chunks) == parse_all([stream])
    assert tap_all(chunks) == tap_all([stream])


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_recorded_streams_fed_one_byte_at_a_time(name: str) -> None:
    stream = RECORDED[name]
    one_byte_chunks = [stream[i : i + 1] for i in range(len(stream))]
    assert parse_all(one_byte_chunks) == parse_all([stream]) == reference_events(stream)
    assert tap_all(one_byte_chunks) == tap_all([stream])


@settings(max_examples=300, deadline=None)
@given(data=st.data(), stream=arbitrary_streams)
def test_arbitrary_bytes_agree_with_the_naive_reference(data: st.DataObject, stream: bytes) -> None:
    chunks = data.draw(chunkings(stream))
    assert parse_all(chunks) == reference_events(stream)
    tap_all(chunks)  # the tap never raises, whatever arrives


def test_recorded_stream_events_decode_multibyte_text() -> None:
    events = parse_all([TOOL_USE])
    assert len(events) == 22
    assert [e.event for e in events[:3]] == ["message_start", "content_block_start", "ping"]
    texts = [json.loads(e.data)["delta"].get("text") for e in events if e.event == "content_block_delta"]
    assert "héllo — 日本語 🚀" in texts
    fragments = [
        json.loads(e.data)["delta"]["partial_json"]
        for e in events
        if e.event == "content_block_delta" and "partial_json" in e.data
    ]
    assert json.loads("".join(fragments)) == {"command": "ls -la ~/日本語", "description": "List 🚀 files"}
    assert parse_all([TOOL_USE_CRLF]) == events


# --- the parser: line and field rules ----------------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        (b"data: a\n\n", [SSEEvent("message", "a")]),
        (b"data:a\n\n", [SSEEvent("message", "a")]),
        (b"data:  a\n\n", [SSEEvent("message", " a")]),  # only one optional space is removed
        (b"data: a\ndata: b\n\n", [SSEEvent("message", "a\nb")]),
        (b"event: ping\ndata: {}\n\n", [SSEEvent("ping", "{}")]),
        (b"event: ping\n\ndata: x\n\n", [SSEEvent("message", "x")]),  # no data: no event, type reset
        (b": keep-alive\n\n", []),
        (b":comment\ndata: a\n: another\n\n", [SSEEvent("message", "a")]),
        (b"data\n\n", [SSEEvent("message", "")]),  # a field name without a colon has an empty value
        (b"data:\n\n", [SSEEvent("message", "")]),
        (b"id: 3\nretry: 100\ndata: a\n\n", [SSEEvent("message", "a")]),
        (b"data: a:b: c\n\n", [SSEEvent("message", "a:b: c")]),
        (b"data: a\r\rdata: b\r\r", [SSEEvent("message", "a"), SSEEvent("message", "b")]),
        (b"data: a\r\n\r\n", [SSEEvent("message", "a")]),
        (b"data: a\r\ndata: b\rdata: c\n\n", [SSEEvent("message", "a\nb\nc")]),
        (b"\xef\xbb\xbfdata: a\n\n", [SSEEvent("message", "a")]),  # a leading BOM is dropped
        (b"data: \xff\xe6\x97\n\n", [SSEEvent("message", "\ufffd\ufffd")]),
        (b"data: unterminated\n", []),
        (b"data: a\n\ndata: not yet", [SSEEvent("message", "a")]),
    ],
)
def test_field_and_line_rules(stream: bytes, expected: list[SSEEvent]) -> None:
    assert parse_all([stream]) == expected
    assert reference_events(stream) == expected


def test_cr_at_end_of_chunk_and_lf_at_start_of_next_are_one_line_ending() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\n") == []  # not a blank line: it completes the "\r"
    assert parser.feed(b"data: b\r") == []
    assert parser.feed(b"\ndata: c\r") == []
    assert parser.feed(b"\r") == [SSEEvent("message", "a\nb\nc")]


def test_multibyte_character_split_across_chunks() -> None:
    encoded = "data: 🚀日\n\n".encode()
    parser = SSEParser()
    assert parser.feed(encoded[:7]) == []  # 🚀 is 4 bytes starting at offset 6
    assert parser.feed(encoded[7:12]) == []
    assert parser.feed(encoded[12:]) == [SSEEvent("message", "🚀日")]


def test_bom_is_only_dropped_at_the_start_of_the_stream() -> None:
    parser = SSEParser()
    assert parser.feed(b"\xef\xbb") == []
    assert parser.feed(b"\xbfdata: a\n\n") == [SSEEvent("message", "a")]
    assert parser.feed("\ufeffdata: b\n\n".encode()) == []  # "\ufeffdata" is not the data field


# --- the parser: the memory guard ----------------------------------------------------------


def test_a_long_line_overflows_and_parsing_stops() -> None:
    parser = SSEParser(max_line_bytes=16)
    assert parser.feed(b"data: ok\n\ndata: " + b"x" * 20) == [SSEEvent("message", "ok")]
    assert parser.overflowed
    assert parser.feed(b"\n\ndata: later\n\n") == []
    assert parser.overflowed


def test_a_long_line_arriving_in_small_chunks_overflows() -> None:
    parser = SSEParser(max_line_bytes=16)
    for _ in range(16):
        assert parser.feed(b"x") == []
    assert not parser.overflowed
    parser.feed(b"x")
    assert parser.overflowed


def test_many_data_lines_in_one_event_overflow() -> None:
    parser = SSEParser(max_line_bytes=16)
    assert parser.feed(b"data: 123456789\n" * 2) == []
    assert parser.overflowed
    assert parser.feed(b"\n") == []


def test_a_held_line_exactly_at_the_cap_is_fine() -> None:
    parser = SSEParser(max_line_bytes=16)
    assert parser.feed(b"data: " + b"x" * 10) == []
    assert parser.feed(b"\n\n") == [SSEEvent("message", "x" * 10)]
    assert not parser.overflowed


def test_the_tap_reports_overflow_without_raising() -> None:
    tap = StreamTap(max_line_bytes=64)
    tap.feed(TOOL_USE)
    summary = tap.summary()
    assert tap.overflowed and summary.overflowed
    assert not summary.complete


def test_cap_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        SSEParser(max_line_bytes=0)


# --- the tap ---------------------------------------------------------------------------------


def sse(*events: tuple[str, object]) -> bytes:
    return b"".join(
        f"event: {name}\ndata: {data if isinstance(data, str) else json.dumps(data)}\n\n".encode()
        for name, data in events
    )


@pytest.mark.parametrize(("name", "expected"), [("tool_use", TOOL_USE_SUMMARY), ("error", ERROR_SUMMARY)])
def test_recorded_stream_summaries(name: str, expected: StreamSummary) -> None:
    stream = {"tool_use": TOOL_USE, "error": ERROR_MID_STREAM}[name]
    assert tap_all([stream]) == expected
    if name == "tool_use":
        assert tap_all([TOOL_USE_CRLF]) == expected


def test_usage_takes_the_latest_non_null_value_of_each_field() -> None:
    start = {"message": {"id": "m", "usage": {"input_tokens": 10, "output_tokens": 1,
                                              "cache_read_input_tokens": 5}}}  # fmt: skip
    tap = StreamTap()
    tap.feed(sse(("message_start", start)))
    tap.feed(sse(("message_delta", {"delta": {"stop_reason": None}, "usage": {"output_tokens": 40}})))
    assert (tap.summary().input_tokens, tap.summary().output_tokens) == (10, 40)
    tap.feed(sse(("message_delta", {
        "delta": {"stop_reason": "end_turn"},
        "usage": {"input_tokens": 12, "output_tokens": 50, "cache_read_input_tokens": None,
                  "cache_creation_input_tokens": 7, "cache_creation": {"ephemeral_1h_input_tokens": 3}},
    })))  # fmt: skip
    summary = tap.summary()
    assert (summary.input_tokens, summary.output_tokens) == (12, 50)
    cache = (summary.cache_read_tokens, summary.cache_creation_tokens, summary.cache_creation_1h_tokens)
    assert cache == (5, 7, 3)
    assert summary.stop_reason == "end_turn"
    assert not summary.complete
    tap.feed(sse(("message_stop", {"type": "message_stop"})))
    assert tap.complete and tap.summary().complete


def test_cache_creation_1h_defaults_to_zero_and_bad_counts_are_ignored() -> None:
    usage = {"input_tokens": True, "output_tokens": -3, "cache_creation_input_tokens": "9",
             "cache_read_input_tokens": 4.0, "cache_creation": {"ephemeral_5m_input_tokens": 8}}  # fmt: skip
    summary = tap_all([sse(("message_start", {"message": {"usage": usage}}))])
    assert summary == StreamSummary(event_count=1)


def test_tool_use_and_server_tool_use_blocks_are_recorded_in_order() -> None:
    summary = tap_all([sse(
        ("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        ("content_block_start", {"index": 1, "content_block": {"type": "server_tool_use", "id": "srvtoolu_1",
                                                               "name": "web_search", "input": {}}}),
        ("content_block_start", {"index": 2, "content_block": {"type": "tool_use", "id": "toolu_2",
                                                               "name": "Read", "input": {}}}),
        ("content_block_start", {"index": 3, "content_block": {"type": "tool_use", "name": "no id"}}),
    )])  # fmt: skip
    assert summary.tool_use_ids == ("srvtoolu_1", "toolu_2")
    assert summary.tool_use_names == ("web_search", "Read")


def test_events_are_chosen_by_name_not_by_their_data() -> None:
    fake_start = {"type": "message_start", "message": {"id": "fake", "usage": {"input_tokens": 99}}}
    summary = tap_all([sse(("content_block_delta", fake_start), ("ping", fake_start))])
    assert summary == StreamSummary(event_count=2, ping_count=1)


@pytest.mark.parametrize("bad", ["{not json", "[1, 2]", "null", "\"text\"", "[" * 100_000])
@pytest.mark.parametrize("event", ["message_start", "content_block_start", "message_delta", "error"])
def test_malformed_json_records_nothing(event: str, bad: str) -> None:
    assert tap_all([sse((event, bad))]) == StreamSummary(event_count=1)


def test_error_event_fields() -> None:
    tap = StreamTap()
    tap.feed(sse(("error", {"type": "error", "error": {"type": "api_error", "message": "Internal error"}})))
    assert tap.error_type == "api_error"
    assert tap.summary().error_message == "Internal error"
    assert tap_all([sse(("error", {"type": "error"}))]).error_type == "error"


def test_unnamed_events_are_typed_by_their_data() -> None:
    stream = b"".join(
        f"data: {json.dumps(payload)}\n\n".encode()
        for payload in (
            {"type": "message_start", "message": {"id": "m1", "model": "claude-haiku-4-5"}},
            {"type": "ping"},
            {"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 9}},
            {"type": "message_stop"},
        )
    ) + b"data: not json\n\n"
    assert tap_all([stream]) == StreamSummary(
        message_id="m1", model="claude-haiku-4-5", output_tokens=9, stop_reason="max_tokens",
        event_count=5, ping_count=1, complete=True,
    )  # fmt: skip


# --- non-streaming bodies --------------------------------------------------------------------


def test_summarize_a_whole_message() -> None:
    body = json.dumps({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
        "content": [
            {"type": "thinking", "thinking": "…", "signature": "sig"},
            {"type": "text", "text": "héllo — 日本語 🚀"},
            {"type": "tool_use", "id": "toolu_1", "name": "Edit", "input": {"path": "a"}},
            {"type": "tool_use", "id": "toolu_2", "name": "Bash", "input": {}},
        ],
        "stop_reason": "tool_use", "stop_sequence": None,
        "usage": {"input_tokens": 100, "output_tokens": 20, "cache_creation_input_tokens": 300,
                  "cache_read_input_tokens": 4000, "cache_creation": {"ephemeral_1h_input_tokens": 200,
                                                                       "ephemeral_5m_input_tokens": 100}},
    }, ensure_ascii=False).encode()  # fmt: skip
    assert summarize_message(body) == StreamSummary(
        message_id="msg_1", model="claude-sonnet-4-5-20250929", input_tokens=100, output_tokens=20,
        cache_creation_tokens=300, cache_creation_1h_tokens=200, cache_read_tokens=4000,
        stop_reason="tool_use", tool_use_ids=("toolu_1", "toolu_2"), tool_use_names=("Edit", "Bash"),
        complete=True,
    )  # fmt: skip


def test_summarize_an_error_body() -> None:
    body = b'{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens..."}}'
    assert summarize_message(body) == StreamSummary(
        error_type="rate_limit_error", error_message="Number of request tokens..."
    )


@pytest.mark.parametrize(
    "body", [b"", b"not json", b"[]", b"\xff\xfe\x00", b"null", b"[" * 100_000, b'{"usage": 5, "content": 3}']
)
def test_summarize_bad_bodies_gives_an_empty_summary(body: bytes) -> None:
    assert summarize_message(body) == StreamSummary()
